"""Runs of supply: a patient's fills of one class (or ingredient) merged into the spans of
days they cover, with gaps of at most a given number of days bridged.

:func:`runs_sql` turns fills ordered by day, with two window columns (the latest end of
supply before, the next fill's day), into runs; :func:`islands_sql` adds the window over a
patient and class; :data:`BZ_SEQ` is the window over every benzodiazepine fill per
ingredient that early refills and long-term use share (prelude ``bz_seq``).
"""

from __future__ import annotations

from benzosafe.population.sql.dialect import days
from benzosafe.population.sql.inputs import BZD_FILL


def _supply_window(order: str) -> tuple[str, str]:
    """The two window columns a run of supply needs, over one patient and class (or
    ingredient) in ``order``: the latest end of supply of the fills before, and the next
    fill's day."""
    return (
        f"MAX(end_day) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)",
        f"LEAD(fill_day) OVER ({order})",
    )


def runs_sql(windowed: str, gap: int) -> str:
    """Runs of supply (patient_id, cls, s, e) from fills with their window columns.

    ``windowed`` yields patient_id, cls, fill_day, end_day, prev_end and next_day (see
    :func:`_supply_window`) for fills ordered by day within each patient and class. A fill
    starts a run when it begins more than ``gap`` days after every earlier fill's supply
    ended, and ends one when the next fill begins more than ``gap`` days after every supply
    so far ended. Only the first fill of a day can start a run, and only the last can end
    one, so the order of the fills within a day does not matter. A fill that does both is a
    run of its own; the others pair up (a start, then its end) in a second, much smaller
    window.
    """
    return f"""
WITH marked AS (
  SELECT * FROM (
    SELECT patient_id, cls, fill_day, cur_end,
      CASE WHEN prev_end IS NULL OR fill_day > prev_end + {days(1 + gap)} THEN 1 ELSE 0 END
        AS is_first,
      CASE WHEN next_day IS NULL OR next_day > cur_end + {days(1 + gap)} THEN 1 ELSE 0 END
        AS is_last
    FROM (
      SELECT patient_id, cls, fill_day, prev_end, next_day,
        CASE WHEN prev_end > end_day THEN prev_end ELSE end_day END AS cur_end
      FROM ({windowed}) w
    ) c
  ) m
  WHERE is_first = 1 OR is_last = 1
)
SELECT patient_id, cls, fill_day AS s, cur_end AS e FROM marked WHERE is_first = 1 AND is_last = 1
UNION ALL
SELECT patient_id, cls, s, e FROM (
  SELECT patient_id, cls, is_first, fill_day AS s,
    LEAD(cur_end) OVER (PARTITION BY patient_id, cls ORDER BY fill_day, cur_end, is_last) AS e
  FROM marked WHERE is_first + is_last = 1
) pairs WHERE is_first = 1
"""


def islands_sql(source: str, gap: int) -> str:
    """Runs of supply per patient and class: fills merged when the gap is at most ``gap`` days.

    ``source`` yields patient_id, cls, fill_day, end_day; one window orders each patient's
    fills of a class by day, then end of supply (:func:`runs_sql`). Fills that tie on day
    and end are interchangeable here, so neither engine needs a tie-breaker on the fill id.
    """
    prev_end, next_day = _supply_window("PARTITION BY patient_id, cls ORDER BY fill_day, end_day")
    windowed = f"""
SELECT patient_id, cls, fill_day, end_day, {prev_end} AS prev_end, {next_day} AS next_day
FROM ({source}) src
"""
    return runs_sql(windowed, gap)


# Every benzodiazepine fill in one window per patient and ingredient, ordered by day, then
# supply from longest to shortest: the window of early refills (the day and supply of the
# previous fill) and, for the patients with one benzodiazepine, of runs of supply
# (:func:`runs_sql`), sorted once for both (prelude ``bz_seq``, shared by the measures).
_BZ_ORDER = "PARTITION BY patient_id, ing ORDER BY fill_day, days_supply DESC"
_BZ_PREV_END, _BZ_NEXT_DAY = _supply_window(_BZ_ORDER)
BZ_SEQ = (
    "bz_seq",
    f"""
SELECT patient_id, cls, ing, fill_day, end_day,
  LAG(fill_day) OVER ({_BZ_ORDER}) AS prev_day, LAG(days_supply) OVER ({_BZ_ORDER}) AS prev_supply,
  {_BZ_PREV_END} AS prev_end, {_BZ_NEXT_DAY} AS next_day
FROM fills WHERE {BZD_FILL}
""",
)


def fills_of(patients_where: str, fills_where: str) -> str:
    """patient_id, cls, fill_day, end_day of the fills matching ``fills_where`` (columns
    prefixed ``f.``) of the patients matching ``patients_where`` (prefixed ``p.``)."""
    return f"""
SELECT f.patient_id, f.cls, f.fill_day, f.end_day
FROM fills f JOIN patients p ON p.patient_id = f.patient_id
WHERE {fills_where} AND {patients_where}
"""
