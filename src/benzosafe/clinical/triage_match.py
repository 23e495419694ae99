"""Matching lay descriptions to triage effects, word by word.

A report is split into clauses (punctuation, "but", "otherwise"); each clause into words,
apostrophes dropped ("can't" is "cant") after the data's spelling folds. An effect matches a
clause when one of its synonyms (every word present, any order) or one of its lay patterns
(words, ``word*`` prefixes or ``@class`` slots of the lexicon) has all its slots within
``window_words`` of each other; negation slots must come first, and a match with no negation
slot of its own is dropped when a negation word stands just before it ("no rash"). A word
the data does not know is corrected to the nearest known word (one edit, two for long words;
one transposition for four letters) before matching, so "chest pian" is chest pain and
"siezure" a seizure; a correction is never made between a word and its own prefix ("sleep"
is not "sleepy"). Each clause can match several effects: a sentence with several symptoms
matches each. The data are compiled once per :class:`TriageData` object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import product

from benzosafe.knowledge.assessment import Effect, TriageData

English = Mapping[str, int]

# Spelling correction only for words this long (shorter words are too alike: "fit", "fat").
MIN_CORRECTED_CHARS = 4
# From this length a word may be two edits from a known word ("paralisis", "depresonalization").
TWO_EDITS_FROM_CHARS = 8
# Prefixes ("seizur*") used for correction must be this long, so that "size" is not a seizure.
MIN_FUZZY_PREFIX_CHARS = 5
# Words remembered per compiled data (a bound, so that hostile input cannot grow memory).
CACHE_WORDS = 20_000

# The lexicon class of negation words ("@neg").
NEGATION_CLASS = "neg"
_CLAUSE = re.compile(r"[.,;:!?()\[\]\n\"]+|\s-\s|\b(?:but|otherwise|although|though)\b")
_WORD = re.compile(r"[a-z0-9]+")
_APOS_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class _Slot:
    words: frozenset[str]
    prefixes: tuple[str, ...]
    negation: bool

    def matches(self, word: str) -> bool:
        return (
            word in self.words
            or (word.endswith("s") and word[:-1] in self.words)
            or (word.endswith("es") and word[:-2] in self.words)
            or any(word.startswith(p) for p in self.prefixes)
        )


@dataclass(frozen=True)
class _Pattern:
    text: str
    slots: tuple[_Slot, ...]
    ids: tuple[int, ...] = ()  # each slot's index in the compiled slot table


@dataclass(frozen=True)
class Hit:
    """One effect found in one phrase: how (exact, contains, spelling) and the words used."""

    effect: Effect
    how: str


@dataclass
class _Compiled:
    data: TriageData
    effects: list[tuple[Effect, list[_Pattern], frozenset[str]]]
    words: frozenset[str]
    prefixes: tuple[str, ...]
    negations: frozenset[str]
    folds: list[tuple[str, str]]
    slots: list[_Slot] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)
    memberships: dict[str, frozenset[int]] = field(default_factory=dict)

    def slots_of(self, word: str) -> frozenset[int]:
        """The slots a word fills (remembered: a report repeats few distinct words)."""
        found = self.memberships.get(word)
        if found is None:
            found = frozenset(i for i, slot in enumerate(self.slots) if slot.matches(word))
            if len(self.memberships) < CACHE_WORDS:
                self.memberships[word] = found
        return found


def _plain(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("'", "")


def _fold(text: str, folds: list[tuple[str, str]]) -> str:
    """Words of ``text``, lower case, spelling folds applied, then apostrophes dropped."""
    out = " " + " ".join(_APOS_WORD.findall(text.lower().replace("\u2019", "'"))) + " "
    for src, to in folds:
        out = out.replace(src, to)
    return out.replace("'", "").strip()


def _entry(entry: str) -> tuple[set[str], list[str]]:
    word = _plain(entry.strip())
    if word.endswith("*"):
        return set(), [word[:-1]]
    return {word}, []


def _slot(token: str, data: TriageData, negations: frozenset[str]) -> _Slot:
    if token.startswith("@"):
        words: set[str] = set()
        prefixes: list[str] = []
        for entry in data.lexicon[token[1:]]:
            w, p = _entry(entry)
            words |= w
            prefixes += p
        return _Slot(frozenset(words), tuple(prefixes), token[1:] == NEGATION_CLASS)
    w, p = _entry(token)
    return _Slot(frozenset(w), tuple(p), bool(w and w <= negations))


def _compile(data: TriageData) -> _Compiled:
    negations = frozenset(_plain(w) for w in data.lexicon.get(NEGATION_CLASS, []))
    stop = {_plain(w) for w in data.stop_words}
    folds = [(f" {s.from_.lower()} ", f" {s.to.lower()} ") for s in data.spelling]
    effects: list[tuple[Effect, list[_Pattern], frozenset[str]]] = []
    words: set[str] = set()
    prefixes: set[str] = set()
    for effect in data.effect:
        patterns = []
        exact: set[str] = set()
        for synonym in [effect.name, *effect.synonyms]:
            text = _fold(synonym, folds)
            exact.add(" ".join(_WORD.findall(text)))
            tokens = [t for t in _WORD.findall(text) if t not in stop] or _WORD.findall(text)
            patterns.append(_Pattern(synonym, tuple(_slot(t, data, negations) for t in tokens)))
        for pattern in effect.patterns:
            slots = tuple(_slot(t, data, negations) for t in pattern.split())
            patterns.append(_Pattern(pattern, slots))
        for p in patterns:
            for s in p.slots:
                words |= s.words
                prefixes |= set(s.prefixes)
        effects.append((effect, patterns, frozenset(exact)))
    table: dict[_Slot, int] = {}
    indexed = []
    for effect, patterns, names in effects:
        with_ids = [
            _Pattern(p.text, p.slots, tuple(table.setdefault(sl, len(table)) for sl in p.slots))
            for p in patterns
        ]
        indexed.append((effect, with_ids, names))
    return _Compiled(
        data,
        indexed,
        frozenset(words),
        tuple(sorted(prefixes)),
        negations,
        folds,
        slots=list(table),
    )


_COMPILED: dict[int, _Compiled] = {}


def compiled(data: TriageData) -> _Compiled:
    """The compiled matcher of ``data``, built once per data object."""
    found = _COMPILED.get(id(data))
    if found is None or found.data is not data:
        found = _COMPILED[id(data)] = _compile(data)
    return found


def _edits(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (edits with adjacent transpositions), or limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _known(c: _Compiled, word: str) -> bool:
    return (
        word in c.words
        or (word.endswith("s") and word[:-1] in c.words)
        or (word.endswith("es") and word[:-2] in c.words)
        or any(word.startswith(p) for p in c.prefixes)
    )


def _correct(c: _Compiled, word: str, english: English) -> str:
    """The known word (or prefix) ``word`` is a misspelling of, or ``word`` itself. An English
    word (one the word list counts at least ``english_min_count`` times) is left alone."""
    if len(word) < MIN_CORRECTED_CHARS or not word.isalpha() or _known(c, word):
        return word
    if english.get(word, 0) >= c.data.english_min_count:
        return word
    cached = c.corrections.get(word)
    if cached is not None:
        return cached
    limit = 2 if len(word) >= TWO_EDITS_FROM_CHARS else 1
    best, best_cost = word, limit + 1
    for known in c.words:
        if known[:1] != word[:1] or known.startswith(word) or word.startswith(known):
            continue
        if len(word) == MIN_CORRECTED_CHARS and sorted(known) != sorted(word):
            continue  # four letters: a swap only ("pian"), never a new letter ("pain"/"rain")
        cost = _edits(word, known, limit)
        if cost < best_cost or (cost == best_cost and best != word and known < best):
            best, best_cost = known, cost
    for prefix in c.prefixes:
        if len(prefix) < MIN_FUZZY_PREFIX_CHARS or prefix[:1] != word[:1]:
            continue
        for size in (len(prefix) - 1, len(prefix), len(prefix) + 1):
            cost = _edits(word[:size], prefix, 1)
            if cost <= 1 and cost < best_cost:
                best, best_cost = prefix, cost
    if len(c.corrections) < CACHE_WORDS:
        c.corrections[word] = best
    return best


def clauses(text: str, c: _Compiled) -> Iterable[list[str]]:
    """The clauses of a report, each as its words (folded, apostrophes dropped)."""
    for part in _CLAUSE.split(text.lower().replace("\u2019", "'")):
        words = _WORD.findall(_fold(part, c.folds))
        if words:
            yield words


def _pattern_at(
    pattern: _Pattern, filled: list[frozenset[int]], words: list[str], c: _Compiled, negatable: bool
) -> bool:
    positions = []
    for sid in pattern.ids:
        found = [i for i, ids in enumerate(filled) if sid in ids]
        if not found:
            return False
        positions.append(found)
    slots = pattern.slots
    window = c.data.window_words
    for combo in product(*positions):
        if len(set(combo)) != len(combo) or max(combo) - min(combo) >= window:
            continue
        # a negation slot comes before the slot written after it ("cant wake", "arent there")
        if any(
            slots[k].negation and k + 1 < len(slots) and combo[k] > combo[k + 1]
            for k in range(len(slots))
        ):
            continue
        if not any(sl.negation for sl in slots) and negatable and _negated(words, min(combo), c):
            continue
        return True
    return False


def _negated(words: list[str], start: int, c: _Compiled) -> bool:
    """A negation just before ``start``, not cut off by "and"/"or" ("no sleep and suicidal")."""
    before = words[max(0, start - c.data.negation_words) : start]
    for word in reversed(before):
        if word in ("and", "or"):
            return False
        if word in c.negations:
            return True
    return False


def match(phrase: str, data: TriageData, english: English) -> list[Hit]:
    """Every effect the phrase describes, exact matches first, then in data order.
    ``english`` counts English words (:func:`benzosafe.knowledge.english_word_counts`)."""
    c = compiled(data)
    whole = " ".join(_WORD.findall(_fold(phrase, c.folds)))
    raw = list(clauses(phrase, c))
    fixed = [[_correct(c, w, english) for w in words] for words in raw]
    views = []  # (words, the slots each word fills, the slots filled anywhere, how)
    for words, corrected in zip(raw, fixed, strict=True):
        for ws, how in ((words, "contains"), (corrected, "spelling")):
            if how == "spelling" and ws == words:
                continue
            filled = [c.slots_of(w) for w in ws]
            views.append((ws, filled, frozenset().union(*filled), how))
    hits: list[Hit] = []
    for effect, patterns, exact in c.effects:
        if whole in exact:
            hits.append(Hit(effect, "exact"))
            continue
        # the crisis advice is never talked away by a negation ("not suicidal, but ...")
        negatable = not effect.crisis
        found = ""
        for ws, filled, present, how in views:
            if found == "contains":
                break
            if how == "spelling" and found:
                continue
            if any(
                present.issuperset(p.ids) and _pattern_at(p, filled, ws, c, negatable)
                for p in patterns
            ):
                found = how
        if found:
            hits.append(Hit(effect, found))
    return sorted(hits, key=lambda h: h.how != "exact")
