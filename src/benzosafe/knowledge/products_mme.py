"""CDC 2022 MME conversion factors for the product index: read per ingredient, set per product.

The factors come from the CDC clinical conversion factors codesystem (cqframework
opioid-mme-r4) and must agree with ``knowledge/data/depressants.toml``, the project's cited
copy; a disagreement stops the build. A product gets its opioid's factor when the factor
applies to it: not for an injectable form, not for an RxNorm component without a dose form,
not when its strength is in another unit than the factor's (fentanyl's factor is per mcg/h
of a patch), and buprenorphine has none; the reason is recorded instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.products import Ingredient, MmeBasis, Product, SourceFile
from benzosafe.knowledge.products_read import decimal_text

OPIOIDS = "opioids"
INJECTABLE_NOTE = (
    "injectable form: the CDC factors are for oral and transdermal use (CDC NDC file, "
    "Documentation, Exclusions 3)"
)
_COMPATIBLE: dict[str, frozenset[str]] = {
    "mg": frozenset(("mg", "mg/mL")),
    "mcg/h": frozenset(("mcg/h",)),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Factor:
    value: Decimal
    basis: MmeBasis


def read_factors(
    path: Path, name: str, ingredient: Callable[[str], str], kb: KnowledgeBase
) -> tuple[dict[str, Factor], dict[str, str], SourceFile]:
    """The factor of each ingredient, its RxNorm code, and the file's provenance."""
    data = json.loads(path.read_text(encoding="utf-8"))
    factors: dict[str, Factor] = {}
    codes: dict[str, str] = {}
    notes: list[str] = []
    for concept in data["concept"]:
        ing = ingredient(concept["display"])
        codes[ing] = concept["code"]
        props: dict[str, Any] = {p["code"]: p for p in concept.get("property", [])}
        if "dose-form-conversion-factor" in props:
            text = props["dose-form-conversion-factor"]["valueString"]
            factors[ing] = _transdermal_factor(text, ing)
            notes.append(f"{ing}: {text} read as {factors[ing].value} per mcg/h of a patch")
            if "conversion-factor" in props:
                notes.append(
                    f"{ing}: the factor {props['conversion-factor']['valueDecimal']} beside it "
                    "is not used: its basis is not stated, and CDC 2022 gives a factor for "
                    "transdermal fentanyl only"
                )
        elif "conversion-factor" in props:
            value = decimal_text(Decimal(str(props["conversion-factor"]["valueDecimal"])))
            factors[ing] = Factor(value, "mg")
    for cls in kb.depressant_classes.values():
        for known in cls.ingredients:
            ours = factors[known.id].value if known.id in factors else None
            theirs = decimal_text(known.mme_factor) if known.mme_factor is not None else None
            if ours != theirs:
                raise KnowledgeError(
                    f"MME factor of {known.id}: {name} gives {ours}, depressants.toml {theirs}"
                )
    notes.append("every factor agrees with knowledge/data/depressants.toml")
    return (
        factors,
        codes,
        SourceFile(
            file=name,
            sha256=sha256(path),
            title=f"{data['title']} ({data['name']})",
            version=data.get("version", ""),
            read=len(data["concept"]),
            kept=len(factors),
            notes=tuple(notes),
        ),
    )


def _transdermal_factor(text: str, ingredient: str) -> Factor:
    """``<RxNorm dose form>:<factor per mg/h>@<doses per day>`` as a factor per mcg/h.

    The doses per day are written with at most 8 decimals (the codesystem's property
    description), so 0.33333333 is one patch every three days.
    """
    _form, _, rest = text.partition(":")
    value, _, per_day = rest.partition("@")
    days = Decimal(1) / Decimal(per_day) if per_day else Decimal(1)
    whole_days = days.to_integral_value()
    if abs(days - whole_days) > Decimal("0.000001"):
        raise KnowledgeError(f"{ingredient}: doses per day {per_day} is not one per whole day")
    return Factor(decimal_text(Decimal(value) / whole_days / 1000), "mcg/h")


def with_mme_and_classes(product: Product, ingredients: dict[str, Ingredient]) -> Product:
    """The product with its classes, opioid-use-disorder flag and CDC 2022 MME factor."""
    ings = [ingredients[i.id] for i in product.ingredients]
    update: dict[str, Any] = {
        "classes": tuple(sorted({c for i in ings for c in i.classes})),
        "opioid_use_disorder_treatment": any(i.opioid_use_disorder_treatment for i in ings),
    }
    opioids = sorted({i.id for i in ings if OPIOIDS in i.classes})
    if len(opioids) > 1:
        update["mme_note"] = f"two opioids ({', '.join(opioids)}): no single MME factor"
    elif opioids:
        update |= _mme(product, ingredients[opioids[0]])
    return replace(product, **update)


def _mme(product: Product, opioid: Ingredient) -> dict[str, Any]:
    units = {i.unit for i in product.ingredients if i.id == opioid.id}
    out: dict[str, Any] = {"mme_ingredient": opioid.id}
    if opioid.mme_factor is None or opioid.mme_basis is None:
        out["mme_note"] = opioid.mme_note
    elif product.form_group == "injection":
        out["mme_note"] = INJECTABLE_NOTE
    elif not product.form:
        out["mme_note"] = "an RxNorm component without a dose form: no MME per unit"
    elif None in units or not units <= _COMPATIBLE[opioid.mme_basis]:
        given = "not given" if None in units else ", ".join(sorted(u for u in units if u))
        out["mme_note"] = (
            f"the CDC 2022 factor for {opioid.id} is per {opioid.mme_basis}; "
            f"this product's strength is {given}"
        )
    else:
        out["mme_factor"] = opioid.mme_factor
        out["mme_basis"] = opioid.mme_basis
    return out
