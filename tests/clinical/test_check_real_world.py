"""The check against what clinics send (issue #16): co-medications as prescribers, pharmacies
and EHRs write them, opioid use disorder treatment, Beers exceptions, children and
adolescents, the highest labelled maximum, liquids by volume.

Besides the issue's own strings, product names and NDCs are read from the CDC workbook in
../shared/vectors (skipped when absent), not typed here.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.check import CheckReport, Order, Patient, check_prescription, check_raw
from benzosafe.clinical.medications import find_benzodiazepine, ordered_drug
from benzosafe.clinical.resolve import Resolved, resolve
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.units import parse_frequency

KB = load()
VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
WORKBOOK = VECTORS / "cdc-mme" / "CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx"
ORDER = {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "bid", "indication": "panic-disorder"}


def check(also: list[str], order: dict[str, Any] | None = None, **patient: Any) -> CheckReport:
    return check_raw(order or ORDER, {"age": 45, "also_taking": also, **patient}, KB)


def codes(report: CheckReport) -> set[str]:
    return {f.code for f in report.findings}


ISSUE_OPIOIDS = [
    ("oxycodone/acetaminophen 5/325 mg q6h", "30"),
    ("Percocet", None),
    ("Norco 10/325", None),
    ("Tylenol #3", None),
    ("Suboxone 8/2 mg daily", None),
    ("promethazine with codeine 5 mL q4h", "9"),
]


@pytest.mark.parametrize(("text", "mme"), ISSUE_OPIOIDS)
def test_the_issues_opioids_give_a_concurrent_opioid_finding(text: str, mme: str | None) -> None:
    report = check([text])
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert finding.severity == "critical" and "unknown-co-medication" not in codes(report)
    if mme is None:
        assert "MME/day unknown" in finding.summary
        reasons = [n.reason for n in report.not_evaluated if n.rule == "BZD-OPIOID"]
        assert len(reasons) == 1 and text in reasons[0]
    else:
        assert f"{mme} MME/day" in finding.summary


def test_a_liquid_by_volume_gives_the_opioids_mg_and_mme() -> None:
    report = check(["promethazine with codeine 5 mL q4h"])
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert "codeine 60 mg/day = 9 MME/day" in finding.detail  # 2 mg/mL x 5 mL x 6 x 0.15


def test_a_liquid_without_a_concentration_is_not_evaluated_with_the_reason() -> None:
    report = check(["Percocet 5 mL q4h"])
    reasons = [n.reason for n in report.not_evaluated if n.rule == "BZD-OPIOID"]
    assert reasons and "mL" in reasons[0] and "concentration" in reasons[0]


def test_combination_mme_comes_from_the_opioids_strength_alone() -> None:
    report = check(["Norco 10/325 q6h", "Tylenol #3 1 tab q4h"])
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    # hydrocodone 10 mg x 4 x 1.0 = 40; codeine 30 mg x 6 x 0.15 = 27; acetaminophen: none
    assert "67 MME/day" in finding.summary
    assert "hydrocodone 40 mg/day = 40 MME/day" in finding.detail
    assert "codeine 180 mg/day = 27 MME/day" in finding.detail


def test_a_combination_counts_every_ingredient() -> None:
    """Fioricet with Codeine: butalbital (a barbiturate) and codeine (an opioid)."""
    report = check(["Fioricet with Codeine 1 cap q4h"])
    assert {"concurrent-opioid", "concurrent-cns-depressant"} <= codes(report)
    (opioid,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert "27 MME/day" in opioid.summary  # codeine 30 mg x 6 x 0.15


@pytest.mark.parametrize(
    "text",
    ["Suboxone 8/2 mg daily", "Zubsolv", "Sublocade", "Butrans 10 mcg/h", "methadone 60 mg daily"],
)
def test_opioid_use_disorder_treatment_is_kept_and_naloxone_offered(text: str) -> None:
    report = check([text])
    (oud,) = [f for f in report.findings if f.code == "opioid-use-disorder-treatment"]
    assert "do not stop or reduce" in oud.summary and "naloxone" in oud.summary
    assert "coordinate care" in oud.summary and "J1" in {s.ref for s in oud.sources}
    assert any(s.section.startswith("p10") for s in oud.sources if s.ref == "J1")
    assert "concurrent-opioid" in codes(report)


def test_buprenorphine_has_no_mme_factor_and_the_report_says_so() -> None:
    report = check(["Suboxone 8/2 mg daily"])
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert "no MME conversion factor" in finding.detail and "buprenorphine" in finding.detail


def test_an_unknown_name_is_a_warning_naming_it_and_the_check_is_not_clean() -> None:
    report = check(["Zyxolam 5 mg bid"])
    (finding,) = [f for f in report.findings if f.code == "unknown-co-medication"]
    assert finding.severity == "warning"
    assert finding.summary == (
        "Could not identify Zyxolam 5 mg bid: check it for opioids and CNS depressants by hand"
    )
    assert report.worst() == "warning"


def test_an_ambiguous_name_lists_its_candidates() -> None:
    report = check(["D-REX 65"])
    (finding,) = [f for f in report.findings if f.code == "unknown-co-medication"]
    assert finding.summary.startswith("D-REX 65 fits 3 drugs")
    for candidate in ("acetaminophen/propoxyphene", "aspirin/caffeine/propoxyphene"):
        assert candidate in finding.detail
    # propoxyphene in every candidate: an opioid whichever was meant
    assert "concurrent-opioid" in codes(report)


def test_an_unidentified_name_that_names_an_opioid_counts_as_one() -> None:
    report = check(["codeine/guaifenesin 10 mL q4h"])
    assert {"concurrent-opioid", "unknown-co-medication"} <= codes(report)


def test_older_adult_with_a_beers_exception_is_information_naming_it() -> None:
    order = {**ORDER, "indication": "seizure-disorder", "frequency": "tid"}
    (finding,) = [f for f in check([], order, age=72).findings if f.code == "older-adult"]
    assert finding.severity == "info" and "seizure disorders" in finding.summary
    assert "may be appropriate" in finding.summary
    for other in ("REM sleep behaviour disorder", "alcohol withdrawal", "periprocedural"):
        assert other in finding.detail


def test_older_adult_without_an_exception_is_a_warning_that_names_the_exceptions() -> None:
    (finding,) = [f for f in check([], age=72).findings if f.code == "older-adult"]
    assert finding.severity == "warning" and "seizure disorders" in finding.detail


def test_panic_disorder_below_18_is_not_established() -> None:
    report = check([], age=15, weight="50 kg")
    (finding,) = [f for f in report.findings if f.code == "safety-not-established"]
    assert "not established below 18" in finding.summary
    assert "safety-not-established" not in codes(check([], age=18))


def test_a_childs_dose_above_the_maintenance_range_is_not_called_a_maximum() -> None:
    order = {"drug": "clonazepam", "dose": "1.5 mg", "frequency": "tid",
             "indication": "seizure-disorder", "prior_dose": "4.5 mg/day",
             "prior_start": "2026-01-01", "start": "2026-11-20"}  # fmt: skip
    report = check([], order, age=6, weight="20 kg")
    (finding,) = [f for f in report.findings if f.code == "above-maintenance-range"]
    assert "above the labelled maintenance range 0.1-0.2 mg/kg/day" in finding.summary
    assert "dose-above-maximum" not in codes(report)


@pytest.mark.parametrize("indication", ["catatonia", "anxiety", None])
def test_above_the_highest_labelled_maximum_whatever_the_indication(
    indication: str | None,
) -> None:
    order = Order("clonazepam", Decimal(6), parse_frequency("qid"), indication)
    report = check_prescription(order, Patient(Decimal(40)), KB)
    (finding,) = [f for f in report.findings if f.code == "dose-above-maximum"]
    assert finding.rule == "CLZ-DOSE-HIGHEST-MAX" and finding.severity == "critical"
    assert "20 mg/day" in finding.summary
    quiet = Order("clonazepam", Decimal(5), parse_frequency("qid"), indication)
    assert "dose-above-maximum" not in codes(check_prescription(quiet, Patient(Decimal(40)), KB))


def test_the_ordered_drug_by_liquid_volume_uses_the_concentration() -> None:
    order = {**ORDER, "drug": "diazepam 5 mg/5 mL oral solution", "dose": "2 mL",
             "indication": "anxiety"}  # fmt: skip
    assert check([], order).daily_dose_mg == Decimal(4)
    vague = check([], {**order, "drug": "diazepam"})
    assert vague.daily_dose_mg is None
    assert any("differ in concentration" in n.reason for n in vague.not_evaluated)


def test_every_class_table_name_is_the_benzodiazepine_the_resolver_finds() -> None:
    """The check looks class-table names up directly (no index on a cold start): the same
    answer the resolver gives."""
    for entry in KB.benzodiazepines.values():
        for name in (entry.id, *entry.names, *entry.brands):
            assert find_benzodiazepine(KB, name) == entry
            resolved = resolve(KB.products, name)
            assert isinstance(resolved, Resolved) and entry.id in resolved.ingredients, name


# --- names and codes read from the CDC workbook ---------------------------------------------


@pytest.fixture(scope="module")
def workbook() -> dict[str, list[tuple[Any, ...]]]:
    if not WORKBOOK.exists():
        pytest.skip(f"CDC workbook not found at {WORKBOOK} (../shared/vectors)")
    import openpyxl

    book = openpyxl.load_workbook(WORKBOOK, read_only=True)
    rows = {s: list(book[s].iter_rows(values_only=True))[1:] for s in ("Opioids", "Benzos")}
    book.close()
    return rows


def test_no_opioid_of_the_workbook_leaves_the_check_clean(
    workbook: dict[str, list[tuple[Any, ...]]],
) -> None:
    """Every 30th opioid row: its NDC (hyphenated) and its product name with its strength and
    a frequency, as co-medications. Each gives concurrent-opioid, or (a name of several
    drugs) unknown-co-medication: never silence."""
    for row in workbook["Opioids"][::30]:
        ndc, name, strength, unit = str(row[0]), row[2], row[9], row[10]
        hyphenated = f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}"
        assert "concurrent-opioid" in codes(check([hyphenated])), row
        written = f"{name} {strength} {str(unit).lower()} q6h" if strength and unit else name
        found = codes(check([written]))
        assert found & {"concurrent-opioid", "unknown-co-medication"}, (written, found)


def test_benzodiazepine_ndcs_of_the_workbook_are_the_ordered_drug(
    workbook: dict[str, list[tuple[Any, ...]]],
) -> None:
    for row in workbook["Benzos"][::50]:
        drug = str(row[6]).removesuffix(" SA").removesuffix(" LA").lower()
        found = ordered_drug(KB, str(row[0]), "order.drug")
        if drug in KB.benzodiazepines:
            assert found.entry is not None and found.entry.id == drug, row
        else:
            assert found.entry is None and found.why_not(), row


# --- hostile input ---------------------------------------------------------------------------

NAMEISH = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[0-9A-Za-z]{1,6}([- /#.][0-9A-Za-z]{1,6}){0,4}( [0-9.]{1,4} ?(mg|mL|mcg/h))?"
                  r"( (q[0-9]h|bid|tid|daily|prn))?", fullmatch=True),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(NAMEISH)
def test_any_co_medication_text_is_a_finding_or_an_error_naming_the_field(text: str) -> None:
    """Whatever is written: a report in which an unidentified name is a finding of its own,
    or an InvalidInput naming the field (an empty text, a malformed NDC); nothing else."""
    try:
        report = check([text])
    except InvalidInput as exc:
        assert exc.field == "patient.also_taking[0]"
        return
    unknown = [f for f in report.findings if f.code == "unknown-co-medication"]
    resolution = resolve(KB.products, text)
    assert bool(unknown) is (not isinstance(resolution, Resolved))
