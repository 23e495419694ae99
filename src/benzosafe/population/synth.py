"""A synthetic dispensing population with planted patterns and its ground truth.

Each patient follows one pattern: background use that no measure should flag, or a pattern
planted to trip exactly the measures listed in :data:`PATTERNS`. Doses are placed inside
the guideline bands of the drug map (low: half the low limit; moderate: the middle of the
band; high: a third above the moderate limit), so the planted truth follows the knowledge
data. A few malformed rows (bad date, negative days' supply, unknown drug) are added and
counted. Deterministic for a given seed.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge import Knowledge
from benzosafe.population.drugs import drug_keys
from benzosafe.population.records import DispensingRecord, write_records

YEAR_START = date(2024, 1, 1)
BENZOS = ("clonazepam", "alprazolam", "lorazepam", "diazepam")
OPIOIDS = ("oxycodone", "hydrocodone", "morphine", "tramadol")
# pattern -> (weight, measures it is planted to trip)
PATTERNS: dict[str, tuple[int, tuple[str, ...]]] = {
    "background-benzodiazepine": (30, ()),
    "background-opioid": (25, ()),
    "apart-opioid-benzodiazepine": (5, ()),
    "cob": (8, ("SCR-COB",)),
    "cob-excluded": (2, ()),
    "mpe-opioid": (4, ("SCR-MPE-OPIOID",)),
    "mpe-benzodiazepine": (4, ("SCR-MPE-BZD",)),
    "long-term": (6, ("SCR-BZD-LONG-TERM",)),
    "high-dose": (5, ("SCR-BZD-HIGH-DOSE",)),
    "escalation": (5, ("SCR-BZD-ESCALATION",)),
    "early-refill": (4, ("SCR-BZD-EARLY-REFILL",)),
    "older-adult": (4, ("SCR-BZD-OLDER-ADULT",)),
    "deprescribing": (2, ("SCR-BZD-OLDER-ADULT", "SCR-BZD-DEPRESCRIBING")),
}
MALFORMED = {"bad_fill_date": "2024-02-30", "bad_days_supply": "-30", "unknown_drug": "sertraline"}


@dataclass
class Truth:
    flags: list[tuple[str, str]] = field(default_factory=list)
    patterns: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    exclusions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Builder:
    rng: random.Random
    records: list[DispensingRecord] = field(default_factory=list)
    fills: int = 0

    def fill(
        self,
        patient: str,
        birth: date,
        day: int,
        drug: str,
        days: int,
        daily_mg: float,
        prescriber: str,
        pharmacy: str,
    ) -> None:
        tablets = self.rng.choice((1, 2))
        self.fills += 1
        self.records.append(
            DispensingRecord(
                fill_id=f"F{self.fills:09d}",
                patient_id=patient,
                birth_date=birth.isoformat(),
                fill_date=(YEAR_START + timedelta(days=day)).isoformat(),
                drug=drug,
                quantity=float(tablets * days),
                days_supply=days,
                strength_mg=daily_mg / tablets,
                prescriber_id=prescriber,
                pharmacy_id=pharmacy,
            )
        )


def _doses(kb: Knowledge) -> dict[str, dict[str, float]]:
    """Daily mg per benzodiazepine inside each guideline band, from the drug map."""
    out: dict[str, dict[str, float]] = {}
    for key in drug_keys(kb):
        if key.ingredient in BENZOS and key.drug_key == key.ingredient:
            low, moderate = key.low_max_mg, key.moderate_max_mg
            if low is None or moderate is None:
                raise KnowledgeError(f"{key.ingredient}: no dose bands to place synthetic doses in")
            out[key.ingredient] = {
                "low": low / 2,
                "moderate": (low + moderate) / 2,
                "high": moderate * 4 / 3,
            }
    return out


def _names(kb: Knowledge) -> dict[str, list[str]]:
    """Ways a record names each drug: ingredient, brand, RxNorm code, a product string."""
    out: dict[str, list[str]] = {}
    for b in BENZOS:
        entry = kb.benzodiazepines[b]
        out[b] = [b, *entry.brands, entry.rxnorm_ingredient, f"{b.capitalize()} Oral Tablet"]
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            if ing.id in OPIOIDS:
                out[ing.id] = [ing.id, ing.rxnorm_ingredient, f"{ing.id.upper()} HCL"]
    return out


def synth_population(
    patients: int, kb: Knowledge, seed: int = 7
) -> tuple[list[DispensingRecord], Truth]:
    """``patients`` synthetic patients with their fills and the ground truth planted by the
    measures of ``kb``."""
    rng = random.Random(seed)  # noqa: S311  test data, the same for a seed: no secret in it
    doses, names = _doses(kb), _names(kb)
    b = _Builder(rng)
    truth = Truth()
    kinds = list(PATTERNS)
    weights = [PATTERNS[k][0] for k in kinds]
    cob = next(m for m in kb.screening.measure if m.kind == "cob")
    reasons = list(cob.typed_params().exclusion_reasons)
    # The latest day a refill of a 30-day supply is still early: days x 100 < pct x 30.
    early = next(m for m in kb.screening.measure if m.kind == "early-refill")
    latest_early = (early.typed_params().min_supply_elapsed_pct * 30 - 1) // 100
    # Planted older adults are at least a year past the measure's age, the others at least
    # five years short of it.
    older_adult = next(m for m in kb.screening.measure if m.kind == "older-adult")
    min_age = older_adult.typed_params().min_age_years

    for n in range(1, patients + 1):
        pid = f"P{n:07d}"
        kind = rng.choices(kinds, weights)[0]
        truth.patterns[kind] = truth.patterns.get(kind, 0) + 1
        truth.flags += [(pid, rule) for rule in PATTERNS[kind][1]]
        older = kind in ("older-adult", "deprescribing")
        age = rng.randint(min_age + 1, min_age + 20) if older else rng.randint(25, min_age - 5)
        birth = date(YEAR_START.year - age - 1, rng.randint(1, 12), rng.randint(1, 28))
        start = rng.randint(0, 150)
        benzo, opioid = rng.choice(BENZOS), rng.choice(OPIOIDS)
        bname = rng.choice(names[benzo])
        oname = rng.choice(names[opioid])
        dr, ph = f"D{rng.randint(1, 5000)}", f"R{rng.randint(1, 800)}"
        low = doses[benzo]["low"]

        def benzo_fill(day: int, days: int, mg: float, pid: str = pid, birth: date = birth) -> None:
            b.fill(pid, birth, day, bname, days, mg, dr, ph)  # noqa: B023

        def opioid_fill(day: int, days: int, pid: str = pid, birth: date = birth) -> None:
            b.fill(pid, birth, day, oname, days, 10.0, dr, ph)  # noqa: B023

        if kind == "background-benzodiazepine":
            for i in range(rng.randint(1, 2)):
                benzo_fill(start + 30 * i, 30, low)
        elif kind == "background-opioid":
            for i in range(rng.randint(1, 3)):
                opioid_fill(start + 30 * i, rng.choice((10, 20, 30)))
        elif kind == "apart-opioid-benzodiazepine":
            opioid_fill(start, 20)
            opioid_fill(start + 20, 20)
            benzo_fill(start + 60, 30, low)
            benzo_fill(start + 90, 30, low)
        elif kind in ("cob", "cob-excluded"):
            for i in range(rng.randint(2, 3)):
                opioid_fill(start + 30 * i, 30)
            shift = rng.randint(0, 5)
            benzo_fill(start + shift, 30, low)
            benzo_fill(start + shift + 30, 30, low)
            if kind == "cob-excluded":
                truth.exclusions.append((pid, rng.choice(reasons)))
        elif kind in ("mpe-opioid", "mpe-benzodiazepine"):
            for i in range(5):
                prescriber, pharmacy = f"{pid}-D{i}", f"{pid}-R{i}"
                if kind == "mpe-opioid":
                    b.fill(pid, birth, start + 15 * i, oname, 5, 10.0, prescriber, pharmacy)
                else:
                    b.fill(pid, birth, start + 14 * i, bname, 7, low, prescriber, pharmacy)
        elif kind == "long-term":
            for i in range(4):
                benzo_fill(start + 30 * i, 30, low)
        elif kind == "high-dose":
            benzo_fill(start, 30, doses[benzo]["high"])
        elif kind == "escalation":
            benzo_fill(start, 30, low)
            benzo_fill(start + 30, 30, doses[benzo]["moderate"])
        elif kind == "early-refill":
            benzo_fill(start, 30, low)
            benzo_fill(start + rng.randint(max(1, latest_early - 7), latest_early), 30, low)
        elif kind == "older-adult":
            benzo_fill(start, 30, low)
        elif kind == "deprescribing":
            first = doses[benzo]["moderate"]
            benzo_fill(start, 30, first)
            benzo_fill(start + 60, 30, first * rng.choice((0.3, 0.6, 0.8)))

    # Malformed rows ride on existing patients, with their birth date; each is counted
    # under its reason.
    births = {r.patient_id: r.birth_date for r in b.records}
    for n in range(max(3, patients // 100)):
        reason = list(MALFORMED)[n % len(MALFORMED)]
        value = MALFORMED[reason]
        pid = f"P{rng.randint(1, patients):07d}"
        b.fills += 1
        b.records.append(
            DispensingRecord(
                fill_id=f"F{b.fills:09d}",
                patient_id=pid,
                birth_date=births.get(pid, "1970-01-01"),
                fill_date=value if reason == "bad_fill_date" else "2024-03-01",
                drug=value if reason == "unknown_drug" else "clonazepam",
                quantity=30.0,
                days_supply=int(value) if reason == "bad_days_supply" else 30,
                strength_mg=0.25,
                prescriber_id="D1",
                pharmacy_id="R1",
            )
        )
        truth.malformed[reason] = truth.malformed.get(reason, 0) + 1
    return b.records, truth


def write_population(patients: int, out: Path, kb: Knowledge, seed: int = 7) -> dict[str, Path]:
    """Write the records to ``out`` and the truth and exclusions beside it."""
    records, truth = synth_population(patients, kb, seed)
    write_records(records, out)
    truth_path = out.with_name(out.stem + ".truth.json")
    exclusions_path = out.with_name(out.stem + ".exclusions.csv")
    with exclusions_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient_id", "reason"])
        writer.writerows(truth.exclusions)
    truth_path.write_text(
        json.dumps(
            {
                "patients": patients,
                "rows": len(records),
                "seed": seed,
                "patterns": dict(sorted(truth.patterns.items())),
                "flags": sorted(truth.flags),
                "malformed": truth.malformed,
                "exclusions": str(exclusions_path.name),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return {"records": out, "truth": truth_path, "exclusions": exclusions_path}
