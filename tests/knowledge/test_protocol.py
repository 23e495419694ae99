"""A site protocol tightens the cited defaults, is refused when it loosens, names the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge, load
from benzosafe.knowledge.protocol import (
    PROTOCOL_SOURCE,
    Change,
    apply_protocol,
    parse_protocol,
    protocol_changes,
    read_protocol,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "example-clinic.toml"
HEAD = """
[protocol]
name = "Test clinic"
version = "1"
source = "Test clinic policy 1.1"
"""
CIWA_BANDS = """
[instruments.ciwa-b]
bands = [
  { min = 0,  max = 0,  label = "none" },
  { min = 1,  max = 20, label = "mild" },
  { min = 21, max = 40, label = "moderate" },
  { min = 41, max = 60, label = "severe" },
  { min = 61, max = 80, label = "very severe" },
]
"""


def _apply(body: str, tmp_path: Path) -> tuple[Knowledge, list[Change]]:
    path = tmp_path / "protocol.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    protocol, info = read_protocol(path)
    return apply_protocol(load(), protocol, info), protocol_changes(load(), protocol, info)


def _refused(body: str, tmp_path: Path, key: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        _apply(body, tmp_path)
    assert caught.value.field == key, str(caught.value)
    return caught.value


def test_the_example_protocol_applies_and_names_itself() -> None:
    protocol, info = read_protocol(EXAMPLE)
    kb = apply_protocol(load(), protocol, info)
    assert kb.protocol is not None
    assert kb.protocol.name == "Example Clinic benzodiazepine protocol"
    assert len(kb.protocol.sha256) == 64
    assert kb.version == load().version  # the protocol is named beside, not inside, the version
    assert kb.sources[PROTOCOL_SOURCE].publisher == protocol.protocol.source
    keys = [c.key for c in protocol_changes(load(), protocol, info)]
    assert keys == [
        "instruments.ciwa-b.bands",
        "level_of_care.withdrawal_seizure_or_delirium_history",
        "taper.pace",
        "equivalence.table",
    ]


def test_without_a_protocol_the_defaults_are_untouched(tmp_path: Path) -> None:
    before = load().model_dump()
    _apply(CIWA_BANDS + "[taper]\nreduce_percent = 5\n", tmp_path)
    assert load().model_dump() == before
    assert load().protocol is None


def test_ciwa_bands_come_from_the_protocol_and_cite_it(tmp_path: Path) -> None:
    assert load().assessment.instruments["ciwa-b"].bands == []
    kb, changes = _apply(CIWA_BANDS, tmp_path)
    bands = kb.assessment.instruments["ciwa-b"].bands
    assert [(b.low, b.high, b.label) for b in bands] == [
        (0, 0, "none"),
        (1, 20, "mild"),
        (21, 40, "moderate"),
        (41, 60, "severe"),
        (61, 80, "very severe"),
    ]
    assert all(b.sources[0].ref == PROTOCOL_SOURCE for b in bands)
    assert changes[0].default == "none (draft)"


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ('{ min = 0, max = 20, label = "a" }, { min = 22, max = 80, label = "b" }', "a gap at 21"),
        ('{ min = 0, max = 20, label = "a" }, { min = 20, max = 80, label = "b" }', "overlap"),
        ('{ min = 0, max = 20, label = "a" }, { min = 21, max = 79, label = "b" }', "end at 79"),
        ('{ min = 1, max = 80, label = "a" }', "a gap at 0"),
        ('{ min = 0, max = 90, label = "a" }', "end at 90"),
        ('{ min = 5, max = 2, label = "a" }, { min = 0, max = 80, label = "b" }', "below min"),
    ],
)
def test_bands_must_cover_the_range_without_gaps_or_overlaps(
    bands: str, message: str, tmp_path: Path
) -> None:
    error = _refused(
        f"[instruments.ciwa-b]\nbands = [{bands}]\n", tmp_path, "instruments.ciwa-b.bands"
    )
    assert message in str(error)


def test_a_slower_default_pace_applies(tmp_path: Path) -> None:
    kb, _ = _apply("[taper]\nreduce_percent = 5\nevery_days = 28\n", tmp_path)
    assert (kb.taper.pace.percent, kb.taper.pace.every_days) == (Decimal(5), 28)
    assert kb.taper.pace.sources[-1].ref == PROTOCOL_SOURCE


@pytest.mark.parametrize(
    "body", ["reduce_percent = 15", "every_days = 7", "reduce_percent = 10\nevery_days = 13"]
)
def test_a_faster_default_pace_is_refused(body: str, tmp_path: Path) -> None:
    error = _refused(f"[taper]\n{body}\n", tmp_path, "taper.reduce_percent")
    assert "only slow it" in str(error)


def test_the_taper_bound_can_be_lowered_not_raised(tmp_path: Path) -> None:
    kb, _ = _apply("[taper]\nmax_reduction_percent = 20\n", tmp_path)
    assert kb.taper.rule("window-bound").params["max_reduction_percent"] == "20"
    error = _refused(
        "[taper]\nmax_reduction_percent = 30\n", tmp_path, "taper.max_reduction_percent"
    )
    assert "25%" in str(error)


def test_equivalence_table_va_dod(tmp_path: Path) -> None:
    kb, _ = _apply('[equivalence]\ntable = "va-dod"\n', tmp_path)
    assert kb.benzodiazepines["clonazepam"].equivalence.used_mg == Decimal(1)
    assert kb.benzodiazepines["alprazolam"].equivalence.used_mg == Decimal(1)
    assert load().benzodiazepines["clonazepam"].equivalence.used_mg == Decimal("0.5")
    error = _refused('[equivalence]\ntable = "maudsley"\n', tmp_path, "equivalence.table")
    assert error.allowed == ("ashton", "va-dod")


def test_a_labelled_maximum_can_be_lowered_not_raised(tmp_path: Path) -> None:
    kb, _ = _apply('[dose_limits]\nCLZ-DOSE-PANIC-MAX = "3 mg/day"\n', tmp_path)
    assert kb.rules["CLZ-DOSE-PANIC-MAX"].params["max_mg_per_day"] == "3"
    _refused(
        '[dose_limits]\nCLZ-DOSE-PANIC-MAX = "6 mg/day"\n',
        tmp_path,
        "dose_limits.CLZ-DOSE-PANIC-MAX",
    )
    _refused(
        '[dose_limits]\nCLZ-DOSE-PANIC-MAX = "3"\n', tmp_path, "dose_limits.CLZ-DOSE-PANIC-MAX"
    )
    error = _refused('[dose_limits]\nNOPE = "1 mg/day"\n', tmp_path, "dose_limits.NOPE")
    assert "CLZ-DOSE-SEIZURE-MAX" in error.allowed


def test_levels_can_be_raised_not_lowered(tmp_path: Path) -> None:
    kb, _ = _apply(
        '[level_of_care]\nno-support-at-home = "inpatient-medically-managed"\n'
        '[triage]\nconfusion-delirium = "emergency"\n',
        tmp_path,
    )
    rule = next(r for r in kb.assessment.level_of_care.rule if r.code == "no-support-at-home")
    assert rule.level == "inpatient-medically-managed"
    effect = next(e for e in kb.assessment.triage.effect if e.id == "confusion-delirium")
    assert effect.level == "emergency"
    error = _refused(
        '[level_of_care]\nimminent-risk-of-harm = "outpatient-taper"\n',
        tmp_path,
        "level_of_care.imminent-risk-of-harm",
    )
    assert error.allowed == ("inpatient-medically-managed",)
    _refused('[triage]\nseizure = "self-care"\n', tmp_path, "triage.seizure")
    _refused('[triage]\nnot-an-effect = "emergency"\n', tmp_path, "triage.not-an-effect")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[protocol]\nname = "x"\nversion = "1"\n', "protocol.source"),
        (HEAD + "[surprise]\nx = 1\n", "surprise"),
        (HEAD + "[taper]\npace = 5\n", "taper.pace"),
        (HEAD + "[instruments.ciwa-b]\nbands = []\n", "instruments.ciwa-b.bands"),
        (HEAD + '[level_of_care]\nx = "hospital"\n', "level_of_care.x"),
        ("not toml [", "protocol"),
    ],
)
def test_malformed_protocols_name_the_key(text: str, key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_protocol(text)
    assert caught.value.field == key


def test_unknown_key_lists_the_allowed_keys() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_protocol(HEAD + "[taper]\nspeed = 5\n")
    assert set(caught.value.allowed) == {"reduce_percent", "every_days", "max_reduction_percent"}


def test_unknown_instrument_is_refused(tmp_path: Path) -> None:
    error = _refused(
        '[instruments.ciwa-ar]\nbands = [{ min = 0, max = 67, label = "x" }]\n',
        tmp_path,
        "instruments.ciwa-ar",
    )
    assert "ciwa-b" in error.allowed
