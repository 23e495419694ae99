"""Each screening measure fires on its own fire cases and stays silent on the others.

All cases of ``screening.toml`` are screened together once (one patient per case) on
DuckDB; one parametrized test then checks each case, window edges included.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from benzosafe.knowledge import load
from benzosafe.knowledge.screening import Measure, MeasureCase
from benzosafe.population.engines import DuckDBEngine, Engine, SparkEngine
from benzosafe.population.records import DispensingRecord, write_records
from benzosafe.population.screen import ScreenOptions, ScreenResult, flag_rows, screen

from .conftest import CASE_START, case_patient

CASES = [
    pytest.param(m, i, c, id=f"{m.id}:{c.name}")
    for m in load().screening.measure
    for i, c in enumerate(m.cases)
]


@pytest.fixture(scope="module")
def screened(
    cases_file: tuple[Path, list[tuple[str, str]]],
) -> tuple[ScreenResult, set[tuple[str, str]]]:
    path, exclusions = cases_file
    engine = DuckDBEngine()
    result = screen(engine, path, "parquet", load(), ScreenOptions(exclusions=tuple(exclusions)))
    flags = {(patient, rule) for patient, rule, _, _ in flag_rows(engine)}
    engine.close()
    return result, flags


@pytest.mark.parametrize(("measure", "index", "case"), CASES)
def test_measure_case(
    screened: tuple[ScreenResult, set[tuple[str, str]]],
    measure: Measure,
    index: int,
    case: MeasureCase,
) -> None:
    _, flags = screened
    fired = (case_patient(measure.id, index), measure.id) in flags
    assert fired == case.fires, f"{measure.id} {case.name}: fired={fired}"


def test_case_table_has_no_malformed_rows(
    screened: tuple[ScreenResult, set[tuple[str, str]]],
) -> None:
    result, _ = screened
    assert result.malformed == {}
    assert result.rows_read == result.rows_screened


def test_evidence_names_the_fills_behind_a_flag(
    cases_file: tuple[Path, list[tuple[str, str]]],
) -> None:
    path, _ = cases_file
    engine = DuckDBEngine()
    screen(engine, path, "parquet", load(), ScreenOptions(measures=("SCR-COB",)))
    rows = {(p, r): e for p, r, _, e in flag_rows(engine)}
    # "exactly 30 overlap days": the first opioid fill (days 0-29) overlaps no benzodiazepine.
    patient = case_patient("SCR-COB", 0)
    assert rows[(patient, "SCR-COB")] == [f"{patient}/1", f"{patient}/2", f"{patient}/3"]


def test_multiple_provider_thresholds_are_configurable(
    cases_file: tuple[Path, list[tuple[str, str]]],
) -> None:
    path, _ = cases_file
    engine = DuckDBEngine()
    options = ScreenOptions(measures=("SCR-MPE-OPIOID",), min_pharmacies=4)
    screen(engine, path, "parquet", load(), options)
    flagged = {p for p, _, _, _ in flag_rows(engine)}
    # "5 prescribers but 4 pharmacies" fires once 4 pharmacies are enough.
    assert case_patient("SCR-MPE-OPIOID", 2) in flagged


def test_the_screen_reads_the_knowledge_it_is_given(
    cases_file: tuple[Path, list[tuple[str, str]]],
) -> None:
    # An altered bundle (the older-adult age raised past any patient's) changes the flags and
    # is named in the result: the screen loads no knowledge of its own.
    path, _ = cases_file
    kb = load()
    older = [
        m.model_copy(update={"params": {**m.params, "min_age_years": 200}})
        if m.kind == "older-adult"
        else m
        for m in kb.screening.measure
    ]
    screening = kb.screening.model_copy(update={"measure": older, "version": "altered"})
    altered = kb.model_copy(update={"screening": screening})
    options = ScreenOptions(measures=("SCR-BZD-OLDER-ADULT",))
    flags = {}
    for name, knowledge in (("packaged", kb), ("altered", altered)):
        engine = DuckDBEngine()
        result = screen(engine, path, "parquet", knowledge, options)
        engine.close()
        flags[name] = result.flags["SCR-BZD-OLDER-ADULT"]
    assert flags["packaged"] > 0 and flags["altered"] == 0
    assert result.screening_version == "altered"


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_window_of_any_length_is_added_to_a_day_without_overflow(
    cases_file: tuple[Path, list[tuple[str, str]]],
    request: pytest.FixtureRequest,
    engine_name: str,
) -> None:
    # Days are INT in the fills; a window of 2^31 - 1 days added to one must not overflow.
    path, _ = cases_file
    flagged = []
    for window in (100_000, 2**31 - 1):
        options = ScreenOptions(measures=("SCR-MPE-OPIOID",), window_days=window)
        flagged.append(_screen_on(engine_name, request, path, options)[1])
    assert flagged[0] and flagged[1] == flagged[0]


def _screen_on(
    engine_name: str, request: pytest.FixtureRequest, path: Path, options: ScreenOptions
) -> tuple[ScreenResult, list[tuple[str, str, float, list[str]]]]:
    """Screen ``path`` on the named engine (Spark: the session fixture): result and flags."""
    engine: Engine
    if engine_name == "duckdb":
        engine = DuckDBEngine()
    else:
        engine = SparkEngine(session=request.getfixturevalue("spark"))
    result = screen(engine, path, "parquet", load(), options)
    rows = flag_rows(engine)
    engine.close()
    return result, rows


def _fill(patient: str, n: int, day: int, drug: str, days: int) -> DispensingRecord:
    return DispensingRecord(
        fill_id=f"{patient}/{n}",
        patient_id=patient,
        birth_date="1980-01-01",
        fill_date=(CASE_START + timedelta(days=day)).isoformat(),
        drug=drug,
        quantity=float(days),
        days_supply=days,
        strength_mg=0.5,
        prescriber_id="D1",
        pharmacy_id="R1",
    )


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_early_refill_counts_refills_names_both_fills_and_its_denominator(
    engine_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "early.parquet"
    write_records(
        [
            # two early refills (day 10 of 30, then day 20 of 30), then one on time
            _fill("twice", 0, 0, "clonazepam", 30),
            _fill("twice", 1, 10, "clonazepam", 30),
            _fill("twice", 2, 20, "clonazepam", 30),
            _fill("twice", 3, 50, "clonazepam", 30),
            # refilled at exactly 75% of a 20-day supply: in the denominator, not flagged
            _fill("on-time", 0, 0, "lorazepam", 20),
            _fill("on-time", 1, 15, "lorazepam", 20),
            # a supply of 2 million days (still ending before year 9999) is compared in
            # 64-bit integers; one past year 9999 is a malformed days' supply
            _fill("huge", 0, 0, "diazepam", 2_000_000),
            _fill("huge", 1, 30, "diazepam", 30),
            _fill("past-9999", 0, 0, "diazepam", 100_000_000),
            # three fills on day 0 are one dispensing with the shortest supply (30 days):
            # refilled on day 20, early; of the two 30-day fills, the lowest id is named
            _fill("same-day", 2, 0, "clonazepam", 30),
            _fill("same-day", 1, 0, "clonazepam", 30),
            _fill("same-day", 0, 0, "clonazepam", 60),
            _fill("same-day", 3, 20, "clonazepam", 30),
            # one fill, and two different benzodiazepines: no refill to judge
            _fill("once", 0, 0, "alprazolam", 30),
            _fill("switch", 0, 0, "alprazolam", 30),
            _fill("switch", 1, 3, "diazepam", 30),
        ],
        path,
    )
    period = ScreenOptions(
        period_start=CASE_START,
        period_end=CASE_START + timedelta(days=365),
        measures=("SCR-BZD-EARLY-REFILL",),
    )
    result, rows = _screen_on(engine_name, request, path, period)
    assert rows == [
        ("huge", "SCR-BZD-EARLY-REFILL", 1.0, ["huge/0", "huge/1"]),
        ("same-day", "SCR-BZD-EARLY-REFILL", 1.0, ["same-day/1", "same-day/3"]),
        ("twice", "SCR-BZD-EARLY-REFILL", 2.0, ["twice/0", "twice/1", "twice/2"]),
    ]
    (rate,) = result.rates
    assert (rate.numerator, rate.denominator) == (3, 4)
    assert result.malformed == {"bad_days_supply": 1}
    assert result.draft_rules == ["SCR-BZD-EARLY-REFILL"]


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_fill_listed_twice_is_named_once_in_the_evidence(
    tmp_path: Path, request: pytest.FixtureRequest, engine_name: str
) -> None:
    # Four 30-day fills in a row (a 120-day run), of a patient of 74; fill 1 is in the input
    # twice. Older-adult evidence comes from a list the summary gathers, long-term evidence
    # from a join: both name fill 1 once, in order.
    old = [
        replace(_fill("old", n, 30 * n, "clonazepam", 30), birth_date="1949-12-31")
        for n in (0, 1, 1, 2, 3)
    ]
    path = tmp_path / "twice.parquet"
    write_records(old, path)
    options = ScreenOptions(measures=("SCR-BZD-LONG-TERM", "SCR-BZD-OLDER-ADULT"))
    _, rows = _screen_on(engine_name, request, path, options)
    evidence = ["old/0", "old/1", "old/2", "old/3"]
    assert rows == [
        ("old", "SCR-BZD-LONG-TERM", 120.0, evidence),
        ("old", "SCR-BZD-OLDER-ADULT", 74.0, evidence),
    ]


def end_day_twins() -> list[DispensingRecord]:
    """Fills given twice on a patient's first or last banded day, with different values.

    Fill dup/0 is in the input twice: once without a birth date, once of a patient of 74.
    Both have one dose band and dose, so the age decides which is the first fill: the known
    one (so is drop/0). Fill dup/2 is given twice on the last day, in the moderate and in
    the low band: the higher band is the last fill, so the dose rose from the low band to
    the moderate one; drop's fell by half, from 1 to 0.5 mg a day.
    """
    first = replace(_fill("dup", 0, 0, "clonazepam", 30), birth_date="1949-12-31")
    low = replace(_fill("dup", 2, 60, "clonazepam", 30), birth_date="1949-12-31")
    moderate = replace(low, quantity=60.0)  # 1 mg a day: clonazepam's moderate band
    drop = replace(_fill("drop", 0, 0, "clonazepam", 30), birth_date="1949-12-31", quantity=60.0)
    return [
        replace(first, birth_date=None),
        first,
        moderate,
        low,
        drop,
        replace(drop, birth_date=None),
        replace(_fill("drop", 1, 60, "clonazepam", 30), birth_date="1949-12-31"),
    ]


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_a_fill_given_twice_on_an_end_day_is_taken_the_same_way_by_both_engines(
    tmp_path: Path, request: pytest.FixtureRequest, engine_name: str
) -> None:
    # Spark orders a NULL struct field before the values and DuckDB after them, so the
    # engines took different first fills of dup and drop (and disagreed on deprescribing)
    # until the struct compared no_age before the age.
    path = tmp_path / "twice.parquet"
    write_records(end_day_twins(), path)
    options = ScreenOptions(measures=("SCR-BZD-ESCALATION", "SCR-BZD-DEPRESCRIBING"))
    result, rows = _screen_on(engine_name, request, path, options)
    assert rows == [
        ("drop", "SCR-BZD-DEPRESCRIBING", 50.0, ["drop/0", "drop/1"]),
        ("dup", "SCR-BZD-ESCALATION", 1.0, ["dup/0", "dup/2"]),
    ]
    assert {(r.rule, r.label): (r.numerator, r.denominator) for r in result.rates} == {
        ("SCR-BZD-ESCALATION", "benzodiazepine-dose-escalation"): (1, 2),
        ("SCR-BZD-DEPRESCRIBING", "decrease >= 10%"): (1, 2),
        ("SCR-BZD-DEPRESCRIBING", "decrease >= 25%"): (1, 2),
        ("SCR-BZD-DEPRESCRIBING", "decrease >= 50%"): (1, 2),
    }
