"""The per-patient summary that every measure reads, and the shape of a measure's queries.

A measure (:class:`MeasureSQL`) names the per-patient aggregates it needs (:class:`Agg`:
a MIN, MAX, SUM, distinct count or list over one patient's fills of one drug class); the
screen computes those of all measures together, once, as the ``patients`` table
(:func:`summary_sql`: one ``GROUP BY patient_id`` per drug class), and each measure rules
most patients in or out from it before any window or range join. The helpers here build the
summary columns and the queries over ``patients`` that several measures share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from benzosafe.population.sql.dialect import when


@dataclass(frozen=True)
class Agg:
    """A per-patient aggregate of the summary: ``fn`` (MIN, MAX, SUM, COUNT DISTINCT or
    array_agg) of ``expr`` over the patient's fills of the class ``cls`` that meet ``cond``
    (a condition on the fill; empty: every fill of the class). NULL when no fill counts."""

    fn: Literal["MIN", "MAX", "SUM", "COUNT DISTINCT", "array_agg"]
    expr: str
    cls: int
    cond: str = ""

    def sql(self) -> str:
        """The aggregate over the fills of its class (the summary groups each class apart)."""
        if self.fn == "array_agg":
            return f"array_agg({self.expr})" + (f" FILTER (WHERE {self.cond})" if self.cond else "")
        inner = when(self.cond, self.expr) if self.cond else self.expr
        return f"COUNT(DISTINCT {inner})" if self.fn == "COUNT DISTINCT" else f"{self.fn}({inner})"


# (column of ``patients``, aggregate over one patient's fills)
Summary = tuple[tuple[str, Agg], ...]


@dataclass(frozen=True)
class MeasureSQL:
    """One measure as queries over ``fills`` and ``patients``: whom it flags, on which fills,
    out of whom.

    ``summary`` holds the per-patient aggregates the measure needs; the caller computes the
    summaries of all measures together as the ``patients`` table (one row per patient with
    fills, :func:`summary_sql`). ``prelude`` holds (name, query) tables to materialise next,
    in order; the other queries refer to them by name. ``evidence`` may join ``__HITS__``,
    the table of the measure's materialised hits; with ``evidence_lists`` it yields each
    patient's fill ids as one array (gathered by the summary) rather than one row a fill.
    """

    hits: str  # patient_id, value
    evidence: str  # patient_id, fill_id (or evidence: an array of fill ids)
    denominator: str  # patient_id
    levels: tuple[int, ...] = ()  # extra rates: hits whose value reaches each level
    prelude: tuple[tuple[str, str], ...] = ()
    # (reason, query of patient_id): patients left out of the denominator because a fact
    # needed to judge them is missing (:data:`NOT_EVALUATED`), each patient under one reason
    not_evaluated: tuple[tuple[str, str], ...] = ()
    summary: Summary = ()
    evidence_lists: bool = False


# Why a patient is left out of a measure's denominator: the fact that is missing.
NOT_EVALUATED = {
    "no_age": "no birth date or age on the fills",
    "no_dose_band": "a benzodiazepine without a dose band (no diazepam equivalent)",
    "no_prescriber_or_pharmacy_id": "a fill without a prescriber or pharmacy id",
}


def summary_sql(summaries: Iterable[Summary]) -> str:
    """The ``patients`` table: every measure's per-patient aggregates.

    Every patient with fills, with the lowest and highest of the ids behind its key (one
    GROUP BY over all fills), joined with one GROUP BY per drug class over that class's fills
    only: each class's aggregates then read only its rows and test no class (at 10M fills,
    0.8 s against 1.0 s for one GROUP BY of every aggregate over every fill).
    """
    columns: dict[str, Agg] = {}
    for summary in summaries:
        for name, agg in summary:
            if columns.setdefault(name, agg) != agg:
                raise AssertionError(f"summary column {name} defined twice")  # pragma: no cover
    classes = sorted({agg.cls for agg in columns.values()})
    selected = "".join(f", c{agg.cls}.{name}" for name, agg in columns.items())
    query = f"""
SELECT a.patient_id, a.patient, a.patient_max{selected}
FROM (
  SELECT patient_id, MIN(patient) AS patient, MAX(patient) AS patient_max
  FROM fills GROUP BY patient_id
) a"""
    for cls in classes:
        aggs = "".join(
            f",\n    {agg.sql()} AS {name}" for name, agg in columns.items() if agg.cls == cls
        )
        query += f"""
LEFT JOIN (
  SELECT patient_id{aggs}
  FROM fills WHERE cls = {cls} GROUP BY patient_id
) c{cls} ON c{cls}.patient_id = a.patient_id"""
    return query + "\n"


def key_collisions() -> str:
    """Patient keys shared by two different patient ids (see :func:`fills_sql`)."""
    return "SELECT COUNT(*) FROM patients WHERE patient <> patient_max"


def distinct_at_least(name: str, cls: int, cond: str, expr: str, k: int) -> tuple[Summary, str]:
    """Summary columns, and a test on them (``patients`` as ``p``): the patient's fills of
    class ``cls`` matching ``cond`` have at least ``k`` distinct values of ``expr``.

    Up to two distinct values are told by the minimum and the maximum, which cost far
    less than a distinct count over a hundred million fills.
    """
    lo, hi = f"{name}_min", f"{name}_max"
    summary: Summary = ((lo, Agg("MIN", expr, cls, cond)), (hi, Agg("MAX", expr, cls, cond)))
    if k <= 1:
        return summary, f"p.{lo} IS NOT NULL"
    if k == 2:
        return summary, f"p.{hi} > p.{lo}"
    count = (f"{name}_n", Agg("COUNT DISTINCT", expr, cls, cond))
    return (*summary, count), f"p.{name}_n >= {k}"


def patients_where(where: str) -> str:
    """Patients matching ``where`` (columns of ``patients``, bare or prefixed ``p.``)."""
    return f"SELECT patient_id FROM patients p WHERE {where}"


def patient_values(expr: str, where: str) -> str:
    return f"SELECT patient_id, CAST({expr} AS DOUBLE) AS value FROM patients WHERE {where}"


def fill_list(name: str, cls: int, where: str) -> tuple[tuple[str, Agg], str]:
    """A summary column gathering the ids of each patient's fills of class ``cls`` that
    match ``where``, and the evidence query that reads it (for a measure that flags a patient
    when any fill matches, the evidence is exactly those fills, so no second pass over the
    fills is needed).
    """
    column = (name, Agg("array_agg", "fill_id", cls, where))
    return column, f"SELECT patient_id, {name} AS evidence FROM patients WHERE {name} IS NOT NULL"
