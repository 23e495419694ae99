"""The screening logic, written once as SQL that both DuckDB and Spark SQL run.

Everything after the first step works on whole-day integers (days since 1970-01-01), so the
engines cannot differ on date arithmetic. The few spellings the two dialects do not share
come from :class:`~.dialect.Dialect`. The numbers in the queries come from the validated
measures of ``screening.toml``; strings are quoted by :func:`~.dialect.quote`. The shape is
chosen for 100M-row tables on one machine: the fills are materialised once, slim
(:mod:`.inputs`); every per-patient count, maximum, day of the first and last fill, and list
of fill ids that any measure needs is computed once, by one ``GROUP BY patient_id`` per drug
class (:mod:`.summaries`); runs of supply (:mod:`.runs`) and range joins run only on the
fills of patients that the summary cannot rule out (the early-refill window on every
benzodiazepine fill, shared with long-term use: the summary rules out too few); each kind
of measure is in :mod:`.measures` (first against last fill in :mod:`.first_last`). The
Dialect's sample and the patient-id ranges of :func:`~.inputs.patient_range` let a big
table be screened in parts. This package re-exports what the screen, the engines and the
benchmarks use.
"""

from benzosafe.population.sql.dialect import DUCKDB, SPARK, Dialect, quote
from benzosafe.population.sql.inputs import (
    BZD,
    EPSILON,
    HIGH_BAND,
    LAST_DAY,
    OPIOIDS,
    REASONS,
    checked_sql,
    class_code,
    fills_sql,
    patient_range,
    typed_sql,
)
from benzosafe.population.sql.measures import flags_sql, measure_sql
from benzosafe.population.sql.summaries import (
    NOT_EVALUATED,
    MeasureSQL,
    key_collisions,
    summary_sql,
)

__all__ = [
    "BZD",
    "DUCKDB",
    "EPSILON",
    "HIGH_BAND",
    "LAST_DAY",
    "NOT_EVALUATED",
    "OPIOIDS",
    "REASONS",
    "SPARK",
    "Dialect",
    "MeasureSQL",
    "checked_sql",
    "class_code",
    "fills_sql",
    "flags_sql",
    "key_collisions",
    "measure_sql",
    "patient_range",
    "quote",
    "summary_sql",
    "typed_sql",
]
