"""The measures that compare a patient's first and last benzodiazepine fill with a dose band:
escalation (the band rose) and deprescribing (the dose fell, in an older adult).

Both read the prelude ``bz_ends`` (:func:`_ends_table`), made once for the patients whose
banded fills span two or more days, from the two summary columns of :data:`ENDS`.
"""

from __future__ import annotations

from benzosafe.knowledge.screening import DeprescribingParams, EscalationParams
from benzosafe.population.sql.dialect import Dialect, when
from benzosafe.population.sql.inputs import BZD, BZD_FILL, EPSILON
from benzosafe.population.sql.summaries import (
    Agg,
    MeasureSQL,
    Summary,
    distinct_at_least,
    patients_where,
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
  MIN({when("f.fill_day = p.bz_banded_first", first)}) AS bz_first,
  MAX({when("f.fill_day = p.bz_banded_last", d.struct(fields))}) AS bz_last
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


# Benzodiazepine fills on two or more days whose fills with a dose band do not span two
# days (a drug without a diazepam equivalent, such as midazolam): first and last cannot be
# compared, so the patient is not evaluated. ``patients`` as ``p``.
_BZ_DAYS, _TWO_DAYS = distinct_at_least("bz_day", BZD, "", "fill_day", 2)
_NO_BANDED_SPAN = (
    f"{_TWO_DAYS} AND (p.bz_banded_first IS NULL OR p.bz_banded_last = p.bz_banded_first)"
)


def escalation_sql(p: EscalationParams, n: str, d: Dialect) -> MeasureSQL:
    rise = f"last_band - first_band >= {p.min_band_rise}"
    hits = f"SELECT patient_id, CAST(last_band - first_band AS DOUBLE) AS value FROM {n}_pairs"
    return MeasureSQL(
        f"{hits} WHERE {rise}",
        _pair_evidence(f"{n}_pairs", rise),
        f"SELECT patient_id FROM {n}_pairs",
        prelude=_pairs(n, "1 = 1", d),
        not_evaluated=(("no_dose_band", patients_where(_NO_BANDED_SPAN)),),
        summary=(*ENDS, *_BZ_DAYS),
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
        # No age on the first fill: not known to be an older adult. No banded span: as
        # escalation, of the patients who may be older adults (an age, if any, of min_age).
        not_evaluated=(
            ("no_age", "SELECT patient_id FROM bz_ends WHERE bz_first.age IS NULL"),
            (
                "no_dose_band",
                patients_where(
                    f"{_NO_BANDED_SPAN} AND (p.bz_max_age IS NULL "
                    f"OR p.bz_max_age >= {p.min_age_years})"
                ),
            ),
        ),
        summary=(*ENDS, *_BZ_DAYS, ("bz_max_age", Agg("MAX", "age", BZD))),
    )
