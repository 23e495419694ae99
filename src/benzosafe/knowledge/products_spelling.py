"""How names and codes of products are spelled, read the same way by the builder and resolver.

Ingredient names without their salt words and with abbreviations spelled out
("Oxycodone HCl" and "oxycodone hydrochloride" are oxycodone; "APAP" is acetaminophen), the
parts of a combination name ("hydrocodone-APAP"), the look-up key of a product name
("TYLENOL W/CODEINE #3" and "Tylenol with Codeine No. 3" are one key), and NDCs in their
10- and 11-digit spellings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from benzosafe.errors import InvalidInput

_WORD = re.compile(r"\(buffered\)|[a-z0-9][a-z0-9.'-]*")
_SEPARATORS = re.compile(r"\s*(?:/|\+|;|,|&|\bwith\b|\band\b|-)\s*")
_NUMBER_SIGN = re.compile(r"(?:\bno\.?\s*|#\s*)(\d)")
_WITH = re.compile(r"\bw/\s*")


class Spelling:
    """How an ingredient's name is read: abbreviations spelled out, salt words dropped."""

    def __init__(self, abbreviations: Mapping[str, str], descriptors: Iterable[str]) -> None:
        self.abbreviations = dict(abbreviations)
        # The longest descriptors first: "resin complex" before "resin".
        ordered = sorted(descriptors, key=lambda d: (-len(d), d))
        alternatives = "|".join(re.escape(d) for d in ordered)
        self._descriptors = re.compile(rf"(?<!\S)(?:{alternatives})(?!\S)") if ordered else None

    def ingredient_key(self, name: str) -> str:
        words = _WORD.findall(name.lower())
        text = " ".join(self.abbreviations.get(w, w) for w in words)
        if self._descriptors is not None:
            text = self._descriptors.sub(" ", text)
        return " ".join(text.split())


def split_ingredients(text: str) -> list[str]:
    """The parts of a combination name: "oxycodone/acetaminophen", "hydrocodone-APAP"."""
    return [p for p in (s.strip() for s in _SEPARATORS.split(text)) if p]


def number_signs(text: str) -> str:
    """ "No. 3" and "no 3" as "#3", the way product names write a strength number."""
    return _NUMBER_SIGN.sub(r"#\1", text) if "#" in text or "no" in text else text


def name_key(text: str) -> str:
    """How a product name is looked up: lower case, "w/" as "with", "No. 3" as "#3"."""
    key = text.lower().replace("&", " and ").replace("-", " ")
    if not key.isascii():
        key = key.replace("®", "").replace("™", "")
    if "w/" in key:
        key = _WITH.sub("with ", key)
    return " ".join(number_signs(key).split())


# An NDC is labeler-product-package. 11 digits are 5-4-2; a 10-digit NDC is 4-4-2, 5-3-2 or
# 5-4-1, and its 11-digit form pads the short segment with a leading zero.
_PADDING = {(5, 4, 2): (0, 0, 0), (4, 4, 2): (1, 0, 0), (5, 3, 2): (0, 1, 0), (5, 4, 1): (0, 0, 1)}
_NDC_SHAPES = "10 or 11 digits, or hyphenated 4-4-2, 5-3-2, 5-4-1 or 5-4-2"


def ndc11(text: str, field: str) -> tuple[str, ...]:
    """The 11-digit NDCs a spelling can mean: one when hyphenated or of 11 digits, three for
    10 bare digits (the segment that lost its zero is unknown). A malformed NDC (letters, a
    wrong digit count, wrong segments) is an :class:`InvalidInput` naming ``field``."""
    raw = text.strip()
    parts = raw.split("-")
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise InvalidInput(field, f"NDC {text!r} must be digits (and hyphens): {_NDC_SHAPES}")
    if len(parts) == 3:
        pad = _PADDING.get((len(parts[0]), len(parts[1]), len(parts[2])))
        if pad is None:
            shape = "-".join(str(len(p)) for p in parts)
            raise InvalidInput(field, f"NDC {text!r} has segments {shape}; an NDC is {_NDC_SHAPES}")
        return ("".join("0" * z + p for z, p in zip(pad, parts, strict=True)),)
    if len(parts) != 1:
        raise InvalidInput(
            field, f"NDC {text!r} has {len(parts)} segments; an NDC is {_NDC_SHAPES}"
        )
    if len(raw) == 11:
        return (raw,)
    if len(raw) == 10:
        return ("0" + raw, raw[:5] + "0" + raw[5:], raw[:9] + "0" + raw[9:])
    raise InvalidInput(field, f"NDC {text!r} has {len(raw)} digits; an NDC is {_NDC_SHAPES}")


def ndc_spellings(ndc: str) -> tuple[str, ...]:
    """Every way an 11-digit NDC is written: 11 digits, 5-4-2, and each 10-digit form that
    drops the leading zero of one segment, with and without hyphens."""
    segments = (ndc[:5], ndc[5:9], ndc[9:])
    out = [ndc, "-".join(segments)]
    for i, segment in enumerate(segments):
        if segment.startswith("0"):
            parts = [*segments[:i], segment[1:], *segments[i + 1 :]]
            out += ["-".join(parts), "".join(parts)]
    return tuple(dict.fromkeys(out))
