"""The first steps of a screen: the raw table typed, each row checked, the drug resolved, and
the well-formed fills of the period kept, slim.

:func:`typed_sql` casts the raw columns (ISO text, dates or timestamps; a birth date or an
age), :func:`checked_sql` joins each row's drug to ``drug_resolved`` (each distinct value
resolved once, by :func:`benzosafe.population.screen.resolved_rows`) and names the first
reason a row is malformed (:data:`REASONS`), and :func:`fills_sql` keeps the fills of the
period with their day numbers, daily dose, diazepam equivalent and dose band, the drug class
as a small integer (:data:`CLASS_CODES`) and the patient as a 64-bit key.
:func:`patient_range` selects one part of a screen in parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from benzosafe.clinical.medications import BENZODIAZEPINE, OPIOID
from benzosafe.population.sql.dialect import Dialect, quote

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

# The two classes the measures name, and the condition that a fill is of one.
BZD = CLASS_CODES[BENZODIAZEPINE]
OPIOIDS = CLASS_CODES[OPIOID]
BZD_FILL = f"cls = {BZD}"
OPIOID_FILL = f"cls = {OPIOIDS}"


def class_code(drug_class: str) -> int:
    return CLASS_CODES.get(drug_class, OTHER_CLASS)


def codes_in(column: str, ingredients: Iterable[str], codes: Mapping[str, int]) -> str:
    """``column`` (an ingredient code, as ``codes`` gives them) is one of the named
    ingredients."""
    known = sorted(codes[i] for i in ingredients if i in codes)
    return f"{column} IN ({', '.join(map(str, known))})" if known else "1 = 0"


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
