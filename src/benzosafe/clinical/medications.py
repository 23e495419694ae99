"""Medications as the check sees them, each through the one resolver.

The ordered drug (:func:`ordered_drug`, :func:`find_benzodiazepine`) and every current
medication (:func:`parse_co_medication`, :func:`co_medication`) are resolved by
:mod:`benzosafe.clinical.resolve` over the knowledge's product index (``kb.products``):
brands, generics, combinations ("oxycodone/acetaminophen 5/325 mg q6h"), NDCs, RxNorm codes.
A :class:`CoMedication` keeps its resolution (one drug, several candidates, or unidentified
with the reason), its classes (of every ingredient: a combination counts them all) and its
morphine milligram equivalents. A name of the class table ("clonazepam", "Klonopin") is the
same benzodiazepine the resolver would find (the index is built from those names, and a test
holds the two together); it is looked up directly, so that a check of a named drug with no
co-medications does not read the index on a cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from benzosafe.knowledge.products_spelling import name_key

# The resolver and its product model are imported where a medication is resolved, not here:
# a check of a class-table drug with no co-medications never needs them, and importing them
# is a twentieth of the command line's cold start.
if TYPE_CHECKING:
    from benzosafe.clinical.mme import MmeEstimate
    from benzosafe.clinical.resolve import Resolution
    from benzosafe.clinical.written_dose import Dose
    from benzosafe.knowledge.models import BenzodiazepineEntry, KnowledgeBase

BENZODIAZEPINE = "benzodiazepines"
OPIOID = "opioids"  # the class id of opioids in depressants.toml and the product index


@dataclass(frozen=True, slots=True)
class Classified:
    """One ingredient of a medication with a class the rules know: (class id, ingredient)."""

    class_id: str
    ingredient_id: str


@dataclass(frozen=True, slots=True)
class CoMedication:
    """A current medication as written (or read from an order), resolved.

    ``classes`` are the classes of its ingredients (of the ingredients it did name when it
    is not identified, of those every candidate shares when it is ambiguous); ``mme`` its
    MME per day, or None with the reason (not an opioid, no factor, no frequency ...)."""

    text: str
    resolution: Resolution
    classes: tuple[str, ...]
    ingredients: tuple[Classified, ...]
    mme: MmeEstimate
    # What it is, for a report: "oxycodone/acetaminophen" (the ingredients of a class first,
    # as prescribers write them), or the text as written.
    name: str

    @property
    def identified(self) -> bool:
        """Whether the resolver found one drug (else it is a finding of its own)."""
        from benzosafe.clinical.resolve import Resolved

        return isinstance(self.resolution, Resolved)

    @property
    def opioid_use_disorder_treatment(self) -> bool:
        from benzosafe.clinical.resolve import Resolved

        return isinstance(self.resolution, Resolved) and (
            self.resolution.opioid_use_disorder_treatment
        )

    def candidates(self) -> tuple[str, ...]:
        """The drugs an ambiguous name may be ("propoxyphene/acetaminophen", ...)."""
        from benzosafe.clinical.resolve import Ambiguous

        if not isinstance(self.resolution, Ambiguous):
            return ()
        return tuple("/".join(c.ingredients) for c in self.resolution.candidates)


@cache
def _class_ids(kb: KnowledgeBase) -> frozenset[str]:
    return frozenset({BENZODIAZEPINE, *kb.depressant_classes})


def classify_ingredients(kb: KnowledgeBase, ids: tuple[str, ...]) -> tuple[Classified, ...]:
    """Every ingredient (of the product index) among ``ids`` that is of a class the rules
    know, with that class."""
    known = _class_ids(kb)
    ingredients = kb.products.ingredients
    return tuple(
        Classified(cls, i)
        for i in ids
        if i in ingredients
        for cls in ingredients[i].classes
        if cls in known
    )


def classified(kb: KnowledgeBase, resolution: Resolution) -> tuple[Classified, ...]:
    """Every ingredient of a resolution that is of a class the rules know (of the ingredients
    it did name when unidentified, of those every candidate shares when ambiguous)."""
    from benzosafe.clinical.resolve import Resolved, Unresolved

    if isinstance(resolution, Resolved):
        ids: tuple[str, ...] = resolution.ingredients
    elif isinstance(resolution, Unresolved):
        ids = resolution.recognised
    else:
        shared = set.intersection(*(set(c.ingredients) for c in resolution.candidates))
        ids = tuple(sorted(shared))
    return classify_ingredients(kb, ids)


ORDER_CLASSES_BY_PRIORITY = (BENZODIAZEPINE, OPIOID)


def primary(ingredients: tuple[Classified, ...]) -> Classified | None:
    """The ingredient that decides what a medication is: a benzodiazepine, then an opioid,
    then the first of a class (chlordiazepoxide in chlordiazepoxide/amitriptyline)."""
    for cls in ORDER_CLASSES_BY_PRIORITY:
        for ing in ingredients:
            if ing.class_id == cls:
                return ing
    return ingredients[0] if ingredients else None


def co_medication(
    kb: KnowledgeBase, text: str, resolution: Resolution, mme: MmeEstimate | None = None
) -> CoMedication:
    """A current medication from its resolution; ``mme`` when the dose came from elsewhere
    (a structured order), else from the dose written after the name."""
    from benzosafe.clinical.resolve import Ambiguous, Resolved

    found = classified(kb, resolution)
    classes = tuple(dict.fromkeys(c.class_id for c in found))
    if isinstance(resolution, Ambiguous):
        classes = tuple(c for c in classes if c in resolution.classes)
    name = text
    if isinstance(resolution, Resolved) and resolution.ingredients:
        first = {c.ingredient_id for c in found}
        name = "/".join(sorted(resolution.ingredients, key=lambda i: i not in first))
    return CoMedication(text, resolution, classes, found, mme or estimate_mme(resolution), name)


def estimate_mme(resolution: Resolution, dose: Dose | None = None) -> MmeEstimate:
    """The MME per day of a resolution and a dose (default: the one written after the name),
    or why there is none (also for a name that fits several drugs or none)."""
    from benzosafe.clinical.mme import MmeEstimate, mme_per_day
    from benzosafe.clinical.resolve import Ambiguous, Resolved

    if isinstance(resolution, Resolved):
        return mme_per_day(resolution, dose)
    if isinstance(resolution, Ambiguous):
        return MmeEstimate(None, "the name fits several drugs: " + ", ".join(
            "/".join(c.ingredients) for c in resolution.candidates))  # fmt: skip
    return MmeEstimate(None, resolution.reason)


def parse_co_medication(kb: KnowledgeBase, text: str, field: str) -> CoMedication:
    """Resolve one current medication as written ("Norco 10/325 q6h", "zolpidem", an NDC).

    A name that is not found is a result (a finding of the check), never an error; a
    malformed NDC or an empty text is an :class:`~benzosafe.errors.InvalidInput` naming
    ``field``. Remembered: the same few hundred medications come back in every check."""
    return _co_medication(kb, text, field)


@lru_cache(maxsize=1 << 14)
def _co_medication(kb: KnowledgeBase, text: str, field: str) -> CoMedication:
    from benzosafe.clinical.resolve import resolve

    return co_medication(kb, text, resolve(kb.products, text, field))


@dataclass(frozen=True, slots=True)
class OrderedDrug:
    """The benzodiazepine an order names, or None with what the name is instead."""

    entry: BenzodiazepineEntry | None
    resolution: Resolution | None  # None when found by its class-table name
    text: str

    def why_not(self) -> str:
        """Why the name is not a benzodiazepine of the class table (empty when it is)."""
        from benzosafe.clinical.resolve import Ambiguous, Resolved, Unresolved

        res = self.resolution
        if self.entry is not None:
            return ""
        if isinstance(res, Unresolved):
            return res.reason
        if isinstance(res, Ambiguous):
            names = "; ".join("/".join(c.ingredients) for c in res.candidates)
            return f"it fits several drugs: {names}"
        if isinstance(res, Resolved):
            return f"it is {'/'.join(res.ingredients) or 'not a drug of the index'}"
        return ""


@cache
def _class_table_names(kb: KnowledgeBase) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in kb.benzodiazepines.values():
        for name in (entry.id, *entry.names, *entry.brands):
            out[name_key(name)] = entry.id
        if entry.rxnorm_ingredient:
            out[entry.rxnorm_ingredient] = entry.id
    return out


@lru_cache(maxsize=1 << 12)
def _class_table_name(kb: KnowledgeBase, text: str) -> str | None:
    return _class_table_names(kb).get(name_key(" ".join(text.split())))


def _benzodiazepine_of(kb: KnowledgeBase, ingredients: tuple[str, ...]) -> str | None:
    found = [i for i in ingredients if i in kb.benzodiazepines]
    return found[0] if len(found) == 1 else None


def ordered_drug(kb: KnowledgeBase, text: str, field: str = "drug") -> OrderedDrug:
    """The class-table benzodiazepine of an ordered drug's name, brand, NDC or RxNorm code
    ("clonazepam", "Klonopin 0.5 mg", "00004-0068-01"): by its class-table name when it is
    one, else through the resolver. A malformed NDC is an InvalidInput naming ``field``."""
    direct = _class_table_name(kb, text)
    if direct is not None:
        return OrderedDrug(kb.benzodiazepines[direct], None, text)
    from benzosafe.clinical.resolve import Ambiguous, Resolved, resolve

    resolution = resolve(kb.products, text, field)
    found: str | None = None
    if isinstance(resolution, Resolved):
        found = _benzodiazepine_of(kb, resolution.ingredients)
    elif isinstance(resolution, Ambiguous):
        each = {_benzodiazepine_of(kb, c.ingredients) for c in resolution.candidates}
        found = each.pop() if len(each) == 1 else None  # the same benzodiazepine in each
    return OrderedDrug(kb.benzodiazepines[found] if found else None, resolution, text)


def find_benzodiazepine(
    kb: KnowledgeBase, name_or_code: str, field: str = "drug"
) -> BenzodiazepineEntry | None:
    """The class-table entry of a generic or brand name, a product name, an NDC or an
    RxNorm code, or None (see :func:`ordered_drug`)."""
    return ordered_drug(kb, name_or_code, field).entry


def shared_strength(
    resolution: Resolution, ingredient: str, units: tuple[str, ...]
) -> Decimal | None:
    """The one strength of ``ingredient`` (in one of ``units``) that every product the
    resolution fits has; None when they differ, none is known, or it is not one drug."""
    from benzosafe.clinical.resolve import Resolved

    if not isinstance(resolution, Resolved) or not resolution.products:
        return None
    found = {p.strength_of(ingredient) for p in resolution.products}
    if len(found) != 1:
        return None
    only = found.pop()
    return only[0] if only is not None and only[1] in units else None


def liquid_dose_mg(
    kb: KnowledgeBase, drug: str, millilitres: Decimal, field: str
) -> tuple[Decimal | None, str]:
    """The mg of a dose in mL of the ordered drug, from the one concentration of the liquid
    products its name fits ("diazepam 5 mg/5 mL oral solution"); else None and the reason,
    so that the dose rules are reported as not evaluated."""
    from benzosafe.clinical.resolve import Resolved, resolve

    ordered = ordered_drug(kb, drug, field)
    if ordered.entry is None:
        return None, f"a dose in mL needs a known drug and concentration; {ordered.why_not()}"
    resolution = ordered.resolution or resolve(kb.products, drug, field)
    products = resolution.products if isinstance(resolution, Resolved) else ()
    found = {p.strength_of(ordered.entry.id) for p in products if p.form_group == "liquid"}
    per_ml = {f[0] for f in found if f is not None and f[1] == "mg/mL"}
    if len(per_ml) == 1:
        return millilitres * per_ml.pop(), ""
    if len(per_ml) > 1:
        listed = ", ".join(f"{format(c.normalize(), 'f')} mg/mL" for c in sorted(per_ml))
        return None, f"the liquids of {drug!r} differ in concentration ({listed}): name one"
    return None, (
        f"a dose in mL needs the liquid's concentration, and no liquid of {drug!r} with one is "
        "known (write it, e.g. 'diazepam 5 mg/5 mL oral solution')"
    )


def total_mme(meds: tuple[CoMedication, ...] | list[CoMedication]) -> Decimal | None:
    """The MME per day of the medications whose MME is known (None when none is)."""
    known = [m.mme.mme_per_day for m in meds if m.mme.mme_per_day is not None]
    return sum(known, Decimal(0)) if known else None
