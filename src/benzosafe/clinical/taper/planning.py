"""The taper planner: :func:`plan_taper` and its strategies.

From the current dose the plan reduces by a percent of the current dose, a fixed amount, the
clinician's explicit steps, or the label's short-course panic schedule, optionally after a
switch to diazepam one dose time at a time. Each new dose is the nearest makeable dose within
the cited window bound; where the forms cannot make one, the plan says so (a finding, a step
note) or refuses with the reason. Every number comes from the knowledge passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from benzosafe.clinical.equivalence import table_used
from benzosafe.clinical.findings import Finding, source_refs
from benzosafe.clinical.taper.bounds import (
    diazepam_equivalent_mg,
    in_low_band,
    starting_pace_cut,
    starting_pace_limit,
    steps_pace_violations,
    used_mg,
    window_bound,
)
from benzosafe.clinical.taper.makeable import DailyDoses, DoseMaker, mixed_products_note
from benzosafe.clinical.taper.model import (
    HUNDRED,
    ZERO,
    Administration,
    BoundInfo,
    PlanVersion,
    StepKind,
    TaperPlan,
    TaperRequest,
    TaperStep,
    decimal_text,
)
from benzosafe.errors import InvalidInput, PlanInfeasible, UnknownDrug
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.taper import TaperKnowledge, TaperRule
from benzosafe.units import format_mg


def _pct(cut: Decimal, of: Decimal) -> Decimal:
    return (cut / of * HUNDRED).quantize(Decimal("0.1")) if of else ZERO


def _finding(
    kb: KnowledgeBase, rule: TaperRule, summary: str, detail: str, step: int | None = None
) -> Finding:
    return Finding(
        code=rule.code,
        severity=rule.severity,
        summary=summary[:139],
        detail=(f"Step {step}: " if step is not None else "") + detail,
        rule=rule.id,
        rule_version=rule.version,
        sources=source_refs(kb, rule.sources),
    )


def _equivalence(kb: KnowledgeBase, drug: str, field_name: str) -> tuple[Decimal, str, str]:
    """mg of ``drug`` equal to 10 mg diazepam, the table's name and the other tables' values."""
    eq = kb.benzodiazepines[drug].equivalence
    if eq.used_mg is None:
        raise InvalidInput(
            field_name, f"{drug} has no diazepam equivalent in the knowledge base", ()
        )
    table = table_used(kb.benzodiazepines[drug])
    others = [
        f"{t.table} table {decimal_text(t.low_mg)}"
        + (f"-{decimal_text(t.high_mg)}" if t.high_mg != t.low_mg else "")
        + " mg"
        for t in eq.tables
        if t.table != table
    ]
    note = f"{drug} {decimal_text(eq.used_mg)} mg = diazepam 10 mg by the {table} table"
    note += f" ({eq.choice.strip().rstrip('.')})"
    if others:
        note += "; other tables: " + ", ".join(others)
    note += "."
    return eq.used_mg, table, note


@dataclass
class _Builder:
    """Accumulates steps and the day-by-day diazepam-equivalent timeline while planning."""

    kb: Knowledge
    tk: TaperKnowledge
    request: TaperRequest
    steps: list[TaperStep] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    timeline: list[Decimal] = field(default_factory=list)  # DE per day
    rounded: list[int] = field(default_factory=list)  # steps whose target was not makeable
    day: date = date.min

    def add(
        self, kind: StepKind, adms: tuple[Administration, ...], days: int, notes: Sequence[str] = ()
    ) -> None:
        de = sum((diazepam_equivalent_mg(self.kb, a.drug, a.dose_mg) for a in adms), ZERO)
        forms = (*self.request.forms, *self.request.via_forms)  # say why a time mixes products
        notes = [*notes, *filter(None, (mixed_products_note(a, forms) for a in adms))]
        start = self.day
        end = start + timedelta(days=days - 1)
        self.steps.append(TaperStep(len(self.steps) + 1, start, end, kind, adms, de, tuple(notes)))
        self.timeline += [de] * days
        self.day = end + timedelta(days=1)

    def floor_de(self) -> Decimal:
        """The lowest DE allowed tomorrow by the window bound."""
        max_fraction, window = window_bound(self.tk)
        earlier = self.timeline[-(window - 1) :]
        return max(earlier) * (1 - max_fraction) if earlier else ZERO


def _validate_request(kb: Knowledge, req: TaperRequest) -> None:
    if req.drug not in kb.benzodiazepines:
        raise UnknownDrug("drug", f"unknown drug {req.drug!r}", sorted(kb.benzodiazepines))
    if req.daily_dose_mg <= 0:
        raise InvalidInput("dose", "the current daily dose must be more than zero")
    if not req.forms:
        raise InvalidInput(
            "forms",
            f"no forms given for {req.drug}; say what the patient has",
            ["tablet:0.5,1,2 odt:0.125"],
        )
    if any(f.drug != req.drug for f in req.forms):
        raise InvalidInput("forms", f"every form must be of {req.drug}")
    if sum((mg for _, mg in req.split), ZERO) != req.daily_dose_mg:
        raise InvalidInput("split", "the split does not add up to the daily dose")
    if req.override_reason is not None and not req.override_reason.strip():
        raise InvalidInput("override_reason", "an override needs a reason")
    s = req.strategy
    if s.every_days < 1:
        raise InvalidInput("every", "the period must be at least 1 day")
    if s.kind == "percent" and (s.percent is None or not ZERO < s.percent < HUNDRED):
        raise InvalidInput("reduce", "a percent between 0 and 100 is needed")
    if s.kind == "amount" and (s.amount_mg is None or s.amount_mg <= 0):
        raise InvalidInput("reduce_by", "an amount more than zero is needed")
    if s.kind == "steps" and not s.steps:
        raise InvalidInput("steps", "no steps given")
    if s.kind == "label-panic" and req.drug != kb.taper.label_panic.drug:
        raise InvalidInput(
            "strategy", f"the label panic schedule is for {kb.taper.label_panic.drug} only"
        )
    if req.via is not None:
        if req.via not in kb.benzodiazepines:
            raise UnknownDrug("via", f"unknown drug {req.via!r}", ["diazepam"])
        if req.via != "diazepam":
            raise InvalidInput("via", f"switching to {req.via} is not supported", ["diazepam"])
        if req.via == req.drug:
            raise InvalidInput("via", f"the plan is already on {req.drug}")
        if s.kind in ("steps", "label-panic"):
            raise InvalidInput(
                "via", f"a switch to {req.via} cannot be combined with the {s.kind} strategy"
            )
        if not req.via_forms:
            raise InvalidInput(
                "via_forms",
                f"say which {req.via} forms the patient will have",
                ["tablet:2s,5s,10s"],
            )
        if any(f.drug != req.via for f in req.via_forms):
            raise InvalidInput("via_forms", f"every form must be of {req.via}")


def _nominal_rate_check(req: TaperRequest, tk: TaperKnowledge) -> None:
    """Refuse a strategy whose own pace breaks the window bound (without an override)."""
    if req.override_reason is not None:
        return
    max_fraction, window = window_bound(tk)
    s = req.strategy
    changes = math.ceil((window - 1) / s.every_days)
    bound_text = f"the bound is {decimal_text(max_fraction * HUNDRED)}% within any {window} days"
    if s.kind == "percent" and s.percent is not None:
        kept = (1 - s.percent / HUNDRED) ** changes
        if 1 - kept > max_fraction:
            raise InvalidInput(
                "reduce",
                f"{decimal_text(s.percent)}% every {s.every_days} days cuts "
                f"{_pct(1 - kept, Decimal(1))}% "
                f"within {window} days; {bound_text}. Reduce less or less often, or override "
                "with a reason",
            )
    if s.kind == "amount" and s.amount_mg is not None:
        cut = s.amount_mg * changes
        if cut > req.daily_dose_mg * max_fraction:
            raise InvalidInput(
                "reduce_by",
                f"{format_mg(s.amount_mg)} every {s.every_days} days cuts "
                f"{_pct(cut, req.daily_dose_mg)}% "
                f"of {format_mg(req.daily_dose_mg)}/day within {window} days; {bound_text}. "
                "Reduce less or less often, or override with a reason",
            )


def plan_taper(request: TaperRequest, kb: Knowledge) -> TaperPlan:
    """Make a taper plan within the cited bounds, or raise a clear error saying why not."""
    tk = kb.taper
    req = request
    _validate_request(kb, req)
    _nominal_rate_check(req, tk)
    used_mg, table, eq_note = _equivalence(kb, req.drug, "drug")
    b = _Builder(kb, tk, req, day=req.start)
    times = [t for t, _ in req.split]
    shares = [mg for _, mg in req.split]
    maker = DoseMaker(req.forms, req.daily_dose_mg)
    for time, mg in req.split:
        if maker.ticks(mg) < 0 or not maker.makeable_per_time(maker.ticks(mg)):
            raise InvalidInput(
                "split",
                f"{format_mg(mg)} at {time} cannot be made from "
                + ", ".join(f.label for f in req.forms),
            )
    daily = DailyDoses(maker, times, shares)
    start_adms = tuple(
        Administration(t, req.drug, mg, maker.takes(maker.ticks(mg))) for t, mg in req.split
    )
    s = req.strategy
    if s.kind == "label-panic":
        b.findings.append(
            _finding(
                kb,
                tk.rule("short-course"),
                "Label panic-disorder schedule: a short-course option, far faster than the taper "
                "bound",
                f"Decrease by {format_mg(tk.label_panic.reduce_per_dose_mg)} "
                f"{tk.label_panic.doses_per_day} times a day every {tk.label_panic.every_days} "
                "days "
                "(label). For long-term users this breaks the guideline's ceiling "
                f"({tk.rule('window-bound').title}); use it only after a short course.",
            )
        )
    if s.kind == "steps":
        _explicit_steps(b, daily, start_adms)
    else:
        first_days = s.every_days
        b.add("start", start_adms, first_days, ["current dose"])
        current = maker.ticks(req.daily_dose_mg)
        if req.via is not None:
            maker, daily, current = _switch(b, daily, times)
        _reduce_to_zero(b, daily, current)
    if b.rounded:
        listed = ", ".join(str(i) for i in b.rounded)
        b.findings.append(
            _finding(
                kb,
                tk.rule("rounded-step"),
                f"{len(b.rounded)} step(s) use the nearest makeable dose, not the exact target",
                f"Steps {listed}: the target dose could not be made from the forms given; each "
                "uses the "
                "makeable dose nearest to it within the bound (see the step notes).",
            )
        )
    _pace_warning(b)
    bounds = _bounds_info(kb, req)
    if req.override_reason is not None:
        bounds += (
            BoundInfo(
                "OVERRIDE",
                1,
                f"Clinician override of the taper bound: {req.override_reason.strip()}",
                (),
            ),
        )
    history = (PlanVersion(1, req.start, req.made_by, "plan made", "create", s.text),)
    return TaperPlan(
        drug=req.drug,
        start=req.start,
        strategy=s,
        forms=req.forms,
        via=req.via,
        via_forms=req.via_forms,
        equivalence_table=table,
        equivalence_mg=used_mg,
        equivalence_note=eq_note,
        steps=tuple(b.steps),
        findings=tuple(b.findings),
        bounds=bounds,
        override_reason=req.override_reason.strip() if req.override_reason else None,
        knowledge_version=kb.version,
        history=history,
        protocol=kb.protocol,
    )


def _pace_warning(b: _Builder) -> None:
    """Warn when the chosen pace is faster than the guideline's starting pace (not a bound)."""
    kb, req = b.kb, b.request
    rule = kb.taper.rule("starting-pace")
    limit, window = starting_pace_limit(kb.taper)
    s = req.strategy
    if s.kind == "steps":
        # a cut the forms force in the low band is the tail rule's, not the chosen pace
        forced: set[int] = set()
        for step in b.steps:
            if any(n.startswith("low-dose step") for n in step.notes):
                first = (step.start - req.start).days
                forced.update(range(first, first + step.days))
        late = [d for d in steps_pace_violations(b.timeline, limit, window) if d not in forced]
        if not late:
            return
        day = late[0]
        earlier = max(b.timeline[max(0, day - window + 1) : day])
        cut = 1 - b.timeline[day] / earlier
        how = f"the steps given cut {_pct(cut, Decimal(1))}% within {window} days"
    else:
        panic = s.kind == "label-panic"
        lp = kb.taper.label_panic
        cut = starting_pace_cut(
            s.kind,
            lp.every_days if panic else s.every_days,
            window,
            req.daily_dose_mg,
            percent=s.percent,
            amount_mg=lp.reduce_per_dose_mg * lp.doses_per_day if panic else s.amount_mg,
        )
        if cut <= limit:
            return
        how = f"{s.text} cuts {_pct(cut, Decimal(1))}% within {window} days"
    pace, ceiling = rule.params["guideline_pace"], rule.params["guideline_ceiling"]
    b.findings.append(
        _finding(
            kb,
            rule,
            f"Faster than the guideline's starting pace ({pace}): "
            f"{_pct(cut, Decimal(1))}% within {window} days",
            f"This plan: {how}. The Joint guideline starts with reductions of {pace} "
            f"({ceiling}, the hard bound here). A faster start can suit lower doses taken for a "
            "short time; watch for withdrawal at each reduction and slow or pause if it emerges.",
        )
    )


def _bounds_info(kb: Knowledge, req: TaperRequest) -> tuple[BoundInfo, ...]:
    tk = kb.taper
    rule = tk.rule("window-bound")
    out = [
        BoundInfo(rule.id, rule.version, rule.title, source_refs(kb, rule.sources)),
        BoundInfo(
            "TAPER-PACE",
            1,
            f"Default pace {decimal_text(tk.pace.percent)}% of the current dose every "
            f"{tk.pace.every_days} days; "
            f"this plan: {req.strategy.text}",
            source_refs(kb, tk.pace.sources),
        ),
        BoundInfo(
            "TAPER-ADJUST",
            1,
            "Withdrawal symptoms: hold or slow the taper; never speed it up",
            source_refs(kb, tk.adjust.sources),
        ),
    ]
    if req.via is not None:
        out.append(
            BoundInfo(
                "TAPER-SWITCH",
                1,
                f"Switch to {req.via} one dose time at a time over {tk.switch.total_days} days",
                source_refs(kb, tk.switch.sources),
            )
        )
    return tuple(out)


def _target_ticks(
    b: _Builder, daily: DailyDoses, current: int, converted_amount: Decimal | None
) -> Decimal:
    s = b.request.strategy
    maker = daily.maker
    cur_mg = maker.mg(current)
    if s.kind == "percent" and s.percent is not None:
        return cur_mg * (1 - s.percent / HUNDRED)
    if s.kind == "label-panic":
        lp = b.tk.label_panic
        return cur_mg - lp.reduce_per_dose_mg * lp.doses_per_day
    amount = converted_amount if converted_amount is not None else (s.amount_mg or ZERO)
    return cur_mg - amount


def _reduce_to_zero(b: _Builder, daily: DailyDoses, current: int) -> None:
    tk, kb, req = b.tk, b.kb, b.request
    s = req.strategy
    maker = daily.maker
    drug = req.via or req.drug
    max_fraction, window = window_bound(tk)
    override = req.override_reason is not None
    exempt = s.kind == "label-panic"
    every = tk.label_panic.every_days if exempt else s.every_days
    amount = None
    if s.kind == "amount" and req.via is not None and s.amount_mg is not None:
        amount = s.amount_mg * used_mg(kb, drug) / used_mg(kb, req.drug)
    per_de = diazepam_equivalent_mg(kb, drug, Decimal(1))
    fixed_rule = tk.rule("fixed-share")
    fixed_warned = False
    while current > 0:
        cur_mg = maker.mg(current)
        target = max(_target_ticks(b, daily, current, amount), ZERO)
        floor_mg = b.floor_de() / per_de
        notes: list[str] = []
        days = every
        lowest = target if (override or exempt) else max(target, floor_mg)
        if s.kind == "amount" and target < floor_mg and not override and not fixed_warned:
            fixed_warned = True
            b.findings.append(
                _finding(
                    kb,
                    fixed_rule,
                    f"From {format_mg(cur_mg)}/day the fixed cut exceeds the bound: smaller cuts "
                    "used",
                    f"A fixed {format_mg(cur_mg - target)}/day cut is "
                    f"{_pct(cur_mg - target, cur_mg)}% of "
                    f"{format_mg(cur_mg)}/day; the planner took the smallest makeable cuts within "
                    f"{decimal_text(max_fraction * HUNDRED)}% in {window} days from here on.",
                    len(b.steps) + 1,
                )
            )
        options = [d for d in daily.below(current) if maker.mg(d) >= lowest]
        below = daily.below(current)
        if options:
            new = options[0]
            if maker.mg(new) != target:
                notes.append(
                    f"target {format_mg(target)}/day is not makeable; "
                    f"{format_mg(maker.mg(new))}/day is the "
                    "nearest makeable dose within the bound"
                )
        elif below and (override or exempt or maker.mg(below[-1]) >= floor_mg):
            new = below[-1]
            notes.append(
                f"target {format_mg(target)}/day is not makeable; {format_mg(maker.mg(new))}/day "
                "is the "
                "smallest makeable cut within the bound"
            )
        else:
            new = below[-1] if below else 0
            new_mg = maker.mg(new)
            cut = cur_mg - new_mg
            if override or exempt:
                pass
            elif in_low_band(kb, drug, cur_mg):
                rule = tk.rule("tail-step")
                steps_needed = math.ceil(cut / cur_mg / max_fraction)
                days = max(every, window * steps_needed) if new else every
                what = "stop" if new == 0 else f"{format_mg(new_mg)}/day"
                b.findings.append(
                    _finding(
                        kb,
                        rule,
                        f"Low-dose step {format_mg(cur_mg)}/day to {what}: a "
                        f"{_pct(cut, cur_mg)}% cut, "
                        "the smallest the forms allow",
                        f"The bound allows down to {format_mg(floor_mg)}/day, but no dose from "
                        f"there up to {format_mg(cur_mg)}/day "
                        "can be made from the forms given; a finer form (ODT or a liquid) would "
                        "allow smaller cuts."
                        + (
                            f" The new dose is kept {days} days to stay within the average pace."
                            if new
                            else ""
                        ),
                        len(b.steps) + 1,
                    )
                )
                notes.append(
                    f"low-dose step: {_pct(cut, cur_mg)}% cut, the smallest the forms allow"
                )
            else:
                raise PlanInfeasible(
                    f"forms: from {format_mg(cur_mg)}/day the forms make no dose within the bound "
                    f"(at least {format_mg(max(floor_mg, target))}/day); the next lower dose is "
                    f"{format_mg(new_mg)}/day, a {_pct(cut, cur_mg)}% cut. Add a smaller strength, "
                    "an ODT or a liquid, or override with a reason"
                )
        if override and not exempt:
            de_new = maker.mg(new) * per_de
            if de_new < b.floor_de():
                notes.append(f"above the bound by clinician override: {req.override_reason}")
        if any(n.startswith("target ") for n in notes):
            b.rounded.append(len(b.steps) + 1)
        if new == 0:
            b.add("stop", (), 1, ["stop: no more doses"])
            return
        b.add("reduce", daily.administrations(drug, new), days, notes)
        current = new


def _switch(
    b: _Builder, daily: DailyDoses, times: Sequence[str]
) -> tuple[DoseMaker, DailyDoses, int]:
    """Substitute diazepam one dose time at a time over the switch period."""
    kb, tk, req = b.kb, b.tk, b.request
    if req.via is None:
        raise InvalidInput("via", "a switch names the drug to switch to")
    via = req.via
    last = b.steps[-1]
    adms = list(last.administrations)
    ratio = used_mg(kb, via) / used_mg(kb, req.drug)
    start_de = sum((diazepam_equivalent_mg(kb, a.drug, a.dose_mg) for a in adms), ZERO)
    via_maker = DoseMaker(req.via_forms, start_de * used_mg(kb, via) / 10 + 1)
    n = len(adms)
    stage_days = [tk.switch.total_days // n] * n
    stage_days[-1] += tk.switch.total_days - sum(stage_days)
    max_fraction, _ = window_bound(tk)
    for i in range(n):
        a = adms[i]
        equal = a.dose_mg * ratio
        ticks = via_maker.ticks(equal, exact=False)
        while ticks > 0 and not via_maker.makeable_per_time(ticks):
            ticks -= 1
        made = via_maker.mg(ticks)
        if made * (1 / ratio) < a.dose_mg * (1 - max_fraction) or ticks == 0:
            raise PlanInfeasible(
                f"via_forms: {format_mg(a.dose_mg)} {req.drug} at {a.time} equals "
                f"{format_mg(equal)} {via}; "
                f"the {via} forms given make at most {format_mg(made)} without going over. "
                "Add a smaller strength or a scored tablet"
            )
        adms[i] = Administration(a.time, via, made, via_maker.takes(ticks))
        note = f"{a.time}: {format_mg(a.dose_mg)} {req.drug} replaced by {format_mg(made)} {via}"
        if made != equal:
            note += f" (equivalent {format_mg(equal)}, rounded down to a makeable dose)"
        b.add("switch", tuple(adms), stage_days[i], [note])
    shares = [a.dose_mg for a in adms]
    via_daily = DailyDoses(via_maker, [a.time for a in adms], shares)
    current = via_maker.ticks(sum(shares, ZERO))
    return via_maker, via_daily, current


def _explicit_steps(b: _Builder, daily: DailyDoses, start_adms: tuple[Administration, ...]) -> None:
    req, tk, kb = b.request, b.tk, b.kb
    maker = daily.maker
    max_fraction, window = window_bound(tk)
    steps = req.strategy.steps
    if steps[-1][0] != 0:
        raise InvalidInput(
            f"steps[{len(steps)}]", "the last step must be 0 mg (the plan ends at zero)"
        )
    previous = req.daily_dose_mg
    per_de = diazepam_equivalent_mg(kb, req.drug, Decimal(1))
    first = True
    for n, (dose, days) in enumerate(steps, start=1):
        where = f"steps[{n}]"
        if dose > previous:
            raise InvalidInput(
                where,
                f"{format_mg(dose)}/day is above the dose before it ({format_mg(previous)}/day)",
            )
        ticks = maker.ticks(dose)
        if ticks < 0 or ticks not in daily.daily:
            raise InvalidInput(
                where,
                f"{format_mg(dose)}/day cannot be made from "
                + ", ".join(f.label for f in req.forms),
            )
        if first and dose != req.daily_dose_mg:
            b.add("start", start_adms, req.strategy.every_days, ["current dose"])
        first = False
        notes: list[str] = []
        if b.steps and dose * per_de < b.floor_de():
            cur = previous
            cut = cur - dose
            forced = not [
                d for d in daily.below(maker.ticks(cur)) if maker.mg(d) * per_de >= b.floor_de()
            ]
            if req.override_reason is not None:
                pass
            elif forced and in_low_band(kb, req.drug, cur):
                b.findings.append(
                    _finding(
                        kb,
                        tk.rule("tail-step"),
                        f"Low-dose step {format_mg(cur)}/day to {format_mg(dose)}/day: "
                        f"a {_pct(cut, cur)}% cut, the smallest the forms allow",
                        "No smaller cut can be made from the forms given.",
                        len(b.steps) + 1,
                    )
                )
                notes.append(f"low-dose step: {_pct(cut, cur)}% cut, the smallest the forms allow")
            else:
                raise InvalidInput(
                    where,
                    f"{format_mg(previous)} to {format_mg(dose)}/day breaks the bound of "
                    f"{decimal_text(max_fraction * HUNDRED)}% within any {window} days; "
                    "make smaller or later cuts, or override with a reason",
                )
        if dose == 0:
            b.add("stop", (), 1, ["stop: no more doses"])
            return
        kind: StepKind = "start" if not b.steps else ("hold" if dose == previous else "reduce")
        b.add(kind, daily.administrations(req.drug, ticks), days, notes)
        previous = dose
