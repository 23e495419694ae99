"""The screening logic, written once as SQL that both DuckDB and Spark SQL run.

Everything after the first step works on whole-day integers (days since 1970-01-01), so
the engines cannot differ on date arithmetic. The few spellings the two dialects do not
share (date to day number, regular-expression match) come from :class:`Dialect`. The
numbers in the queries come from the validated measures of ``screening.toml``; strings
are quoted by :func:`quote`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from benzosafe.clinical.medications import BENZODIAZEPINE
from benzosafe.knowledge.screening import (
    CobParams,
    DeprescribingParams,
    EscalationParams,
    LongTermParams,
    Measure,
    MultipleProviderParams,
)

BENZODIAZEPINES = BENZODIAZEPINE
HIGH_BAND = 3  # band codes: 1 low, 2 moderate, 3 high (limits from the dose-band data)
OPIOIDS = "opioids"
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

    def day(self, expr: str) -> str:
        return self.day_number.format(d=expr)

    def matches(self, expr: str, pattern: str) -> str:
        return self.regex_match.format(s=expr, p=quote(pattern))


DUCKDB = Dialect("duckdb", "date_diff('day', DATE '1970-01-01', {d})", "regexp_matches({s}, {p})")
SPARK = Dialect("spark", "unix_date({d})", "regexp_like({s}, {p})")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def in_list(column: str, values: Iterable[str]) -> str:
    items = [quote(v) for v in values]
    return f"{column} IN ({', '.join(items)})" if items else "1 = 0"


def as_date(d: Dialect, column: str, kind: str) -> str:
    """A column (ISO text, a date or a timestamp) as a DATE, NULL when it is not one."""
    if kind == "string":
        text = f"trim(CAST({column} AS STRING))"
        return f"CASE WHEN {d.matches(text, ISO_DATE)} THEN TRY_CAST({text} AS DATE) END"
    return f"TRY_CAST({column} AS DATE)"


def typed_sql(d: Dialect, columns: dict[str, str]) -> str:
    """The raw table with typed columns and the drug key, nothing dropped yet."""
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
FROM (SELECT *, {fill} AS fill, {birth} AS birth FROM raw) r0
"""


def checked_sql(d: Dialect) -> str:
    """Typed rows with their drug resolved, daily dose, and the first reason each is malformed."""
    strength = "COALESCE(t.strength_mg, m.map_strength_mg)"
    return f"""
SELECT t.fill_id, t.patient_id, t.days_supply, t.age, t.prescriber_id, t.pharmacy_id,
  m.ingredient, m.drug_class, m.de_per_mg, m.low_max_mg, m.moderate_max_mg,
  (t.quantity * {strength}) / t.days_supply AS daily_mg,
  {d.day("t.fill")} AS fill_day,
  CASE
    WHEN t.fill_id IS NULL OR t.fill_id = '' THEN 'missing_fill_id'
    WHEN t.patient_id IS NULL OR t.patient_id = '' THEN 'missing_patient_id'
    WHEN t.fill IS NULL THEN 'bad_fill_date'
    WHEN t.days_supply IS NULL OR t.days_supply <= 0 THEN 'bad_days_supply'
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
  COALESCE(m1.drug_class, m2.drug_class) AS drug_class,
  COALESCE(m1.de_per_mg, m2.de_per_mg) AS de_per_mg,
  COALESCE(m1.low_max_mg, m2.low_max_mg) AS low_max_mg,
  COALESCE(m1.moderate_max_mg, m2.moderate_max_mg) AS moderate_max_mg,
  COALESCE(m1.strength_mg, m2.strength_mg) AS map_strength_mg
FROM (SELECT DISTINCT CAST(drug AS STRING) AS drug, {key} AS k FROM raw) v
LEFT JOIN drug_map m1 ON m1.drug_key = v.k
LEFT JOIN drug_map m2 ON m2.drug_key = split_part(v.k, ' ', 1)
"""


def fills_sql(period_start: int, period_end: int) -> str:
    """Well-formed fills dated in the period, supply clipped to its end, doses and bands."""
    return f"""
SELECT fill_id, patient_id, fill_day,
  LEAST(fill_day + days_supply - 1, {period_end}) AS end_day,
  days_supply, ingredient, drug_class, age, prescriber_id, pharmacy_id,
  daily_mg * de_per_mg AS de_daily_mg,
  CASE WHEN low_max_mg IS NULL THEN NULL
    WHEN daily_mg <= low_max_mg + {EPSILON} THEN 1
    WHEN daily_mg <= moderate_max_mg + {EPSILON} THEN 2
    ELSE {HIGH_BAND} END AS band
FROM checked
WHERE reason IS NULL AND fill_day BETWEEN {period_start} AND {period_end}
"""


@dataclass(frozen=True)
class MeasureSQL:
    """One measure as queries over ``fills``: who it flags, on which fills, out of whom.

    ``prelude`` holds (name, query) tables to materialise first, in order; the other
    queries refer to them by name.
    """

    hits: str  # patient_id, value
    evidence: str  # patient_id, fill_id
    denominator: str  # patient_id
    levels: tuple[int, ...] = ()  # extra rates: hits whose value reaches each level
    prelude: tuple[tuple[str, str], ...] = ()
    not_evaluated: str | None = None  # patient_id: left out of the denominator, and why not


def islands_sql(classes: Iterable[str], gap: int) -> str:
    """Runs of supply per patient and class: fills merged when the gap is at most ``gap`` days."""
    part = "PARTITION BY patient_id, drug_class ORDER BY fill_day, end_day, fill_id"
    return f"""
SELECT patient_id, drug_class, isl, MIN(fill_day) AS s, MAX(end_day) AS e FROM (
  SELECT patient_id, drug_class, fill_day, end_day,
    SUM(brk) OVER ({part} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS isl
  FROM (
    SELECT patient_id, drug_class, fill_day, end_day, fill_id,
      CASE WHEN fill_day > MAX(end_day) OVER ({part}
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + 1 + {gap} THEN 1 ELSE 0 END AS brk
    FROM fills WHERE {in_list("drug_class", classes)}
  ) a
) b GROUP BY patient_id, drug_class, isl
"""


def _max_per_patient(expr: str, source: str) -> str:
    value = f"CAST(MAX({expr}) AS DOUBLE) AS value"
    return f"SELECT patient_id, {value} FROM {source} GROUP BY patient_id"


def _patients(where: str) -> str:
    return f"SELECT DISTINCT patient_id FROM fills WHERE {where}"


BZD = f"drug_class = '{BENZODIAZEPINES}'"


def cob_sql(p: CobParams, n: str) -> MeasureSQL:
    den = f"""
SELECT o.patient_id FROM (
  SELECT patient_id, COUNT(DISTINCT fill_day) AS claims, SUM(days_supply) AS supply,
    MIN(age) AS min_age
  FROM fills WHERE drug_class = '{OPIOIDS}' GROUP BY patient_id
) o LEFT JOIN (
  SELECT DISTINCT patient_id FROM exclusions WHERE {in_list("reason", p.exclusion_reasons)}
) x ON x.patient_id = o.patient_id
WHERE o.claims >= {p.min_opioid_claims} AND o.supply >= {p.min_opioid_days_supply}
  AND o.min_age >= {p.min_age_years} AND x.patient_id IS NULL
"""
    # Only patients of the denominator with enough benzodiazepine claims need islands.
    both = f"""
SELECT d.patient_id FROM {n}_den d JOIN (
  SELECT patient_id FROM fills WHERE {BZD} GROUP BY patient_id
  HAVING COUNT(DISTINCT fill_day) >= {p.min_benzodiazepine_claims}
) b ON b.patient_id = d.patient_id
"""
    isl = islands_sql([OPIOIDS, BENZODIAZEPINES], 0).replace(
        "FROM fills WHERE", f"FROM fills WHERE patient_id IN (SELECT patient_id FROM {n}_both) AND"
    )
    hits = f"""
SELECT bi.patient_id, CAST(SUM(LEAST(bi.e, oi.e) - GREATEST(bi.s, oi.s) + 1) AS DOUBLE) AS value
FROM {n}_isl bi JOIN {n}_isl oi
  ON oi.patient_id = bi.patient_id AND bi.s <= oi.e AND oi.s <= bi.e
WHERE bi.drug_class = '{BENZODIAZEPINES}' AND oi.drug_class = '{OPIOIDS}'
GROUP BY bi.patient_id
HAVING SUM(LEAST(bi.e, oi.e) - GREATEST(bi.s, oi.s) + 1) >= {p.min_overlap_days}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM fills f
JOIN __HITS__ h ON h.patient_id = f.patient_id
JOIN {n}_isl i ON i.patient_id = f.patient_id AND i.drug_class <> f.drug_class
  AND f.fill_day <= i.e AND i.s <= f.end_day
WHERE {in_list("f.drug_class", [OPIOIDS, BENZODIAZEPINES])}
"""
    prelude = ((f"{n}_den", den), (f"{n}_both", both), (f"{n}_isl", isl))
    return MeasureSQL(hits, evidence, f"SELECT patient_id FROM {n}_den", prelude=prelude)


def multiple_provider_sql(p: MultipleProviderParams, n: str) -> MeasureSQL:
    where = (
        f"drug_class = {quote(p.drug_class)} AND NOT {in_list('ingredient', p.exclude_ingredients)}"
    )
    cand = f"""
SELECT patient_id, fill_id, fill_day, prescriber_id, pharmacy_id FROM fills
WHERE {where} AND patient_id IN (
  SELECT patient_id FROM fills WHERE {where} GROUP BY patient_id
  HAVING COUNT(DISTINCT prescriber_id) >= {p.min_prescribers}
    AND COUNT(DISTINCT pharmacy_id) >= {p.min_pharmacies}
)
"""
    windows = f"""
SELECT a.patient_id, a.fill_day AS w0, COUNT(DISTINCT b.prescriber_id) AS np
FROM {n}_cand a JOIN {n}_cand b ON b.patient_id = a.patient_id
  AND b.fill_day >= a.fill_day AND b.fill_day <= a.fill_day + {p.window_days - 1}
GROUP BY a.patient_id, a.fill_day
HAVING COUNT(DISTINCT b.prescriber_id) >= {p.min_prescribers}
  AND COUNT(DISTINCT b.pharmacy_id) >= {p.min_pharmacies}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM {n}_cand f JOIN {n}_win w ON w.patient_id = f.patient_id
  AND f.fill_day >= w.w0 AND f.fill_day <= w.w0 + {p.window_days - 1}
"""
    # A fill without a prescriber or pharmacy id (OMOP has no pharmacy column) cannot count
    # towards the distinct providers: its patient, unless flagged anyway, is not evaluated
    # and leaves the denominator rather than counting as a silent negative.
    unknown = f"""
SELECT DISTINCT patient_id FROM fills
WHERE {where} AND (prescriber_id IS NULL OR pharmacy_id IS NULL)
  AND patient_id NOT IN (SELECT patient_id FROM {n}_hits)
"""
    return MeasureSQL(
        _max_per_patient("np", f"{n}_win"),
        evidence,
        _patients(where) + f" AND patient_id NOT IN ({unknown})",
        prelude=((f"{n}_cand", cand), (f"{n}_win", windows)),
        not_evaluated=unknown,
    )


def long_term_sql(p: LongTermParams, n: str) -> MeasureSQL:
    runs = f"""
SELECT patient_id, s, e FROM ({islands_sql([BENZODIAZEPINES], p.max_gap_days)}) r
WHERE e - s + 1 >= {p.min_run_days}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM fills f JOIN {n}_runs r ON r.patient_id = f.patient_id
  AND f.fill_day BETWEEN r.s AND r.e
WHERE f.{BZD}
"""
    return MeasureSQL(
        _max_per_patient("e - s + 1", f"{n}_runs"),
        evidence,
        _patients(BZD),
        prelude=((f"{n}_runs", runs),),
    )


def high_dose_sql() -> MeasureSQL:
    where = f"{BZD} AND band = {HIGH_BAND}"
    hits = _max_per_patient("de_daily_mg", f"fills WHERE {where}")
    evidence = f"SELECT patient_id, fill_id FROM fills WHERE {where}"
    return MeasureSQL(hits, evidence, _patients(f"{BZD} AND band IS NOT NULL"))


ENDS = f"""
SELECT patient_id, fill_id, fill_day, band, de_daily_mg, age, rn, n FROM (
  SELECT patient_id, fill_id, fill_day, band, de_daily_mg, age,
    ROW_NUMBER() OVER (PARTITION BY patient_id ORDER BY fill_day, fill_id) AS rn,
    COUNT(*) OVER (PARTITION BY patient_id) AS n
  FROM fills WHERE {BZD} AND band IS NOT NULL
) r WHERE rn = 1 OR rn = n
"""


def _pairs(n: str, where: str) -> tuple[tuple[str, str], ...]:
    """Preludes: first and last benzodiazepine fill (by day, then id), filled on 2+ days."""
    pairs = f"""
SELECT f.patient_id, f.fill_id AS first_id, l.fill_id AS last_id, f.band AS first_band,
  l.band AS last_band, f.de_daily_mg AS first_de, l.de_daily_mg AS last_de, f.age AS first_age
FROM {n}_ends f JOIN {n}_ends l ON l.patient_id = f.patient_id AND l.rn = l.n
WHERE f.rn = 1 AND l.fill_day > f.fill_day AND {where}
"""
    return ((f"{n}_ends", ENDS), (f"{n}_pairs", pairs))


def _pair_evidence(table: str, where: str) -> str:
    return f"""
SELECT patient_id, first_id AS fill_id FROM {table} WHERE {where}
UNION ALL SELECT patient_id, last_id AS fill_id FROM {table} WHERE {where}
"""


def escalation_sql(p: EscalationParams, n: str) -> MeasureSQL:
    rise = f"last_band - first_band >= {p.min_band_rise}"
    hits = f"SELECT patient_id, CAST(last_band - first_band AS DOUBLE) AS value FROM {n}_pairs"
    return MeasureSQL(
        f"{hits} WHERE {rise}",
        _pair_evidence(f"{n}_pairs", rise),
        f"SELECT patient_id FROM {n}_pairs",
        prelude=_pairs(n, "1 = 1"),
    )


def older_adult_sql(min_age: int) -> MeasureSQL:
    where = f"{BZD} AND age >= {min_age}"
    hits = _max_per_patient("age", f"fills WHERE {where}")
    evidence = f"SELECT patient_id, fill_id FROM fills WHERE {where}"
    return MeasureSQL(hits, evidence, _patients(f"{BZD} AND age IS NOT NULL"))


def deprescribing_sql(p: DeprescribingParams, n: str) -> MeasureSQL:
    eligible = f"f.age >= {p.min_age_years} AND f.de_daily_mg > 0"
    decrease = "(first_de - last_de) * 100.0 / first_de"
    reached = f"{decrease} >= {min(p.decrease_pct)} - {EPSILON}"
    return MeasureSQL(
        f"SELECT patient_id, {decrease} AS value FROM {n}_pairs WHERE {reached}",
        _pair_evidence(f"{n}_pairs", reached),
        f"SELECT patient_id FROM {n}_pairs",
        tuple(sorted(p.decrease_pct)),
        prelude=_pairs(n, eligible),
    )


def measure_sql(measure: Measure, name: str) -> MeasureSQL:
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
            return escalation_sql(params, name)
        case "older-adult":
            return older_adult_sql(params.min_age_years)
        case "deprescribing":
            return deprescribing_sql(params, name)
    raise AssertionError(measure.kind)  # pragma: no cover - the kinds are a closed Literal


def flags_sql(rule: str, m: MeasureSQL, hits: str) -> str:
    """One measure's flags: patient, value and the sorted fill ids that show why.

    ``hits`` names the table that holds the measure's materialised hits query.
    """
    evidence = m.evidence.replace("__HITS__", hits)
    return f"""
SELECT {quote(rule)} AS rule, h.patient_id, h.value, e.evidence
FROM {hits} h JOIN (
  SELECT patient_id, array_sort(array_agg(fill_id)) AS evidence
  FROM (SELECT DISTINCT patient_id, fill_id FROM ({evidence}) ev) d GROUP BY patient_id
) e ON e.patient_id = h.patient_id
"""
