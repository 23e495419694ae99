"""The screening logic, written once as SQL that both DuckDB and Spark SQL run.

Everything after the first step works on whole-day integers (days since 1970-01-01), so
the engines cannot differ on date arithmetic. The few spellings the two dialects do not
share (date to day number, regular-expression match, a named struct, list lambdas) come
from :class:`Dialect`. The numbers in the queries come from the validated measures of
``screening.toml``; strings are quoted by :func:`quote`.

The shape is chosen for 100M-row tables on one machine: the fills are materialised once,
slim (the drug class as a small integer code); every per-patient count, maximum, day of
the first and last fill, and list of fill ids that any measure needs is computed once, by
one ``GROUP BY patient_id`` per drug class (:attr:`MeasureSQL.summary`, the ``patients``
table, :func:`summary_sql`); runs of
supply and range joins run only on the fills of patients that the summary cannot rule out
(the early-refill window on every benzodiazepine fill, shared with long-term use: the
summary rules out too few). The Dialect's sample and the patient-id ranges of
:func:`patient_range` let a big table be screened in parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from benzosafe.clinical.medications import BENZODIAZEPINE, OPIOID
from benzosafe.knowledge.screening import (
    CobParams,
    DeprescribingParams,
    EarlyRefillParams,
    EscalationParams,
    LongTermParams,
    Measure,
    MultipleProviderParams,
)
from benzosafe.population.drugs import ingredient_codes

# The drug class as the fills carry it: a small integer, not a 15-character string.
CLASS_CODES = {BENZODIAZEPINE: 1, OPIOID: 2}
OTHER_CLASS = 3
HIGH_BAND = 3  # band codes: 1 low, 2 moderate, 3 high (limits from the dose-band data)
LAST_DAY = 2932896  # 9999-12-31 as a day number: a supply running past it is not a date
EPSILON = 1e-9  # doses are doubles: compare band limits with a tolerance of a nanogram
ISO_DATE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
REASONS = (
    "missing_fill_id",
    "missing_patient_id",
    "bad_fill_date",
    "bad_days_supply",
    "unknown_drug",
    "bad_quantity",
    "bad_strength",
    "bad_birth_date",
    "bad_age",
)


@dataclass(frozen=True)
class Dialect:
    """The spellings that differ between the engines."""

    name: str
    day_number: str  # format with {d}: a DATE to days since 1970-01-01
    regex_match: str  # format with {s} and {p}
    struct_fn: str  # "struct_pack" (fields as name := value) or "named_struct"
    hash_fn: str  # a 64-bit hash of a string
    modulo: str  # format with {x} and {n}: x modulo n, never negative
    sample: str  # format with {n}: a random sample of about n rows of the table before it
    # format with {s}: the sorted list column s without repeats (an element is kept when it
    # differs from the one before it, which costs far less than a hashed array_distinct)
    sorted_unique: str
    key_buckets: int = 0  # > 0: fold patient keys into so many values (tests of collisions)

    def day(self, expr: str) -> str:
        return self.day_number.format(d=expr)

    def matches(self, expr: str, pattern: str) -> str:
        return self.regex_match.format(s=expr, p=quote(pattern))

    def struct(self, fields: Iterable[tuple[str, str]]) -> str:
        """A struct of (name, expression) fields: it orders by its fields, in order."""
        if self.struct_fn == "struct_pack":
            inner = ", ".join(f"{n} := {e}" for n, e in fields)
        else:
            inner = ", ".join(f"{quote(n)}, {e}" for n, e in fields)
        return f"{self.struct_fn}({inner})"

    def patient_key(self, expr: str) -> str:
        """A patient id (never NULL in the fills) as a 64-bit integer key."""
        key = f"{self.hash_fn}({expr})"
        return self.modulo.format(x=key, n=self.key_buckets) if self.key_buckets else key

    def hash(self, expr: str) -> str:
        """A 64-bit hash of a string column, NULL for NULL (both engines hash NULL to a value)."""
        return f"CASE WHEN {expr} IS NOT NULL THEN {self.hash_fn}({expr}) END"


DUCKDB = Dialect(
    "duckdb",
    "date_diff('day', DATE '1970-01-01', {d})",
    "regexp_matches({s}, {p})",
    "struct_pack",
    "hash",
    "{x} % {n}",  # hash() is unsigned
    "TABLESAMPLE reservoir({n} ROWS) REPEATABLE (1)",
    "list_filter({s}, lambda v, i: i = 1 OR v <> {s}[GREATEST(i - 1, 1)])",  # i from 1
)
SPARK = Dialect(
    "spark",
    "unix_date({d})",
    "regexp_like({s}, {p})",
    "named_struct",
    "xxhash64",
    "pmod({x}, {n})",
    # Spark samples a share, not a number of rows; its screens run in one part (the
    # engine partitions and spills by itself), so the sample only serves forced parts.
    "TABLESAMPLE (10 PERCENT) REPEATABLE (1)",
    "filter({s}, (v, i) -> i = 0 OR v <> {s}[GREATEST(i - 1, 0)])",  # i from 0
)


def class_code(drug_class: str) -> int:
    return CLASS_CODES.get(drug_class, OTHER_CLASS)


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def codes_in(column: str, ingredients: Iterable[str]) -> str:
    """``column`` (an ingredient code) is one of the named ingredients."""
    known = ingredient_codes()
    codes = sorted(known[i] for i in ingredients if i in known)
    return f"{column} IN ({', '.join(map(str, codes))})" if codes else "1 = 0"


def in_list(column: str, values: Iterable[str]) -> str:
    items = [quote(v) for v in values]
    return f"{column} IN ({', '.join(items)})" if items else "1 = 0"


def as_date(d: Dialect, column: str, kind: str) -> str:
    """A column (ISO text, a date or a timestamp) as a DATE, NULL when it is not one."""
    if kind == "string":
        text = f"trim(CAST({column} AS STRING))"
        return f"CASE WHEN {d.matches(text, ISO_DATE)} THEN TRY_CAST({text} AS DATE) END"
    return f"TRY_CAST({column} AS DATE)"


def typed_sql(d: Dialect, columns: dict[str, str], where: str = "") -> str:
    """The raw table with typed columns and the drug key, nothing dropped yet; with
    ``where`` (a condition on the raw columns, such as :func:`patient_range`), only the rows
    that meet it."""
    fill = as_date(d, "fill_date", columns["fill_date"])
    if "birth_date" in columns:
        birth = as_date(d, "birth_date", columns["birth_date"])
        age = (
            "year(fill) - year(birth) - CASE WHEN month(fill) * 100 + day(fill) < "
            "month(birth) * 100 + day(birth) THEN 1 ELSE 0 END"
        )
        bad_birth = "birth_date IS NOT NULL AND (birth IS NULL OR birth > fill)"
        bad_age = "1 = 0"
    else:
        birth = "CAST(NULL AS DATE)"
        bad_birth = "1 = 0"
        if "age" in columns:
            age = "TRY_CAST(age AS INT)"
            bad_age = "age IS NOT NULL AND TRY_CAST(age AS INT) IS NULL"
        else:
            age, bad_age = "CAST(NULL AS INT)", "1 = 0"
    strength = "TRY_CAST(strength_mg AS DOUBLE)" if "strength_mg" in columns else "NULL"
    return f"""
SELECT
  CAST(fill_id AS STRING) AS fill_id,
  CAST(patient_id AS STRING) AS patient_id,
  fill,
  TRY_CAST(days_supply AS INT) AS days_supply,
  TRY_CAST(quantity AS DOUBLE) AS quantity,
  CAST({strength} AS DOUBLE) AS strength_mg,
  CAST(drug AS STRING) AS drug,
  CAST(prescriber_id AS STRING) AS prescriber_id,
  CAST(pharmacy_id AS STRING) AS pharmacy_id,
  {age} AS age,
  CASE WHEN {bad_birth} THEN 1 ELSE 0 END AS bad_birth,
  CASE WHEN {bad_age} THEN 1 ELSE 0 END AS bad_age
FROM (SELECT *, {fill} AS fill, {birth} AS birth FROM raw{f" WHERE {where}" if where else ""}) r0
"""


def patient_range(columns: dict[str, str], low: str | None, high: str | None) -> str:
    """Raw rows whose patient id (as text) is at least ``low`` and below ``high`` (either
    bound may be left out): one part of a screen in parts. A bare text column is compared
    as it is, so the engine can apply the range while it reads the file and skip the rest
    of the other columns' values; ids of other types are compared as text."""
    column = "patient_id" if columns.get("patient_id") == "string" else "CAST(patient_id AS STRING)"
    bounds = [f"{column} >= {quote(low)}"] if low is not None else []
    bounds += [f"{column} < {quote(high)}"] if high is not None else []
    return " AND ".join(bounds) or f"{column} IS NOT NULL"


def checked_sql(d: Dialect) -> str:
    """Typed rows with their drug resolved, daily dose, and the first reason each is malformed."""
    strength = "COALESCE(t.strength_mg, m.map_strength_mg)"
    return f"""
SELECT t.fill_id, t.patient_id, t.days_supply, t.age, t.prescriber_id, t.pharmacy_id,
  m.ingredient, m.ing, m.cls, m.de_per_mg, m.low_max_mg, m.moderate_max_mg,
  (t.quantity * {strength}) / t.days_supply AS daily_mg,
  {d.day("t.fill")} AS fill_day,
  CASE
    WHEN t.fill_id IS NULL OR t.fill_id = '' THEN 'missing_fill_id'
    WHEN t.patient_id IS NULL OR t.patient_id = '' THEN 'missing_patient_id'
    WHEN t.fill IS NULL THEN 'bad_fill_date'
    WHEN t.days_supply IS NULL OR t.days_supply <= 0
      OR t.days_supply > {LAST_DAY} - {d.day("t.fill")} THEN 'bad_days_supply'
    WHEN m.ingredient IS NULL THEN 'unknown_drug'
    WHEN t.quantity IS NULL OR t.quantity <= 0 THEN 'bad_quantity'
    WHEN {strength} IS NULL OR {strength} <= 0 THEN 'bad_strength'
    WHEN t.bad_birth = 1 THEN 'bad_birth_date'
    WHEN t.bad_age = 1 OR t.age < 0 THEN 'bad_age'
  END AS reason
FROM typed t
LEFT JOIN drug_resolved m ON m.drug = t.drug
"""


def resolved_sql() -> str:
    """Each distinct drug value of the input resolved once: exact key, else its first word."""
    key = "replace(lower(trim(CAST(drug AS STRING))), '-', '')"
    return f"""
SELECT v.drug, COALESCE(m1.ingredient, m2.ingredient) AS ingredient,
  COALESCE(m1.ing, m2.ing) AS ing,
  COALESCE(m1.cls, m2.cls) AS cls,
  COALESCE(m1.de_per_mg, m2.de_per_mg) AS de_per_mg,
  COALESCE(m1.low_max_mg, m2.low_max_mg) AS low_max_mg,
  COALESCE(m1.moderate_max_mg, m2.moderate_max_mg) AS moderate_max_mg,
  COALESCE(m1.strength_mg, m2.strength_mg) AS map_strength_mg
FROM (SELECT DISTINCT CAST(drug AS STRING) AS drug, {key} AS k FROM raw) v
LEFT JOIN drug_map m1 ON m1.drug_key = v.k
LEFT JOIN drug_map m2 ON m2.drug_key = split_part(v.k, ' ', 1)
"""


def fills_sql(d: Dialect, period_start: int, period_end: int, key: str = "") -> str:
    """Well-formed fills dated in the period, supply clipped to its end, doses and bands.

    ``patient_id`` is the patient's key (``key``, by default :meth:`Dialect.patient_key`, a
    64-bit hash of the id: every join, sort and group of the measures is on it, and integers
    sort and hash faster than text); ``patient`` keeps the id itself. Two patients whose ids
    hash alike would be merged, so the caller checks the ``patients`` table for that
    (:func:`key_collisions`) and screens again keyed by the id itself if it ever happens.
    Prescriber and pharmacy ids are kept as 64-bit hashes: they are only counted (distinct
    per patient), and for two different ids of one patient to be counted as one their hashes
    would have to collide (odds of the order of 1e-18 per pair).
    """
    return f"""
SELECT fill_id, {key or d.patient_key("patient_id")} AS patient_id, patient_id AS patient,
  CAST(fill_day AS INT) AS fill_day,
  CAST(LEAST(fill_day + days_supply - 1, {period_end}) AS INT) AS end_day,
  days_supply, CAST(ing AS SMALLINT) AS ing, CAST(cls AS TINYINT) AS cls, CAST(age AS INT) AS age,
  {d.hash("prescriber_id")} AS prescriber_id, {d.hash("pharmacy_id")} AS pharmacy_id,
  daily_mg * de_per_mg AS de_daily_mg,
  CAST(CASE WHEN low_max_mg IS NULL THEN NULL
    WHEN daily_mg <= low_max_mg + {EPSILON} THEN 1
    WHEN daily_mg <= moderate_max_mg + {EPSILON} THEN 2
    ELSE {HIGH_BAND} END AS TINYINT) AS band
FROM checked
WHERE reason IS NULL AND fill_day BETWEEN {period_start} AND {period_end}
"""


@dataclass(frozen=True)
class Agg:
    """A per-patient aggregate of the summary: ``fn`` (MIN, MAX, SUM, COUNT DISTINCT or
    array_agg) of ``expr`` over the patient's fills of the class ``cls`` that meet ``cond``
    (a condition on the fill; empty: every fill of the class). NULL when no fill counts."""

    fn: Literal["MIN", "MAX", "SUM", "COUNT DISTINCT", "array_agg"]
    expr: str
    cls: int
    cond: str = ""

    def sql(self) -> str:
        """The aggregate over the fills of its class (the summary groups each class apart)."""
        if self.fn == "array_agg":
            return f"array_agg({self.expr})" + (f" FILTER (WHERE {self.cond})" if self.cond else "")
        inner = _when(self.cond, self.expr) if self.cond else self.expr
        return f"COUNT(DISTINCT {inner})" if self.fn == "COUNT DISTINCT" else f"{self.fn}({inner})"


# (column of ``patients``, aggregate over one patient's fills)
Summary = tuple[tuple[str, Agg], ...]


@dataclass(frozen=True)
class MeasureSQL:
    """One measure as queries over ``fills`` and ``patients``: whom it flags, on which fills,
    out of whom.

    ``summary`` holds the per-patient aggregates the measure needs; the caller computes the
    summaries of all measures together as the ``patients`` table (one row per patient with
    fills, :func:`summary_sql`). ``prelude`` holds (name, query) tables to materialise next,
    in order; the other queries refer to them by name. ``evidence`` may join ``__HITS__``,
    the table of the measure's materialised hits; with ``evidence_lists`` it yields each
    patient's fill ids as one array (gathered by the summary) rather than one row a fill.
    """

    hits: str  # patient_id, value
    evidence: str  # patient_id, fill_id (or evidence: an array of fill ids)
    denominator: str  # patient_id
    levels: tuple[int, ...] = ()  # extra rates: hits whose value reaches each level
    prelude: tuple[tuple[str, str], ...] = ()
    not_evaluated: str | None = None  # patient_id: left out of the denominator, and why not
    summary: Summary = ()
    evidence_lists: bool = False


def summary_sql(summaries: Iterable[Summary]) -> str:
    """The ``patients`` table: every measure's per-patient aggregates.

    Every patient with fills, with the lowest and highest of the ids behind its key (one
    GROUP BY over all fills), joined with one GROUP BY per drug class over that class's fills
    only: each class's aggregates then read only its rows and test no class (at 10M fills,
    0.8 s against 1.0 s for one GROUP BY of every aggregate over every fill).
    """
    columns: dict[str, Agg] = {}
    for summary in summaries:
        for name, agg in summary:
            if columns.setdefault(name, agg) != agg:
                raise AssertionError(f"summary column {name} defined twice")  # pragma: no cover
    classes = sorted({agg.cls for agg in columns.values()})
    selected = "".join(f", c{agg.cls}.{name}" for name, agg in columns.items())
    query = f"""
SELECT a.patient_id, a.patient, a.patient_max{selected}
FROM (
  SELECT patient_id, MIN(patient) AS patient, MAX(patient) AS patient_max
  FROM fills GROUP BY patient_id
) a"""
    for cls in classes:
        aggs = "".join(
            f",\n    {agg.sql()} AS {name}" for name, agg in columns.items() if agg.cls == cls
        )
        query += f"""
LEFT JOIN (
  SELECT patient_id{aggs}
  FROM fills WHERE cls = {cls} GROUP BY patient_id
) c{cls} ON c{cls}.patient_id = a.patient_id"""
    return query + "\n"


def key_collisions() -> str:
    """Patient keys shared by two different patient ids (see :func:`fills_sql`)."""
    return "SELECT COUNT(*) FROM patients WHERE patient <> patient_max"


BZD = CLASS_CODES[BENZODIAZEPINE]
OPIOIDS = CLASS_CODES[OPIOID]
BZD_FILL = f"cls = {BZD}"
OPIOID_FILL = f"cls = {OPIOIDS}"


def _days(n: int) -> str:
    """A number of days to add to a day number (an INT): as a BIGINT, so that a parameter of
    any size cannot overflow the sum."""
    return f"CAST({n} AS BIGINT)"


def _when(cond: str, expr: str) -> str:
    return f"CASE WHEN {cond} THEN {expr} END"


def _distinct_at_least(name: str, cls: int, cond: str, expr: str, k: int) -> tuple[Summary, str]:
    """Summary columns, and a test on them (``patients`` as ``p``): the patient's fills of
    class ``cls`` matching ``cond`` have at least ``k`` distinct values of ``expr``.

    Up to two distinct values are told by the minimum and the maximum, which cost far
    less than a distinct count over a hundred million fills.
    """
    lo, hi = f"{name}_min", f"{name}_max"
    summary: Summary = ((lo, Agg("MIN", expr, cls, cond)), (hi, Agg("MAX", expr, cls, cond)))
    if k <= 1:
        return summary, f"p.{lo} IS NOT NULL"
    if k == 2:
        return summary, f"p.{hi} > p.{lo}"
    count = (f"{name}_n", Agg("COUNT DISTINCT", expr, cls, cond))
    return (*summary, count), f"p.{name}_n >= {k}"


def _supply_window(order: str) -> tuple[str, str]:
    """The two window columns a run of supply needs, over one patient and class (or
    ingredient) in ``order``: the latest end of supply of the fills before, and the next
    fill's day."""
    return (
        f"MAX(end_day) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)",
        f"LEAD(fill_day) OVER ({order})",
    )


def runs_sql(windowed: str, gap: int) -> str:
    """Runs of supply (patient_id, cls, s, e) from fills with their window columns.

    ``windowed`` yields patient_id, cls, fill_day, end_day, prev_end and next_day (see
    :func:`_supply_window`) for fills ordered by day within each patient and class. A fill
    starts a run when it begins more than ``gap`` days after every earlier fill's supply
    ended, and ends one when the next fill begins more than ``gap`` days after every supply
    so far ended. Only the first fill of a day can start a run, and only the last can end
    one, so the order of the fills within a day does not matter. A fill that does both is a
    run of its own; the others pair up (a start, then its end) in a second, much smaller
    window.
    """
    return f"""
WITH marked AS (
  SELECT * FROM (
    SELECT patient_id, cls, fill_day, cur_end,
      CASE WHEN prev_end IS NULL OR fill_day > prev_end + {_days(1 + gap)} THEN 1 ELSE 0 END
        AS is_first,
      CASE WHEN next_day IS NULL OR next_day > cur_end + {_days(1 + gap)} THEN 1 ELSE 0 END
        AS is_last
    FROM (
      SELECT patient_id, cls, fill_day, prev_end, next_day,
        CASE WHEN prev_end > end_day THEN prev_end ELSE end_day END AS cur_end
      FROM ({windowed}) w
    ) c
  ) m
  WHERE is_first = 1 OR is_last = 1
)
SELECT patient_id, cls, fill_day AS s, cur_end AS e FROM marked WHERE is_first = 1 AND is_last = 1
UNION ALL
SELECT patient_id, cls, s, e FROM (
  SELECT patient_id, cls, is_first, fill_day AS s,
    LEAD(cur_end) OVER (PARTITION BY patient_id, cls ORDER BY fill_day, cur_end, is_last) AS e
  FROM marked WHERE is_first + is_last = 1
) pairs WHERE is_first = 1
"""


def islands_sql(source: str, gap: int) -> str:
    """Runs of supply per patient and class: fills merged when the gap is at most ``gap`` days.

    ``source`` yields patient_id, cls, fill_day, end_day; one window orders each patient's
    fills of a class by day, then end of supply (:func:`runs_sql`). Fills that tie on day
    and end are interchangeable here, so neither engine needs a tie-breaker on the fill id.
    """
    prev_end, next_day = _supply_window("PARTITION BY patient_id, cls ORDER BY fill_day, end_day")
    windowed = f"""
SELECT patient_id, cls, fill_day, end_day, {prev_end} AS prev_end, {next_day} AS next_day
FROM ({source}) src
"""
    return runs_sql(windowed, gap)


# Every benzodiazepine fill in one window per patient and ingredient, ordered by day, then
# supply from longest to shortest: the window of early refills (the day and supply of the
# previous fill) and, for the patients with one benzodiazepine, of runs of supply
# (:func:`runs_sql`), sorted once for both (prelude ``bz_seq``, shared by the measures).
_BZ_ORDER = "PARTITION BY patient_id, ing ORDER BY fill_day, days_supply DESC"
_BZ_PREV_END, _BZ_NEXT_DAY = _supply_window(_BZ_ORDER)
BZ_SEQ = (
    "bz_seq",
    f"""
SELECT patient_id, cls, ing, fill_day, end_day,
  LAG(fill_day) OVER ({_BZ_ORDER}) AS prev_day, LAG(days_supply) OVER ({_BZ_ORDER}) AS prev_supply,
  {_BZ_PREV_END} AS prev_end, {_BZ_NEXT_DAY} AS next_day
FROM fills WHERE {BZD_FILL}
""",
)


def _fills_of(patients_where: str, fills_where: str) -> str:
    """patient_id, cls, fill_day, end_day of the fills matching ``fills_where`` (columns
    prefixed ``f.``) of the patients matching ``patients_where`` (prefixed ``p.``)."""
    return f"""
SELECT f.patient_id, f.cls, f.fill_day, f.end_day
FROM fills f JOIN patients p ON p.patient_id = f.patient_id
WHERE {fills_where} AND {patients_where}
"""


def _patients(where: str) -> str:
    """Patients matching ``where`` (columns of ``patients``, bare or prefixed ``p.``)."""
    return f"SELECT patient_id FROM patients p WHERE {where}"


def _value(expr: str, where: str) -> str:
    return f"SELECT patient_id, CAST({expr} AS DOUBLE) AS value FROM patients WHERE {where}"


def _fill_list(name: str, cls: int, where: str) -> tuple[tuple[str, Agg], str]:
    """A summary column gathering the ids of each patient's fills of class ``cls`` that
    match ``where``, and the evidence query that reads it (for a measure that flags a patient
    when any fill matches, the evidence is exactly those fills, so no second pass over the
    fills is needed).
    """
    column = (name, Agg("array_agg", "fill_id", cls, where))
    return column, f"SELECT patient_id, {name} AS evidence FROM patients WHERE {name} IS NOT NULL"


def cob_sql(p: CobParams, n: str) -> MeasureSQL:
    op_days, op_claims = _distinct_at_least("op_day", OPIOIDS, "", "fill_day", p.min_opioid_claims)
    bz_days, bz_claims = _distinct_at_least(
        "bz_day", BZD, "", "fill_day", p.min_benzodiazepine_claims
    )
    summary = (
        *op_days,
        ("op_supply", Agg("SUM", "days_supply", OPIOIDS)),
        ("op_min_age", Agg("MIN", "age", OPIOIDS)),
        *bz_days,
    )
    den = f"""
SELECT p.patient_id FROM patients p LEFT JOIN (
  SELECT DISTINCT patient_id FROM exclusions WHERE {in_list("reason", p.exclusion_reasons)}
) x ON x.patient_id = p.patient
WHERE {op_claims} AND p.op_supply >= {p.min_opioid_days_supply}
  AND p.op_min_age >= {p.min_age_years} AND x.patient_id IS NULL
"""
    # Only patients of the denominator with enough benzodiazepine claims need runs.
    both = f"""
SELECT d.patient_id FROM {n}_den d JOIN patients p ON p.patient_id = d.patient_id
WHERE {bz_claims}
"""
    source = f"""
SELECT f.patient_id, f.cls, f.fill_day, f.end_day
FROM fills f JOIN {n}_both b ON b.patient_id = f.patient_id WHERE f.{BZD_FILL} OR f.{OPIOID_FILL}
"""
    overlap = "LEAST(bi.e, oi.e) - GREATEST(bi.s, oi.s) + 1"
    hits = f"""
SELECT bi.patient_id, CAST(SUM({overlap}) AS DOUBLE) AS value
FROM {n}_isl bi JOIN {n}_isl oi
  ON oi.patient_id = bi.patient_id AND bi.s <= oi.e AND oi.s <= bi.e
WHERE bi.{BZD_FILL} AND oi.{OPIOID_FILL}
GROUP BY bi.patient_id
HAVING SUM({overlap}) >= {p.min_overlap_days}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM fills f
JOIN __HITS__ h ON h.patient_id = f.patient_id
JOIN {n}_isl i ON i.patient_id = f.patient_id AND i.cls <> f.cls
  AND f.fill_day <= i.e AND i.s <= f.end_day
WHERE f.{BZD_FILL} OR f.{OPIOID_FILL}
"""
    prelude = ((f"{n}_den", den), (f"{n}_both", both), (f"{n}_isl", islands_sql(source, 0)))
    return MeasureSQL(
        hits, evidence, f"SELECT patient_id FROM {n}_den", prelude=prelude, summary=summary
    )


def multiple_provider_sql(p: MultipleProviderParams, n: str) -> MeasureSQL:
    cls, kept = class_code(p.drug_class), f"NOT {codes_in('ing', p.exclude_ingredients)}"
    where = f"cls = {cls} AND {kept}"
    # A fill without a prescriber or pharmacy id (OMOP has no pharmacy column) cannot count
    # towards the distinct providers: its patient, unless flagged anyway, is not evaluated
    # and leaves the denominator rather than counting as a silent negative.
    # The summary rules out most patients cheaply (too few fills, or one prescriber or one
    # pharmacy); the distinct counts run on the fills of the others only.
    prescribers, two_prescribers = _distinct_at_least(
        f"{n}_prescriber", cls, kept, "prescriber_id", min(p.min_prescribers, 2)
    )
    pharmacies, two_pharmacies = _distinct_at_least(
        f"{n}_pharmacy", cls, kept, "pharmacy_id", min(p.min_pharmacies, 2)
    )
    unknown = f"{kept} AND (prescriber_id IS NULL OR pharmacy_id IS NULL)"
    summary = (
        (f"{n}_fills", Agg("SUM", "1", cls, kept)),
        *prescribers,
        *pharmacies,
        (f"{n}_unknown", Agg("MAX", "1", cls, unknown)),
    )
    enough = max(p.min_prescribers, p.min_pharmacies)
    pre = f"""
SELECT f.patient_id, f.fill_id, f.fill_day, f.prescriber_id, f.pharmacy_id
FROM fills f JOIN patients p ON p.patient_id = f.patient_id
WHERE {where} AND p.{n}_fills >= {enough} AND {two_prescribers} AND {two_pharmacies}
"""
    cand = f"""
SELECT * FROM {n}_pre WHERE patient_id IN (
  SELECT patient_id FROM {n}_pre GROUP BY patient_id
  HAVING COUNT(DISTINCT prescriber_id) >= {p.min_prescribers}
    AND COUNT(DISTINCT pharmacy_id) >= {p.min_pharmacies}
)
"""
    windows = f"""
SELECT a.patient_id, a.fill_day AS w0, COUNT(DISTINCT b.prescriber_id) AS np
FROM {n}_cand a JOIN {n}_cand b ON b.patient_id = a.patient_id
  AND b.fill_day >= a.fill_day AND b.fill_day <= a.fill_day + {_days(p.window_days - 1)}
GROUP BY a.patient_id, a.fill_day
HAVING COUNT(DISTINCT b.prescriber_id) >= {p.min_prescribers}
  AND COUNT(DISTINCT b.pharmacy_id) >= {p.min_pharmacies}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM {n}_cand f JOIN {n}_win w ON w.patient_id = f.patient_id
  AND f.fill_day >= w.w0 AND f.fill_day <= w.w0 + {_days(p.window_days - 1)}
"""
    hit = f"patient_id IN (SELECT patient_id FROM {n}_hits)"
    return MeasureSQL(
        f"SELECT patient_id, CAST(MAX(np) AS DOUBLE) AS value FROM {n}_win GROUP BY patient_id",
        evidence,
        _patients(f"{n}_fills > 0 AND ({n}_unknown IS NULL OR {hit})"),
        prelude=((f"{n}_pre", pre), (f"{n}_cand", cand), (f"{n}_win", windows)),
        not_evaluated=_patients(f"{n}_unknown = 1 AND NOT {hit}"),
        summary=summary,
    )


def long_term_sql(p: LongTermParams, n: str) -> MeasureSQL:
    bz_days, any_bz = _distinct_at_least("bz_day", BZD, "", "fill_day", 1)
    summary = (*bz_days, ("bz_last_end", Agg("MAX", "end_day", BZD)))
    bz_ings, two_ings = _distinct_at_least("bz_ing", BZD, "", "ing", 2)
    summary = (*summary, *bz_ings)
    # No run can be longer than the span from the first fill to the last day of supply.
    long_enough = f"p.bz_last_end - p.bz_day_min + 1 >= {p.min_run_days}"
    # With one benzodiazepine, the runs come from the shared window; with more, from their
    # own window over all of the patient's benzodiazepines. The window's fills of the others
    # are left out by an anti-join (cheaper than a join with the wide patients table).
    one = f"""
SELECT s.patient_id, s.cls, s.fill_day, s.end_day, s.prev_end, s.next_day
FROM bz_seq s WHERE NOT EXISTS (
  SELECT 1 FROM patients p WHERE p.patient_id = s.patient_id
    AND (NOT ({long_enough}) OR {two_ings})
)
"""
    several = islands_sql(
        _fills_of(f"{long_enough} AND {two_ings}", f"f.{BZD_FILL}"), p.max_gap_days
    )
    long_run = f"e - s + 1 >= {p.min_run_days}"
    runs = f"""
SELECT patient_id, s, e FROM ({runs_sql(one, p.max_gap_days)}) r1 WHERE {long_run}
UNION ALL
SELECT patient_id, s, e FROM ({several}) r2 WHERE {long_run}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM fills f JOIN {n}_runs r ON r.patient_id = f.patient_id
  AND f.fill_day BETWEEN r.s AND r.e
WHERE f.{BZD_FILL}
"""
    return MeasureSQL(
        f"SELECT patient_id, CAST(MAX(e - s + 1) AS DOUBLE) AS value FROM {n}_runs "
        "GROUP BY patient_id",
        evidence,
        _patients(any_bz),
        prelude=(BZ_SEQ, (f"{n}_runs", runs)),
        summary=summary,
    )


def high_dose_sql() -> MeasureSQL:
    high = f"band = {HIGH_BAND}"
    fills, evidence = _fill_list("bz_high_fills", BZD, high)
    summary = (
        ("bz_high_de", Agg("MAX", "de_daily_mg", BZD, high)),
        ENDS[0],  # a first banded day: the patient has a fill with a dose band
        fills,
    )
    return MeasureSQL(
        _value("bz_high_de", "bz_high_de IS NOT NULL"),
        evidence,
        _patients("bz_banded_first IS NOT NULL"),
        summary=summary,
        evidence_lists=True,
    )


# The days of the first and last benzodiazepine fill with a dose band: two cheap aggregates.
# The fills of those two days are looked at once more (:func:`_ends_table`), not every fill.
ENDS: Summary = (
    ("bz_banded_first", Agg("MIN", "fill_day", BZD, "band IS NOT NULL")),
    ("bz_banded_last", Agg("MAX", "fill_day", BZD, "band IS NOT NULL")),
)


def _ends_table(d: Dialect) -> tuple[str, str]:
    """Prelude ``bz_ends``, shared by the measures that compare a patient's first and last
    benzodiazepine fill with a dose band (by day, then fill id), for the patients whose
    banded fills span 2 or more days. The fills of each side share one day, and the order of
    a struct is that of its fields, so the minimum on the first day is the fill with the
    lowest id, the maximum on the last day the one with the highest (the day is not in the
    struct, nor the last fill's age, which no measure reads: a struct is costly to compare).

    A fill id given twice on one day with different values is taken by band, then dose (the
    lower on the first day, the higher on the last), then, on the first day, a known age
    before an unknown one, then the lower age. The engines order a NULL field of a struct
    differently (DuckDB after every value, Spark before), so no field compared may be NULL:
    ``no_age`` (0 or 1) goes before the age, and a fill with a band always has a dose (the
    knowledge gives a diazepam equivalent to every drug with dose bands; a test holds it to
    that).
    """
    fields = (("i", "f.fill_id"), ("band", "f.band"), ("de", "f.de_daily_mg"))
    no_age = "CASE WHEN f.age IS NULL THEN 1 ELSE 0 END"
    first = d.struct((*fields, ("no_age", no_age), ("age", "f.age")))
    query = f"""
SELECT f.patient_id,
  MIN({_when("f.fill_day = p.bz_banded_first", first)}) AS bz_first,
  MAX({_when("f.fill_day = p.bz_banded_last", d.struct(fields))}) AS bz_last
FROM fills f JOIN patients p ON p.patient_id = f.patient_id
WHERE f.{BZD_FILL} AND f.band IS NOT NULL AND p.bz_banded_last > p.bz_banded_first
  AND (f.fill_day = p.bz_banded_first OR f.fill_day = p.bz_banded_last)
GROUP BY f.patient_id
"""
    return ("bz_ends", query)


def _pairs(n: str, where: str, d: Dialect) -> tuple[tuple[str, str], ...]:
    """Prelude: first and last benzodiazepine fill of patients who filled on 2+ days."""
    pairs = f"""
SELECT patient_id, bz_first.i AS first_id, bz_last.i AS last_id, bz_first.band AS first_band,
  bz_last.band AS last_band, bz_first.de AS first_de, bz_last.de AS last_de,
  bz_first.age AS first_age
FROM bz_ends WHERE {where}
"""
    return (_ends_table(d), (f"{n}_pairs", pairs))


def _pair_evidence(table: str, where: str) -> str:
    return f"""
SELECT patient_id, first_id AS fill_id FROM {table} WHERE {where}
UNION ALL SELECT patient_id, last_id AS fill_id FROM {table} WHERE {where}
"""


def escalation_sql(p: EscalationParams, n: str, d: Dialect) -> MeasureSQL:
    rise = f"last_band - first_band >= {p.min_band_rise}"
    hits = f"SELECT patient_id, CAST(last_band - first_band AS DOUBLE) AS value FROM {n}_pairs"
    return MeasureSQL(
        f"{hits} WHERE {rise}",
        _pair_evidence(f"{n}_pairs", rise),
        f"SELECT patient_id FROM {n}_pairs",
        prelude=_pairs(n, "1 = 1", d),
        summary=ENDS,
    )


def early_refill_sql(p: EarlyRefillParams, n: str) -> MeasureSQL:
    """Benzodiazepine fills dated before ``p.min_supply_elapsed_pct`` % of the days' supply of
    the patient's previous fill of the same ingredient had passed.

    Fills of one ingredient on one day are one dispensing whose supply is the shortest of
    them, so two strengths taken together are not a refill of each other and a flag does not
    depend on which of them was refilled. ``{n}_early`` holds each early dispensing with the
    day and supply of the previous one, from the window ``bz_seq`` (shared with long-term
    use): per patient and ingredient, the fills ordered by day, then supply from longest to
    shortest, so the first fill of a day follows a fill of the previous day with the
    shortest supply (fills that tie on both are interchangeable here: only their day and
    supply are read). The evidence names the fills of the early day and, of the previous
    day's fills with that shortest supply, the one with the lowest id. The denominator is
    the patients with one benzodiazepine filled on 2 or more days. BIGINT arithmetic (a
    days' supply of any size cannot overflow): early when days between x 100 < supply x pct.
    """
    # p.previous_fill is "same-ingredient", the only relation the data model allows.
    bz_days, two_days = _distinct_at_least("bz_day", BZD, "", "fill_day", 2)
    bz_ings, two_ings = _distinct_at_least("bz_ing", BZD, "", "ing", 2)
    early = f"""
SELECT patient_id, ing, fill_day, prev_day, prev_supply FROM bz_seq
WHERE fill_day > prev_day
  AND CAST(fill_day - prev_day AS BIGINT) * 100
    < CAST(prev_supply AS BIGINT) * {p.min_supply_elapsed_pct}
"""
    # The flagged patients' benzodiazepine fills first (a few percent of the fills: a probe
    # of a small hash table), then both joins on those only (DuckDB materialises the CTE).
    evidence = f"""
WITH hit_fills AS (
  SELECT patient_id, ing, fill_day, days_supply, fill_id FROM fills
  WHERE {BZD_FILL} AND patient_id IN (SELECT patient_id FROM __HITS__)
)
SELECT f.patient_id, f.fill_id FROM hit_fills f JOIN {n}_early e
  ON e.patient_id = f.patient_id AND e.ing = f.ing AND e.fill_day = f.fill_day
UNION ALL
SELECT f.patient_id, MIN(f.fill_id) AS fill_id FROM hit_fills f JOIN {n}_early e
  ON e.patient_id = f.patient_id AND e.ing = f.ing AND e.prev_day = f.fill_day
  AND e.prev_supply = f.days_supply
GROUP BY f.patient_id, f.ing, f.fill_day
"""
    # One benzodiazepine on 2 or more days: told by the summary, unless the patient had more
    # than one benzodiazepine.
    den = f"""
SELECT patient_id FROM patients p WHERE NOT ({two_ings}) AND {two_days}
UNION ALL
SELECT DISTINCT f.patient_id FROM fills f JOIN patients p ON p.patient_id = f.patient_id
WHERE f.{BZD_FILL} AND {two_ings}
GROUP BY f.patient_id, f.ing HAVING MIN(f.fill_day) < MAX(f.fill_day)
"""
    return MeasureSQL(
        f"SELECT patient_id, CAST(COUNT(*) AS DOUBLE) AS value FROM {n}_early GROUP BY patient_id",
        evidence,
        den,
        prelude=(BZ_SEQ, (f"{n}_early", early)),
        summary=(*bz_days, *bz_ings),
    )


def older_adult_sql(min_age: int) -> MeasureSQL:
    fills, evidence = _fill_list("bz_old_fills", BZD, f"age >= {min_age}")
    return MeasureSQL(
        _value("bz_max_age", f"bz_max_age >= {min_age}"),
        evidence,
        _patients("bz_max_age IS NOT NULL"),
        summary=(("bz_max_age", Agg("MAX", "age", BZD)), fills),
        evidence_lists=True,
    )


def deprescribing_sql(p: DeprescribingParams, n: str, d: Dialect) -> MeasureSQL:
    eligible = f"bz_first.age >= {p.min_age_years} AND bz_first.de > 0"
    decrease = "(first_de - last_de) * 100.0 / first_de"
    reached = f"{decrease} >= {min(p.decrease_pct)} - {EPSILON}"
    return MeasureSQL(
        f"SELECT patient_id, {decrease} AS value FROM {n}_pairs WHERE {reached}",
        _pair_evidence(f"{n}_pairs", reached),
        f"SELECT patient_id FROM {n}_pairs",
        tuple(sorted(p.decrease_pct)),
        prelude=_pairs(n, eligible, d),
        summary=ENDS,
    )


def measure_sql(measure: Measure, name: str, d: Dialect) -> MeasureSQL:
    """The queries of one measure; its prelude tables are named ``{name}_...``."""
    params = measure.typed_params()
    match measure.kind:
        case "cob":
            return cob_sql(params, name)
        case "multiple-provider":
            return multiple_provider_sql(params, name)
        case "long-term":
            return long_term_sql(params, name)
        case "high-dose":
            return high_dose_sql()
        case "escalation":
            return escalation_sql(params, name, d)
        case "early-refill":
            return early_refill_sql(params, name)
        case "older-adult":
            return older_adult_sql(params.min_age_years)
        case "deprescribing":
            return deprescribing_sql(params, name, d)
    raise AssertionError(measure.kind)  # pragma: no cover - the kinds are a closed Literal


def flags_sql(rule: str, m: MeasureSQL, hits: str, d: Dialect) -> str:
    """One measure's flags: patient, value and the sorted fill ids that show why, each once.

    ``hits`` names the table that holds the measure's materialised hits query. A fill id
    named twice (by two rows of the evidence, or twice in the input) is dropped from the
    sorted list where it repeats the id before it.
    """
    evidence = m.evidence.replace("__HITS__", hits)
    if m.evidence_lists:
        lists = f"SELECT patient_id, array_sort(evidence) AS s FROM ({evidence}) ev"
    else:
        lists = f"""SELECT patient_id, array_sort(array_agg(fill_id)) AS s
    FROM ({evidence}) ev GROUP BY patient_id"""
    lists = f"""
  SELECT patient_id, {d.sorted_unique.format(s="s")} AS evidence FROM (
    {lists}
  ) sorted"""
    return f"""
SELECT {quote(rule)} AS rule, p.patient AS patient_id, h.value, e.evidence
FROM {hits} h JOIN ({lists}
) e ON e.patient_id = h.patient_id
JOIN patients p ON p.patient_id = h.patient_id
"""
