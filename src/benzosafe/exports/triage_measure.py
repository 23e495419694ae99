"""Triage measured on lay phrasings: recall and precision per level, written to the docs.

:func:`measure` triages each phrase of a list (text and expected level) with the knowledge
passed in and counts, per level, what was expected against what the triage said;
:func:`held_out` is the deterministic split (a third of the phrases, chosen by a hash of their
text) kept aside to show that the matcher generalises beyond what it was tuned on;
:func:`triage_measure_markdown` renders the page ``docs/triage-measure.md``. Run
``python -m benzosafe.exports.triage_measure tests/clinical/data/lay_phrases.toml --out
docs/triage-measure.md`` (``make docs``); a test keeps the page current.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benzosafe.clinical.triage import triage
from benzosafe.knowledge import Knowledge, load
from benzosafe.knowledge.assessment import TRIAGE_LEVELS

# One phrase in three is held out (by the first byte of the SHA-256 of its text).
HELD_OUT_EVERY = 3


@dataclass(frozen=True)
class Phrase:
    text: str
    level: str
    source: str = ""


@dataclass(frozen=True)
class Outcome:
    phrase: Phrase
    said: str
    matched: tuple[str, ...]


@dataclass(frozen=True)
class Measure:
    """Counts of (expected, said) levels over a set of phrases."""

    outcomes: tuple[Outcome, ...]

    def count(self, expected: str | None = None, said: str | None = None) -> int:
        return sum(
            1
            for o in self.outcomes
            if (expected is None or o.phrase.level == expected) and (said is None or o.said == said)
        )

    def recall(self, level: str) -> float | None:
        total = self.count(expected=level)
        return self.count(expected=level, said=level) / total if total else None

    def precision(self, level: str) -> float | None:
        total = self.count(said=level)
        return self.count(expected=level, said=level) / total if total else None

    @property
    def overall_precision(self) -> float:
        """Share of phrases given exactly the expected level (micro-averaged precision)."""
        right = sum(1 for o in self.outcomes if o.said == o.phrase.level)
        return right / len(self.outcomes) if self.outcomes else 0.0

    @property
    def missed_emergencies(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.phrase.level == "emergency" != o.said]

    @property
    def under_triaged(self) -> int:
        rank = TRIAGE_LEVELS.index
        return sum(1 for o in self.outcomes if rank(o.said) < rank(o.phrase.level))

    @property
    def over_triaged(self) -> int:
        rank = TRIAGE_LEVELS.index
        return sum(1 for o in self.outcomes if rank(o.said) > rank(o.phrase.level))


def held_out(text: str) -> bool:
    """Whether a phrase belongs to the held-out part (deterministic, by its text)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % HELD_OUT_EVERY == 0


def read_phrases(path: Path) -> list[Phrase]:
    """The phrases of a lay-phrase list (``[[phrase]]`` tables: text, level, source)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Phrase(p["text"], p["level"], p.get("source", "")) for p in data["phrase"]]


def measure(phrases: Sequence[Phrase], kb: Knowledge) -> Measure:
    """Triage each phrase on its own and keep what was said."""
    outcomes = []
    for phrase in phrases:
        result = triage([phrase.text], kb)
        outcomes.append(Outcome(phrase, result.level, tuple(m.id for m in result.matched)))
    return Measure(tuple(outcomes))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _table(m: Measure) -> list[str]:
    out = [
        "| expected \\ said | " + " | ".join(TRIAGE_LEVELS) + " | phrases | recall |",
        "|---|" + "---:|" * (len(TRIAGE_LEVELS) + 2),
    ]
    for level in TRIAGE_LEVELS:
        cells = [str(m.count(expected=level, said=s)) for s in TRIAGE_LEVELS]
        out.append(
            f"| {level} | " + " | ".join(cells) + f" | {m.count(expected=level)} | "
            f"{_pct(m.recall(level))} |"
        )
    out.append(
        "| **precision** | " + " | ".join(_pct(m.precision(s)) for s in TRIAGE_LEVELS) + " | | |"
    )
    out += [
        "",
        f"- phrases: {len(m.outcomes)}; emergency recall: {_pct(m.recall('emergency'))} "
        f"({len(m.missed_emergencies)} missed)",
        f"- overall precision (phrases given exactly the expected level): "
        f"{_pct(m.overall_precision)}",
        f"- over-triaged (a level above the expected one): {m.over_triaged}; "
        f"under-triaged: {m.under_triaged}",
    ]
    return out


def triage_measure_markdown(phrases: Sequence[Phrase], kb: Knowledge, corpus: str) -> str:
    """The page: the whole list, the held-out part, and what was under-triaged."""
    everything = measure(phrases, kb)
    kept = measure([p for p in phrases if held_out(p.text)], kb)
    tuned = measure([p for p in phrases if not held_out(p.text)], kb)
    out = [
        "# Side-effect triage measured on lay phrasings",
        "",
        "Generated by `python -m benzosafe.exports.triage_measure` (`make docs`) from "
        f"`{corpus}`: lay phrasings of side effects, overdose signs and withdrawal symptoms "
        "collected from consumer health pages, each with its source and the level it should "
        "get (see the list's `[meta]` method). Each phrase is triaged on its own. A test "
        "requires every emergency phrase to be triaged as an emergency and keeps this page "
        "current.",
        "",
        "Precision of a level: of the phrases the triage put at that level, the share expected "
        "there. Recall of a level: of the phrases expected at that level, the share the triage "
        "put there. The expected levels are the list's own (they need clinical review, as the "
        "triage levels do).",
        "",
        f"Knowledge version: {kb.version}.",
        "",
        "## All phrases",
        "",
        *_table(everything),
        "",
        "## Held-out part",
        "",
        f"One phrase in {HELD_OUT_EVERY}, chosen by the SHA-256 of its text, was kept aside "
        "while the lay vocabulary was written and tuned on the rest; figures for the two "
        "parts:",
        "",
        "### Held out",
        "",
        *_table(kept),
        "",
        "### Tuned on",
        "",
        *_table(tuned),
        "",
        "## Under-triaged phrases",
        "",
        "Phrases given a lower level than expected (never an emergency, which the test forbids):",
        "",
    ]
    rank = TRIAGE_LEVELS.index
    under = [o for o in everything.outcomes if rank(o.said) < rank(o.phrase.level)]
    out += [
        f"- \u201c{o.phrase.text}\u201d: expected {o.phrase.level}, said {o.said}"
        + (f" ({', '.join(o.matched)})" if o.matched else " (not recognised)")
        for o in under
    ] or ["- none"]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str]) -> int:
    """``python -m benzosafe.exports.triage_measure PHRASES.toml [--out PAGE.md]``."""
    args = list(argv)
    out: Path | None = None
    if "--out" in args:
        i = args.index("--out")
        out = Path(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        sys.stderr.write(
            "usage: python -m benzosafe.exports.triage_measure PHRASES.toml [--out PAGE.md]\n"
        )
        return 2
    corpus = Path(args[0])
    text = triage_measure_markdown(read_phrases(corpus), load(), corpus.as_posix())
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
