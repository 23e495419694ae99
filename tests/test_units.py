"""Units: explicit, exact, and never guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benzosafe.errors import UnitError
from benzosafe.units import (
    format_mg,
    parse_concentration,
    parse_daily_dose,
    parse_frequency,
    parse_mass,
    parse_weight,
)

# Doses from 0.001 mg to 1000 mg with up to 3 decimals, as people write them.
doses = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3)


@given(doses)
def test_mg_round_trips(mg: Decimal) -> None:
    assert parse_mass(format_mg(mg)) == mg


@given(doses)
def test_mcg_and_mg_agree(mg: Decimal) -> None:
    mcg = (mg * 1000).normalize()
    assert parse_mass(f"{mcg:f} mcg") == mg
    assert parse_mass(f"{mcg:f} µg") == mg


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10000), places=3))
def test_a_bare_number_is_refused(value: Decimal) -> None:
    with pytest.raises(UnitError, match="no unit"):
        parse_mass(f"{value:f}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.5 tablets", "unknown unit"),
        ("-1 mg", "not a number"),
        ("0 mg", "more than zero"),
        ("20000 mg", "plausible"),
        ("mg", "not a number"),
        ("", "not a number"),
    ],
)
def test_bad_doses_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(UnitError, match=message) as info:
        parse_mass(text, "order.dose")
    assert info.value.field == "order.dose"


def test_daily_dose_and_weight_and_concentration() -> None:
    assert parse_daily_dose("2 mg/day") == Decimal(2)
    assert parse_daily_dose("500 mcg per day") == Decimal("0.5")
    with pytest.raises(UnitError, match="daily dose"):
        parse_daily_dose("2 mg")
    assert parse_weight("60 kg") == Decimal(60)
    assert parse_weight("132 lb").quantize(Decimal("0.01")) == Decimal("59.87")
    with pytest.raises(UnitError):
        parse_weight("60")
    assert parse_concentration("0.1 mg/mL") == Decimal("0.1")
    with pytest.raises(UnitError, match="per mL"):
        parse_concentration("0.1 mg/L")


def test_frequencies() -> None:
    assert parse_frequency("tid").times_per_day == 3
    assert parse_frequency("3 times a day").code == "tid"
    assert parse_frequency(" BID ").times_per_day == 2
    with pytest.raises(UnitError, match="unknown frequency") as info:
        parse_frequency("now and then")
    assert "qid" in info.value.allowed
