"""English word frequencies, so that triage corrects misspellings and leaves real words alone.

:func:`english_word_counts` reads the English frequency list that the ``pyspellchecker``
package ships (built from subtitles and other open text) once, at first use: a word the list
counts often enough is English ("breaking", "could", "table") and is never "corrected" into
a symptom word ("breathing", "cold", "tablet"); a word it does not know ("pian", "siezure")
may be. Loaded lazily because most commands never need it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files

from benzosafe.errors import KnowledgeError


@cache
def english_word_counts() -> Mapping[str, int]:
    """Word -> count in the packaged English frequency list (lower case)."""
    try:
        raw = files("spellchecker").joinpath("resources/en.json.gz").read_bytes()
        counts = json.loads(gzip.decompress(raw))
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError) as exc:
        raise KnowledgeError(
            f"the English word list (pyspellchecker) cannot be read: {exc}"
        ) from exc
    if not isinstance(counts, dict):
        raise KnowledgeError("the English word list (pyspellchecker) is not a word table")
    return {str(k).lower(): int(v) for k, v in counts.items()}
