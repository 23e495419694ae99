"""Screening a dispensing-record table: one run, any engine, the same SQL.

:func:`screen` registers the input and the look-up tables on an engine, types and checks
every row (malformed rows are counted by reason and left out, never silently), keeps the
fills of the measurement period, summarises each patient once for all measures, runs each
measure of ``screening.toml`` and leaves the per-patient flags in the engine's ``flags``
table. When the engine says the fills are too many for one pass (:meth:`Engine.parts`), the
patients are screened in disjoint ranges of their ids, one after the other, and the counts
added.
It returns a :class:`ScreenResult` with the counts and per-measure rates;
:func:`write_flags` writes the flags to Parquet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.bundle import ProtocolInfo, protocol_fields, protocol_of
from benzosafe.knowledge.screening import Measure
from benzosafe.population import sql
from benzosafe.population.drugs import DrugKey, ProductCode, drug_keys, ingredient_codes
from benzosafe.population.engines import Engine, FileFormat
from benzosafe.population.location import Location

EPOCH = date(1970, 1, 1)
REQUIRED = (
    "fill_id",
    "patient_id",
    "fill_date",
    "drug",
    "quantity",
    "days_supply",
    "prescriber_id",
    "pharmacy_id",
)
OPTIONAL = ("strength_mg", "birth_date", "age")
COLUMNS = REQUIRED + OPTIONAL
FLAG_COLUMNS = (
    "patient_id",
    "rule",
    "rule_version",
    "code",
    "severity",
    "status",
    "value",
    "evidence",
    "summary",
    "sources",
)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ScreenOptions:
    """What to screen: the period (default: the span of the data) and parameter overrides."""

    period_start: date | None = None
    period_end: date | None = None
    measures: tuple[str, ...] = ()  # rule ids; empty = all
    min_prescribers: int | None = None
    min_pharmacies: int | None = None
    window_days: int | None = None
    products: tuple[ProductCode, ...] = ()
    exclusions: tuple[tuple[str, str], ...] = ()  # (patient_id, reason)


@dataclass(frozen=True)
class MeasureRate:
    rule: str
    label: str
    numerator: int
    denominator: int
    not_evaluated: int = 0  # patients left out of the denominator: data missing to judge
    # the same patients by the fact that is missing (:data:`sql.NOT_EVALUATED` names them)
    not_evaluated_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class ScreenResult:
    engine: str
    knowledge_version: str
    screening_version: str
    period_start: str
    period_end: str
    rows_read: int
    rows_screened: int
    rows_outside_period: int
    patients: int
    malformed: dict[str, int]
    rates: list[MeasureRate]
    flags: dict[str, int]
    draft_rules: list[str]
    seconds: float = 0.0
    parameters: dict[str, Any] = field(default_factory=dict)
    protocol: ProtocolInfo | None = None  # the site protocol laid over the knowledge, if any

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["protocol"]  # named only when a protocol is set: else the JSON is unchanged
        out["rates"] = [{**asdict(r), "rate": r.rate} for r in self.rates]
        return out | protocol_fields(self.protocol)


def day_number(d: date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> date:
    return EPOCH + timedelta(days=n)


def selected_measures(options: ScreenOptions, kb: Knowledge) -> list[Measure]:
    """The measures to run, with the multiple-provider overrides applied."""
    measures = kb.screening.measure
    if options.measures:
        known = {m.id for m in measures}
        unknown = [m for m in options.measures if m not in known]
        if unknown:
            raise InvalidInput("measures", f"unknown {', '.join(unknown)}", sorted(known))
        measures = [m for m in measures if m.id in options.measures]
    overrides = {
        k: v
        for k, v in (
            ("min_prescribers", options.min_prescribers),
            ("min_pharmacies", options.min_pharmacies),
            ("window_days", options.window_days),
        )
        if v is not None
    }
    for key, value in overrides.items():
        if value < 1:
            raise InvalidInput(key, f"must be at least 1, got {value}")
    if overrides:
        measures = [
            m.model_copy(update={"params": {**m.params, **overrides}})
            if m.kind == "multiple-provider"
            else m
            for m in measures
        ]
    return measures


def register_input(engine: Engine, path: Location, fmt: FileFormat) -> dict[str, str]:
    """Register ``path`` as the ``raw`` view and check its columns. A local path must exist;
    a URI (Spark) is left to the engine, whose error is given if it cannot read it."""
    if isinstance(path, Path) and not path.exists():
        raise InvalidInput("input", f"{path} does not exist")
    try:
        engine.register_file("raw", path, fmt)
        columns = engine.columns("raw")
    except InvalidInput:
        raise
    except Exception as exc:  # the engines raise their own types for unreadable files
        raise InvalidInput("input", f"cannot read {path} as {fmt}: {exc}") from None
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InvalidInput("input columns", f"{path} lacks {', '.join(missing)}", COLUMNS)
    return dict(columns)


def _register_lookups(
    engine: Engine, options: ScreenOptions, measures: list[Measure], kb: Knowledge
) -> None:
    # Each distinct drug value of the input, resolved once (NDCs, RxNorm codes, names).
    fetched = engine.fetch("SELECT DISTINCT CAST(drug AS STRING) FROM raw")
    values = [str(v) for (v,) in fetched if v is not None]
    keys = drug_keys(kb, options.products, values)
    engine.register_rows("drug_resolved", RESOLVED_SCHEMA, resolved_rows(values, keys, kb))
    allowed = sorted(
        {r for m in measures if m.kind == "cob" for r in m.typed_params().exclusion_reasons}
    )
    for patient, reason in options.exclusions:
        if allowed and reason not in allowed:
            raise InvalidInput("exclusions reason", f"{reason!r} for patient {patient}", allowed)
    engine.register_rows(
        "exclusions", [("patient_id", "string"), ("reason", "string")], list(options.exclusions)
    )
    engine.register_rows("rules", RULE_SCHEMA, rule_rows(measures))


# Each distinct drug value of the input and what it resolves to (NULLs: not a known drug).
RESOLVED_SCHEMA = (
    ("drug", "string"),
    ("ingredient", "string"),
    ("ing", "int"),
    ("cls", "int"),
    ("de_per_mg", "double"),
    ("low_max_mg", "double"),
    ("moderate_max_mg", "double"),
    ("map_strength_mg", "double"),
)


def drug_key(value: str) -> str:
    """A drug value as the keys are spelled: lower case, spaces trimmed, hyphens removed."""
    return value.strip(" ").lower().replace("-", "")


def resolved_rows(
    values: Sequence[str], keys: Sequence[DrugKey], kb: Knowledge
) -> list[tuple[Any, ...]]:
    """A row of :data:`RESOLVED_SCHEMA` for each drug value: its key, else the key of its
    first word (column by column, the first that is known). Done here, once per distinct
    value, rather than by a join in the engine: on Spark that join cost four jobs and the
    start of its ICU case mapping on every screen."""
    codes = ingredient_codes(kb)
    by_key = {
        k.drug_key: (
            k.ingredient,
            codes[k.ingredient],
            sql.class_code(k.drug_class),
            k.de_per_mg,
            k.low_max_mg,
            k.moderate_max_mg,
            k.strength_mg,
        )
        for k in keys
    }
    none = (None,) * 7
    rows: list[tuple[Any, ...]] = []
    for value in values:
        key = drug_key(value)
        exact, first = by_key.get(key, none), by_key.get(key.split(" ")[0], none)
        rows.append(
            (value, *(a if a is not None else b for a, b in zip(exact, first, strict=True)))
        )
    return rows


# The rule columns every flag carries (kinds as in Engine.register_rows).
RULE_SCHEMA = (
    ("rule", "string"),
    ("rule_version", "int"),
    ("code", "label"),
    ("severity", "label"),
    ("status", "label"),
    ("summary", "label"),
    ("sources", "label"),
)


def rule_rows(measures: Sequence[Measure]) -> list[tuple[str, int, str, str, str, str, str]]:
    """Each measure's rule columns (:data:`RULE_SCHEMA`): a draft's summary says why it is
    one, and the sources are its citations."""
    return [
        (
            m.id,
            m.version,
            m.code,
            m.severity,
            m.status,
            m.summary + (f" [draft: {m.draft_reason}]" if m.status == "draft" else ""),
            "; ".join(f"{c.ref} {c.section}".strip() for c in m.sources),
        )
        for m in measures
    ]


def level_label(level: int) -> str:
    """The label of a rate counted at a level of a measure's value (deprescribing)."""
    return f"decrease >= {level}%"


def not_evaluated_text(by_reason: dict[str, int]) -> str:
    """Patients not evaluated by reason, as a person reads it ("" when none)."""
    return "; ".join(
        f"{n} {sql.NOT_EVALUATED.get(reason, reason)}" for reason, n in by_reason.items() if n
    )


def screen(
    engine: Engine,
    path: Location,
    fmt: FileFormat,
    kb: Knowledge,
    options: ScreenOptions | None = None,
    progress: Progress | None = None,
) -> ScreenResult:
    """Screen the dispensing records in ``path`` by the measures of ``kb``; the flags stay in
    the engine's ``flags``."""
    options = options or ScreenOptions()
    step = progress or (lambda _s: None)
    started = time.perf_counter()
    measures = selected_measures(options, kb)
    d = engine.dialect

    step("reading and checking rows")
    columns = register_input(engine, path, fmt)
    _register_lookups(engine, options, measures, kb)
    engine.create("typed", sql.typed_sql(d, columns))
    engine.create("checked", sql.checked_sql(d))
    counts = engine.fetch(
        "SELECT reason, COUNT(*), MIN(fill_day), MAX(fill_day + days_supply - 1) "
        "FROM checked GROUP BY reason"
    )
    malformed = {str(r): int(n) for r, n, _, _ in counts if r is not None}
    rows_read = sum(int(n) for _, n, _, _ in counts)
    good = [(lo, hi) for r, _, lo, hi in counts if r is None]
    lo_day = good[0][0] if good else 0
    hi_day = good[0][1] if good else 0
    start = day_number(options.period_start) if options.period_start else int(lo_day)
    end = day_number(options.period_end) if options.period_end else int(hi_day)
    if end < start:
        raise InvalidInput("period", f"ends ({from_day(end)}) before it starts ({from_day(start)})")

    codes = ingredient_codes(kb)
    queries = [sql.measure_sql(m, f"m{i}", d, codes) for i, m in enumerate(measures)]
    # Every measure is per patient, so a big table is screened in parts, each a disjoint
    # range of the patient ids; the counts add up and the flags are joined.
    bounds = part_bounds(engine, engine.parts(rows_read, ranged_reads=fmt == "parquet"))
    parts = len(bounds) + 1
    tally: dict[str, int] = {}  # every count of every part, by name (see count_sql)
    key = ""  # the patient key of the fills: a hash of the id, unless two ids ever collide
    for part in range(parts):
        of = f" (part {part + 1} of {parts})" if parts > 1 else ""
        if parts > 1:
            low = bounds[part - 1] if part > 0 else None
            high = bounds[part] if part < len(bounds) else None
            engine.create("typed", sql.typed_sql(d, columns, sql.patient_range(columns, low, high)))
            engine.create("checked", sql.checked_sql(d))
        while True:
            step(f"selecting fills of the period{of}")
            engine.create("fills", sql.fills_sql(d, start, end, key), materialize=True)
            step(f"summarising patients{of}")
            summary = sql.summary_sql(q.summary for q in queries)
            engine.create("patients", summary, materialize=True)
            if key or not int(engine.fetch(sql.key_collisions())[0][0]):
                break
            # Two patients share a key: never merge them, key by the id itself from now on.
            step("two patient ids share a key: screening keyed by the ids themselves")
            key = "patient_id"
        made: dict[str, str] = {}  # prelude tables of this part: measures may share one
        for i, (measure, q) in enumerate(zip(measures, queries, strict=True)):
            step(f"measure {measure.id}{of}")
            for name, query in q.prelude:
                if name in made:
                    if made[name] != query:  # pragma: no cover - a bug in the measure SQL
                        raise AssertionError(f"prelude table {name} defined twice")
                    continue
                engine.create(name, query, materialize=True)
                made[name] = query
            engine.create(f"m{i}_hits", q.hits, materialize=True)
            engine.create(f"m{i}_flags", sql.flags_sql(measure.id, q, f"m{i}_hits", d))
        step(f"gathering the evidence of the flags{of}")
        union = " UNION ALL ".join(f"SELECT * FROM m{i}_flags" for i in range(len(measures)))
        engine.create(
            f"flags_{part}",
            f"""
SELECT f.patient_id, f.rule, r.rule_version, r.code, r.severity, r.status, f.value,
  f.evidence, r.summary, r.sources
FROM ({union}) f JOIN rules r ON r.rule = f.rule
""",
            materialize=True,
        )
        # Every count of the part in one query: one pass of the engine, not one a count.
        for name, n in engine.fetch(count_sql(queries, f"flags_{part}", d)):
            tally[str(name)] = tally.get(str(name), 0) + int(n)
        # The part's flags are kept; its fills and working tables are freed for the next part
        # (and for writing the flags), rather than left to crowd memory and spill.
        engine.drop(
            [
                "fills",
                "patients",
                *made,
                *(f"m{i}_{t}" for i in range(len(measures)) for t in ("hits", "flags")),
            ]
        )

    step("collecting flags")
    union = " UNION ALL ".join(f"SELECT * FROM flags_{part}" for part in range(parts))
    engine.create("flags", union)
    rates: list[MeasureRate] = []
    for i, (measure, q) in enumerate(zip(measures, queries, strict=True)):
        by_reason = {r: tally.get(f"m{i}:ne:{r}", 0) for r, _ in q.not_evaluated}
        levels = [(level_label(v), f"m{i}:level:{v}") for v in q.levels]
        for label, name in levels or [(measure.code, f"m{i}:hits")]:
            rates.append(
                MeasureRate(
                    measure.id,
                    label,
                    tally.get(name, 0),
                    tally.get(f"m{i}:den", 0),
                    sum(by_reason.values()),
                    by_reason,
                )
            )
    flag_counts = {m.id: tally.get(f"flags:{m.id}", 0) for m in measures}
    screened, patients = tally.get("fills", 0), tally.get("patients", 0)
    return ScreenResult(
        engine=engine.name,
        knowledge_version=kb.version,
        screening_version=kb.screening.version,
        period_start=from_day(start).isoformat(),
        period_end=from_day(end).isoformat(),
        rows_read=rows_read,
        rows_screened=screened,
        rows_outside_period=rows_read - sum(malformed.values()) - screened,
        patients=patients,
        malformed=dict(sorted(malformed.items())),
        rates=rates,
        flags=flag_counts,
        draft_rules=[m.id for m in measures if m.status == "draft"],
        seconds=round(time.perf_counter() - started, 3),
        parameters={m.id: m.params for m in measures},
        protocol=protocol_of(kb),
    )


def count_sql(queries: Sequence[sql.MeasureSQL], flags: str, d: sql.Dialect) -> str:
    """One query of (name, count) rows: the fills and patients of a part; each measure's
    hits (``m{i}:hits``), denominator (``m{i}:den``), hits at each level and patients not
    evaluated by reason; the flags of each rule (``flags:{rule}``). A name with no rows may
    be left out (:attr:`~sql.Dialect.tagged_counts`)."""
    items = [("fills", "SELECT 1 FROM fills"), ("patients", "SELECT 1 FROM patients")]
    for i, q in enumerate(queries):
        items.append((f"m{i}:hits", f"SELECT 1 FROM m{i}_hits"))
        items.append((f"m{i}:den", q.denominator))
        items += [
            (f"m{i}:level:{v}", f"SELECT 1 FROM m{i}_hits WHERE value >= {v} - {sql.EPSILON}")
            for v in q.levels
        ]
        items += [(f"m{i}:ne:{reason}", query) for reason, query in q.not_evaluated]
    if d.tagged_counts:
        tagged = [f"SELECT {sql.quote(k)} AS k FROM ({q}) c" for k, q in items]
        tagged.append(f"SELECT concat('flags:', rule) AS k FROM {flags}")
        union = "\nUNION ALL ".join(tagged)
        return f"SELECT k, COUNT(*) AS n FROM (\n{union}\n) t GROUP BY k"
    counted = [f"SELECT {sql.quote(k)} AS k, COUNT(*) AS n FROM ({q}) c" for k, q in items]
    counted.append(f"SELECT concat('flags:', rule) AS k, COUNT(*) AS n FROM {flags} GROUP BY rule")
    return "\nUNION ALL ".join(counted)


SAMPLED_IDS = 100_000  # patient ids sampled to place the bounds of the parts


def part_bounds(engine: Engine, parts: int) -> list[str]:
    """Patient ids that cut the table into about ``parts`` ranges of as many rows, from a
    random sample of the ids (as text, in the engines' byte order, which is Python's code
    point order). The ranges are disjoint and cover every id, so they need not be even: a
    patient is always screened whole, in one part. Fewer bounds when the ids are few."""
    if parts <= 1:
        return []
    sample = engine.dialect.sample.format(n=SAMPLED_IDS)
    query = f"SELECT CAST(patient_id AS STRING) FROM raw {sample} LIMIT {SAMPLED_IDS}"
    ids = sorted(str(i) for (i,) in engine.fetch(query) if i is not None and str(i) != "")
    bounds: list[str] = []
    for k in range(1, parts if ids else 1):
        bound = ids[k * len(ids) // parts]
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
    return bounds


def flag_rows(engine: Engine) -> list[tuple[str, str, float, list[str]]]:
    """(patient, rule, value, evidence) of every flag, sorted: for comparing engines."""
    rows = engine.fetch("SELECT patient_id, rule, value, evidence FROM flags")
    return sorted((str(p), str(r), round(float(v), 6), [str(x) for x in e]) for p, r, v, e in rows)


def write_flags(engine: Engine, path: Location) -> None:
    cols = ", ".join(FLAG_COLUMNS)
    engine.write_parquet(f"SELECT {cols} FROM flags ORDER BY patient_id, rule", path)


def exclusion_rows(rows: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(p).strip(), str(r).strip().lower()) for p, r in rows)
