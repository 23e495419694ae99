"""Makeable doses: which doses the patient's forms can make, and how, with fewest pieces.

:class:`DoseMaker` works in "ticks", the largest amount every piece (a tablet, a half of a
scored tablet, a liquid's smallest measured volume) is a whole number of, and finds for
each dose at one time of day the fewest pieces that make it and, among those, the fewest
products (a product is one form and strength: its tablets and halves count as one), so
that one time of day takes one product where the forms allow it without more pieces.
:func:`mixed_products_note` says why an administration needs more than one product.
:class:`DailyDoses` extends that to a day: which daily doses the dose times can make
together, and how to share one over the times closest to the original split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import combinations

from benzosafe.clinical.taper.model import ZERO, Administration, DoseForm, Take
from benzosafe.errors import InvalidInput, PlanInfeasible
from benzosafe.units import format_mg


class DoseMaker:
    """Which doses a set of forms can make at one time of day, and how (fewest pieces)."""

    def __init__(self, forms: Sequence[DoseForm], max_mg: Decimal) -> None:
        self.forms = tuple(forms)
        self.liquid = next((f for f in forms if f.form == "liquid"), None)
        pieces: list[tuple[Decimal, DoseForm, Decimal]] = []  # (mg, form, count)
        if self.liquid is not None:
            if self.liquid.step_ml is None:
                raise InvalidInput("liquid", "a liquid needs the smallest volume it is measured in")
            pieces.append(
                (self.liquid.strength_mg * self.liquid.step_ml, self.liquid, self.liquid.step_ml)
            )
        for f in forms:
            if f.form == "liquid":
                continue
            pieces.append((f.strength_mg, f, Decimal(1)))
            if f.scored:
                pieces.append((f.strength_mg / 2, f, Decimal("0.5")))
        # prefer larger pieces, whole before half, tablets before ODT on ties
        pieces.sort(key=lambda p: (-p[0], p[2] != 1, p[1].form != "tablet"))
        self.pieces = pieces
        fractions = [Fraction(p[0]) for p in pieces]
        tick = fractions[0]
        for fr in fractions[1:]:
            tick = Fraction(
                math.gcd(tick.numerator * fr.denominator, fr.numerator * tick.denominator),
                tick.denominator * fr.denominator,
            )
        self.tick = Decimal(tick.numerator) / Decimal(tick.denominator)
        self.sizes = [int(Fraction(p[0]) / tick) for p in pieces]
        self.max_ticks = self.ticks(max_mg, exact=False) + 1
        inf = 1 << 30
        best = [0] + [inf] * self.max_ticks
        choice = [-1] * (self.max_ticks + 1)
        for t in range(1, self.max_ticks + 1):
            for i, size in enumerate(self.sizes):
                if size <= t and best[t - size] + 1 < best[t]:
                    best[t] = best[t - size] + 1
                    choice[t] = i
        self._best = best
        self._choice = choice
        # products in the order of their largest piece; per set of products, its own table
        self.products = list(dict.fromkeys(p[1] for p in pieces))
        self._by_products: dict[tuple[int, ...], tuple[list[int], list[int]]] = {}
        self.per_time = [t for t in range(self.max_ticks + 1) if best[t] < inf]
        self._per_time_set = set(self.per_time)

    def ticks(self, mg: Decimal, exact: bool = True) -> int:
        q = mg / self.tick
        if exact and q != q.to_integral_value():
            return -1
        return int(q)

    def mg(self, ticks: int) -> Decimal:
        return self.tick * ticks

    def makeable_per_time(self, ticks: int) -> bool:
        return ticks in self._per_time_set

    def _table(self, chosen: tuple[int, ...]) -> tuple[list[int], list[int]]:
        """Fewest pieces per dose using only the products ``chosen`` (and the choices)."""
        if chosen not in self._by_products:
            allowed = [i for i, p in enumerate(self.pieces) if self.products.index(p[1]) in chosen]
            inf = 1 << 30
            best = [0] + [inf] * self.max_ticks
            choice = [-1] * (self.max_ticks + 1)
            for t in range(1, self.max_ticks + 1):
                for i in allowed:
                    size = self.sizes[i]
                    if size <= t and best[t - size] + 1 < best[t]:
                        best[t] = best[t - size] + 1
                        choice[t] = i
            self._by_products[chosen] = (best, choice)
        return self._by_products[chosen]

    def _fewest_products(self, ticks: int) -> list[int]:
        """The choices of the fewest products that make ``ticks`` in the fewest pieces."""
        for size in range(1, len(self.products)):
            for chosen in combinations(range(len(self.products)), size):
                best, choice = self._table(chosen)
                if best[ticks] == self._best[ticks]:
                    return choice
        return self._choice

    def takes(self, ticks: int) -> tuple[Take, ...]:
        counts: dict[int, int] = {}
        t = ticks
        choices = self._fewest_products(ticks) if ticks > 0 else self._choice
        while t > 0:
            i = choices[t]
            counts[i] = counts.get(i, 0) + 1
            t -= self.sizes[i]
        per_form: dict[DoseForm, Decimal] = {}
        for i, n in counts.items():
            _, form, unit = self.pieces[i]
            per_form[form] = per_form.get(form, ZERO) + unit * n
        out = []
        for form in [p[1] for p in self.pieces]:
            if form in per_form:
                amount = per_form.pop(form)
                if form.form == "liquid":
                    out.append(Take(form, volume_ml=amount))
                else:
                    out.append(Take(form, count=amount))
        return tuple(out)


def mixed_products_note(adm: Administration, forms: Sequence[DoseForm]) -> str | None:
    """Why an administration takes more than one product (None when it takes one): no one
    product makes its dose, or each that does needs more pieces."""
    if len({t.form for t in adm.takes}) < 2:
        return None
    pieces = sum((_pieces(t) for t in adm.takes), 0)
    singles = []
    for form in (f for f in forms if f.drug == adm.drug):
        alone = DoseMaker([form], adm.dose_mg)
        ticks = alone.ticks(adm.dose_mg)
        if ticks > 0 and alone.makeable_per_time(ticks):
            singles.append(" + ".join(t.text for t in alone.takes(ticks)))
    why = (
        "one product alone would need more pieces (" + "; ".join(singles) + ")"
        if singles
        else "no one product given makes it"
    )
    return (
        f"{adm.time}: {format_mg(adm.dose_mg)} takes {len({t.form for t in adm.takes})} "
        f"products in {pieces} pieces because {why}"
    )


def _pieces(take: Take) -> int:
    if take.form.form == "liquid":
        return 1
    return math.ceil(take.count)  # 1½ tablets is two pieces: one whole, one half


class DailyDoses:
    """Daily doses makeable over the dose times, and how to share one across the times."""

    def __init__(self, maker: DoseMaker, times: Sequence[str], shares: Sequence[Decimal]) -> None:
        self.maker = maker
        self.times = tuple(times)
        total = sum(shares, ZERO)
        self.shares = [Fraction(s / total) if total else Fraction(1, len(shares)) for s in shares]
        top = maker.max_ticks
        if maker.makeable_per_time(1):
            self.daily = set(range(top + 1))
        else:
            reach = {0}
            for _ in times:
                reach = {a + b for a in reach for b in maker.per_time if a + b <= top}
            self.daily = reach
        self.sorted_daily = sorted(self.daily)

    def allocate(self, ticks: int) -> tuple[int, ...]:
        """Per-time ticks summing to ``ticks``, closest to the original shares; ties give more
        to later times (the night dose is the last to go)."""
        per = self.maker.per_time
        ideals = [self.shares[i] * ticks for i in range(len(self.times))]
        for width in (3, None):
            cands: list[list[int]] = []
            for ideal in ideals:
                if width is None:
                    cands.append([p for p in per if p <= ticks])
                    continue
                below = [p for p in per if p <= ideal][-width:]
                above = [p for p in per if ideal < p <= ticks][:width]
                cands.append(sorted({0, *below, *above}))
            states: dict[int, tuple[Fraction, tuple[int, ...]]] = {0: (Fraction(0), ())}
            for i, options in enumerate(cands):
                nxt: dict[int, tuple[Fraction, tuple[int, ...]]] = {}
                for total, (cost, alloc) in states.items():
                    for c in options:
                        s = total + c
                        if s > ticks:
                            continue
                        item = (cost + abs(c - ideals[i]), (*alloc, c))
                        old = nxt.get(s)
                        if (
                            old is None
                            or item[0] < old[0]
                            or (item[0] == old[0] and item[1][::-1] > old[1][::-1])
                        ):
                            nxt[s] = item
                states = nxt
            if ticks in states:
                return states[ticks][1]
        raise PlanInfeasible(
            f"forms: {format_mg(self.maker.mg(ticks))}/day cannot be shared over the dose times"
        )

    def administrations(self, drug: str, ticks: int) -> tuple[Administration, ...]:
        out = []
        for time, t in zip(self.times, self.allocate(ticks), strict=True):
            if t:
                out.append(Administration(time, drug, self.maker.mg(t), self.maker.takes(t)))
        return tuple(out)

    def below(self, ticks: int) -> list[int]:
        return [d for d in self.sorted_daily if d < ticks]
