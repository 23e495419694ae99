"""Parsing of a taper request as a clinician types it (command line, web form).

:func:`parse_taper_request` turns the text fields into a :class:`TaperRequest`, using the
knowledge for drug names, the monograph's products and the default pace; the pieces
(:func:`parse_forms`, :func:`parse_liquid`, :func:`parse_split`, :func:`parse_steps_csv`,
:func:`parse_every`, :func:`parse_percent`) each refuse bad input with an error naming the
field.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from benzosafe.clinical.medications import ordered_drug
from benzosafe.clinical.resolve import Unresolved
from benzosafe.clinical.taper.model import (
    HUNDRED,
    TIMES_OF_DAY,
    ZERO,
    DoseForm,
    Strategy,
    TaperRequest,
    decimal_text,
)
from benzosafe.errors import InvalidInput, UnknownDrug
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.units import (
    FREQUENCIES,
    format_mg,
    parse_concentration,
    parse_daily_dose,
    parse_mass,
    parse_volume,
)

_TIME_ALIASES = {"bedtime": "night", "noon": "midday", "am": "morning", "pm": "evening"}
_TIMES_FOR_FREQUENCY = {
    1: ("morning",),
    2: ("morning", "night"),
    3: ("morning", "afternoon", "night"),
    4: ("morning", "midday", "afternoon", "night"),
}


def parse_forms(
    text: str, drug: str, kb: KnowledgeBase, field_name: str = "forms"
) -> tuple[DoseForm, ...]:
    """Parse "tablet:0.5,1,2 odt:0.125,0.25" (mg). A trailing ``s`` marks a scored tablet
    ("tablet:5s,10s"); tablets are taken as unscored unless so marked, or scored in the
    monograph's product list."""
    mono = kb.monographs.get(drug)
    out: list[DoseForm] = []
    groups = text.replace(";", " ").split()
    if not groups:
        raise InvalidInput(field_name, "no forms given", ["tablet:0.5,1,2 odt:0.125,0.25"])
    for group in groups:
        kind, sep, values = group.partition(":")
        kind = kind.lower()
        if not sep or kind not in ("tablet", "odt") or not values:
            raise InvalidInput(
                field_name, f"{group!r} is not FORM:STRENGTH,...", ["tablet:0.5,1,2", "odt:0.125"]
            )
        for raw in values.split(","):
            item = raw.strip().lower()
            scored = item.endswith("s") and not item.endswith("mcgs")
            if scored:
                item = item[:-1]
            if kind == "odt" and scored:
                raise InvalidInput(
                    field_name, f"ODT {raw!r}: orally disintegrating tablets are not split"
                )
            mg = parse_mass(item if re.search(r"[a-zµ]", item) else f"{item} mg", field_name)
            if mono is not None:
                products = [p for p in mono.products if p.form == kind and p.strength_mg == mg]
                if not products:
                    allowed = sorted(
                        {
                            f"{p.form}:{decimal_text(p.strength_mg)}"
                            for p in mono.products
                            if p.form in ("tablet", "odt")
                        }
                    )
                    raise InvalidInput(field_name, f"{drug} has no {format_mg(mg)} {kind}", allowed)
                if scored and not products[0].scored:
                    raise InvalidInput(
                        field_name,
                        f"the {format_mg(mg)} {drug} {kind} is not scored (halves not allowed)",
                    )
                scored = products[0].scored
            form = DoseForm(drug=drug, form=kind, strength_mg=mg, scored=scored)  # type: ignore[arg-type]
            if form not in out:
                out.append(form)
    return tuple(out)


def parse_liquid(text: str, drug: str, field_name: str = "liquid") -> DoseForm:
    """Parse "0.1 mg/mL step 0.1 mL": a concentration and the smallest volume measured."""
    match = re.fullmatch(r"\s*(?P<conc>.+?)\s+step\s+(?P<step>.+?)\s*", text, re.IGNORECASE)
    if match is None:
        raise InvalidInput(
            field_name, f"{text!r} is not 'CONCENTRATION step VOLUME'", ["0.1 mg/mL step 0.1 mL"]
        )
    conc = parse_concentration(match.group("conc"), field_name)
    step = parse_volume(match.group("step"), field_name)
    return DoseForm(drug=drug, form="liquid", strength_mg=conc, step_ml=step)


def default_forms(drug: str, kb: KnowledgeBase) -> tuple[DoseForm, ...]:
    """The monograph's US-marketed tablets and ODTs; none for a drug without a monograph."""
    mono = kb.monographs.get(drug)
    if mono is None:
        return ()
    return tuple(
        DoseForm(drug=drug, form=p.form, strength_mg=p.strength_mg, scored=p.scored)
        for p in mono.products
        if p.form in ("tablet", "odt") and p.us_marketed
    )


def parse_split(
    text: str, daily_mg: Decimal, field_name: str = "split"
) -> tuple[tuple[str, Decimal], ...]:
    """Parse "1 mg bid" or "0.5 mg morning, 1 mg night" into (time of day, mg) in time order."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(field_name, "empty split", ["1 mg bid", "0.5 mg morning, 1 mg night"])
    parts: dict[str, Decimal] = {}
    match = re.fullmatch(r"(?P<dose>.+?)\s+(?P<freq>[a-z0-9]+)", raw, re.IGNORECASE)
    if "," not in raw and match and match.group("freq").lower() in FREQUENCIES:
        freq = FREQUENCIES[match.group("freq").lower()]
        dose = parse_mass(match.group("dose"), field_name)
        times = ("night",) if freq.code == "qhs" else _TIMES_FOR_FREQUENCY.get(freq.times_per_day)
        if times is None:
            raise InvalidInput(
                field_name, f"{freq.code} is not a taper split", ["qd", "qhs", "bid", "tid", "qid"]
            )
        parts = dict.fromkeys(times, dose)
    else:
        allowed = [*TIMES_OF_DAY, *_TIME_ALIASES]
        for piece in raw.split(","):
            m = re.fullmatch(
                r"\s*(?P<dose>.+?)\s+(?:at\s+|in the\s+)?(?P<time>[a-z]+)\s*", piece, re.IGNORECASE
            )
            if m is None:
                raise InvalidInput(field_name, f"{piece.strip()!r} is not 'DOSE TIME'", allowed)
            time = m.group("time").lower()
            time = _TIME_ALIASES.get(time, time)
            if time not in TIMES_OF_DAY:
                raise InvalidInput(field_name, f"unknown time of day {m.group('time')!r}", allowed)
            if time in parts:
                raise InvalidInput(field_name, f"{time} is given twice")
            parts[time] = parse_mass(m.group("dose"), field_name)
    total = sum(parts.values(), ZERO)
    if total != daily_mg:
        raise InvalidInput(
            field_name,
            f"the split adds up to {format_mg(total)}/day, not the daily dose "
            f"{format_mg(daily_mg)}/day",
        )
    return tuple((t, parts[t]) for t in TIMES_OF_DAY if t in parts)


def parse_steps_csv(text: str, field_name: str = "steps") -> tuple[tuple[Decimal, int], ...]:
    """Parse clinician steps: CSV with a header ``daily_dose,days`` ("1.75 mg/day,14")."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")] != ["daily_dose", "days"]:
        raise InvalidInput(field_name, "the first line must be the header 'daily_dose,days'")
    out: list[tuple[Decimal, int]] = []
    for n, line in enumerate(lines[1:], start=1):
        cells = [c.strip() for c in line.split(",")]
        where = f"{field_name}[{n}]"
        if len(cells) != 2:
            raise InvalidInput(where, f"{line!r} needs two cells: daily_dose,days")
        dose_text = cells[0]
        for suffix in ("/day", "/d", " per day", " daily"):
            if dose_text.lower().endswith(suffix):
                dose_text = dose_text[: -len(suffix)]
        dose = (
            ZERO
            if re.fullmatch(r"0+(\.0+)?\s*(mg|mcg)", dose_text.strip())
            else parse_mass(dose_text, where)
        )
        if not cells[1].isdigit() or int(cells[1]) < 1:
            raise InvalidInput(where, f"days {cells[1]!r} must be a whole number of 1 or more")
        out.append((dose, int(cells[1])))
    if not out:
        raise InvalidInput(field_name, "no steps given")
    return tuple(out)


def parse_every(text: str, field_name: str = "every") -> int:
    """Parse "14d", "14 days" or "2w" into days."""
    m = re.fullmatch(r"\s*(\d+)\s*(d|day|days|w|wk|week|weeks)\s*", text.lower())
    if m is None:
        raise InvalidInput(field_name, f"{text!r} is not a period", ["14d", "14 days", "2w"])
    days = int(m.group(1)) * (7 if m.group(2).startswith("w") else 1)
    if days < 1:
        raise InvalidInput(field_name, "the period must be at least 1 day")
    return days


def parse_percent(text: str, field_name: str = "reduce") -> Decimal:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", text)
    if m is None:
        raise InvalidInput(field_name, f"{text!r} is not a percent", ["10%", "5%"])
    value = Decimal(m.group(1))
    if not ZERO < value < HUNDRED:
        raise InvalidInput(field_name, f"{text!r} must be more than 0% and less than 100%")
    return value


def _drug(kb: KnowledgeBase, name: str, field_name: str) -> str:
    """The benzodiazepine of a name, brand, product name, NDC or RxNorm code (the one
    resolver, :func:`~benzosafe.clinical.medications.ordered_drug`)."""
    if not name.strip():
        raise UnknownDrug(field_name, "no drug given", sorted(kb.benzodiazepines))
    found = ordered_drug(kb, name, field_name)
    if found.entry is None:
        # A name that is another drug says which ("Percocet": oxycodone/acetaminophen).
        known = found.resolution is not None and not isinstance(found.resolution, Unresolved)
        why = f": {found.why_not()}" if known else ""
        raise UnknownDrug(field_name, f"unknown drug {name!r}{why}", sorted(kb.benzodiazepines))
    return found.entry.id


def parse_taper_request(
    kb: Knowledge,
    *,
    drug: str,
    dose: str,
    split: str,
    start: str,
    reduce: str | None = None,
    reduce_by: str | None = None,
    steps_csv: str | None = None,
    label_panic: bool = False,
    every: str | None = None,
    forms: str | None = None,
    liquid: str | None = None,
    via: str | None = None,
    via_forms: str | None = None,
    override_reason: str | None = None,
    by: str = "unspecified",
) -> TaperRequest:
    """Build a :class:`TaperRequest` from text as typed by a clinician (CLI, web form)."""
    tk = kb.taper
    drug_id = _drug(kb, drug, "drug")
    daily = parse_daily_dose(dose, "dose")
    try:
        start_day = date.fromisoformat(start.strip())
    except ValueError as exc:
        raise InvalidInput("start", f"{start!r} is not a date", ["YYYY-MM-DD"]) from exc
    given = (("reduce", reduce), ("reduce_by", reduce_by), ("steps", steps_csv))
    chosen = [name for name, value in given if value]
    if label_panic:
        chosen.append("label_panic")
    if len(chosen) > 1:
        raise InvalidInput(chosen[1], "choose one strategy", ["reduce", "reduce_by", "steps"])
    every_days = parse_every(every, "every") if every else tk.pace.every_days
    strategy: Strategy
    if reduce_by:
        strategy = Strategy("amount", every_days, amount_mg=parse_mass(reduce_by, "reduce_by"))
    elif steps_csv:
        strategy = Strategy("steps", every_days, steps=parse_steps_csv(steps_csv))
    elif label_panic:
        strategy = Strategy("label-panic", tk.label_panic.every_days)
    else:
        pct = parse_percent(reduce, "reduce") if reduce else tk.pace.percent
        strategy = Strategy("percent", every_days, percent=pct)
    if forms and liquid:
        raise InvalidInput("liquid", "give either tablet forms or a liquid, not both")
    if liquid:
        form_set: tuple[DoseForm, ...] = (parse_liquid(liquid, drug_id),)
    elif forms:
        form_set = parse_forms(forms, drug_id, kb)
    else:
        form_set = default_forms(drug_id, kb)
    via_id = _drug(kb, via, "via") if via else None
    via_set = parse_forms(via_forms, via_id, kb, "via_forms") if via_forms and via_id else ()
    return TaperRequest(
        drug=drug_id,
        daily_dose_mg=daily,
        split=parse_split(split, daily),
        start=start_day,
        strategy=strategy,
        forms=form_set,
        via=via_id,
        via_forms=via_set,
        override_reason=override_reason,
        made_by=by,
    )
