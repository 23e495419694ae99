"""Each kind of screening measure as queries over ``fills`` and ``patients``, and one
measure's flags.

:func:`measure_sql` picks the queries of a measure of ``screening.toml`` by its kind:
concurrent opioid and benzodiazepine use and long-term use (runs of supply, :mod:`.runs`),
multiple providers (distinct prescribers and pharmacies in a window), high dose and older
adults (read from the summary alone), early refills (the ``bz_seq`` window), escalation and
deprescribing (first against last fill, :mod:`.first_last`). :func:`flags_sql` turns a
measure's hits and evidence into its flags.
"""

from __future__ import annotations

from collections.abc import Mapping

from benzosafe.knowledge.screening import (
    CobParams,
    EarlyRefillParams,
    LongTermParams,
    Measure,
    MultipleProviderParams,
)
from benzosafe.population.sql.dialect import Dialect, days, in_list, quote
from benzosafe.population.sql.first_last import ENDS, deprescribing_sql, escalation_sql
from benzosafe.population.sql.inputs import (
    BZD,
    BZD_FILL,
    HIGH_BAND,
    OPIOID_FILL,
    OPIOIDS,
    class_code,
    codes_in,
)
from benzosafe.population.sql.runs import BZ_SEQ, fills_of, islands_sql, runs_sql
from benzosafe.population.sql.summaries import (
    Agg,
    MeasureSQL,
    distinct_at_least,
    fill_list,
    patient_values,
    patients_where,
)


def cob_sql(p: CobParams, n: str) -> MeasureSQL:
    op_days, op_claims = distinct_at_least("op_day", OPIOIDS, "", "fill_day", p.min_opioid_claims)
    bz_days, bz_claims = distinct_at_least(
        "bz_day", BZD, "", "fill_day", p.min_benzodiazepine_claims
    )
    summary = (
        *op_days,
        ("op_supply", Agg("SUM", "days_supply", OPIOIDS)),
        ("op_min_age", Agg("MIN", "age", OPIOIDS)),
        *bz_days,
    )
    # The opioid claims and supply of the denominator, no exclusion; then the age.
    eligible = f"""
SELECT p.patient_id, p.op_min_age FROM patients p LEFT JOIN (
  SELECT DISTINCT patient_id FROM exclusions WHERE {in_list("reason", p.exclusion_reasons)}
) x ON x.patient_id = p.patient
WHERE {op_claims} AND p.op_supply >= {p.min_opioid_days_supply} AND x.patient_id IS NULL
"""
    den = f"SELECT patient_id FROM ({eligible}) e WHERE op_min_age >= {p.min_age_years}"
    # Without an age on any opioid fill the patient cannot be told an adult: not evaluated.
    no_age = f"SELECT patient_id FROM ({eligible}) e WHERE op_min_age IS NULL"
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
        hits,
        evidence,
        f"SELECT patient_id FROM {n}_den",
        prelude=prelude,
        not_evaluated=(("no_age", no_age),),
        summary=summary,
    )


def multiple_provider_sql(
    p: MultipleProviderParams, n: str, codes: Mapping[str, int]
) -> MeasureSQL:
    cls, kept = class_code(p.drug_class), f"NOT {codes_in('ing', p.exclude_ingredients, codes)}"
    where = f"cls = {cls} AND {kept}"
    # A fill without a prescriber or pharmacy id (OMOP has no pharmacy column) cannot count
    # towards the distinct providers: its patient, unless flagged anyway, is not evaluated
    # and leaves the denominator rather than counting as a silent negative.
    # The summary rules out most patients cheaply (too few fills, or one prescriber or one
    # pharmacy); the distinct counts run on the fills of the others only.
    prescribers, two_prescribers = distinct_at_least(
        f"{n}_prescriber", cls, kept, "prescriber_id", min(p.min_prescribers, 2)
    )
    pharmacies, two_pharmacies = distinct_at_least(
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
  AND b.fill_day >= a.fill_day AND b.fill_day <= a.fill_day + {days(p.window_days - 1)}
GROUP BY a.patient_id, a.fill_day
HAVING COUNT(DISTINCT b.prescriber_id) >= {p.min_prescribers}
  AND COUNT(DISTINCT b.pharmacy_id) >= {p.min_pharmacies}
"""
    evidence = f"""
SELECT f.patient_id, f.fill_id FROM {n}_cand f JOIN {n}_win w ON w.patient_id = f.patient_id
  AND f.fill_day >= w.w0 AND f.fill_day <= w.w0 + {days(p.window_days - 1)}
"""
    hit = f"patient_id IN (SELECT patient_id FROM {n}_hits)"
    return MeasureSQL(
        f"SELECT patient_id, CAST(MAX(np) AS DOUBLE) AS value FROM {n}_win GROUP BY patient_id",
        evidence,
        patients_where(f"{n}_fills > 0 AND ({n}_unknown IS NULL OR {hit})"),
        prelude=((f"{n}_pre", pre), (f"{n}_cand", cand), (f"{n}_win", windows)),
        not_evaluated=(
            ("no_prescriber_or_pharmacy_id", patients_where(f"{n}_unknown = 1 AND NOT {hit}")),
        ),
        summary=summary,
    )


def long_term_sql(p: LongTermParams, n: str) -> MeasureSQL:
    bz_days, any_bz = distinct_at_least("bz_day", BZD, "", "fill_day", 1)
    summary = (*bz_days, ("bz_last_end", Agg("MAX", "end_day", BZD)))
    bz_ings, two_ings = distinct_at_least("bz_ing", BZD, "", "ing", 2)
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
        fills_of(f"{long_enough} AND {two_ings}", f"f.{BZD_FILL}"), p.max_gap_days
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
        patients_where(any_bz),
        prelude=(BZ_SEQ, (f"{n}_runs", runs)),
        summary=summary,
    )


def high_dose_sql() -> MeasureSQL:
    high = f"band = {HIGH_BAND}"
    fills, evidence = fill_list("bz_high_fills", BZD, high)
    bz_days, any_bz = distinct_at_least("bz_day", BZD, "", "fill_day", 1)
    summary = (
        ("bz_high_de", Agg("MAX", "de_daily_mg", BZD, high)),
        ENDS[0],  # a first banded day: the patient has a fill with a dose band
        fills,
        *bz_days,
    )
    # Benzodiazepines none of which has a dose band (midazolam: no diazepam equivalent).
    no_band = patients_where(f"{any_bz} AND p.bz_banded_first IS NULL")
    return MeasureSQL(
        patient_values("bz_high_de", "bz_high_de IS NOT NULL"),
        evidence,
        patients_where("bz_banded_first IS NOT NULL"),
        not_evaluated=(("no_dose_band", no_band),),
        summary=summary,
        evidence_lists=True,
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
    bz_days, two_days = distinct_at_least("bz_day", BZD, "", "fill_day", 2)
    bz_ings, two_ings = distinct_at_least("bz_ing", BZD, "", "ing", 2)
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
    fills, evidence = fill_list("bz_old_fills", BZD, f"age >= {min_age}")
    bz_days, any_bz = distinct_at_least("bz_day", BZD, "", "fill_day", 1)
    return MeasureSQL(
        patient_values("bz_max_age", f"bz_max_age >= {min_age}"),
        evidence,
        patients_where("bz_max_age IS NOT NULL"),
        not_evaluated=(("no_age", patients_where(f"{any_bz} AND p.bz_max_age IS NULL")),),
        summary=(("bz_max_age", Agg("MAX", "age", BZD)), fills, *bz_days),
        evidence_lists=True,
    )


def measure_sql(measure: Measure, name: str, d: Dialect, codes: Mapping[str, int]) -> MeasureSQL:
    """The queries of one measure; its prelude tables are named ``{name}_...``; ``codes`` are
    the ingredient codes of the fills (:func:`~benzosafe.population.drugs.ingredient_codes`)."""
    params = measure.typed_params()
    match measure.kind:
        case "cob":
            return cob_sql(params, name)
        case "multiple-provider":
            return multiple_provider_sql(params, name, codes)
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
