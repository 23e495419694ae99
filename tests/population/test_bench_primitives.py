"""``bench/screen_primitives.py`` times DuckDB and pandas doing the same steps: they must
give the same results, or its ratios compare different work."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import load_bench


@pytest.mark.parametrize("threads", [None, 1])
def test_duckdb_and_pandas_give_the_same_result_at_each_step(
    tmp_path: Path, threads: int | None
) -> None:
    table = tmp_path / "dispensing.parquet"
    load_bench("screen_scale").generate(60_000, table)
    primitives = load_bench("screen_primitives")
    duck, pandas = primitives.Duck(table, threads), primitives.Pandas(table)
    try:
        for step in ("read", "group", "window"):
            ours, theirs = getattr(duck, step)(), getattr(pandas, step)()
            assert ours == theirs, step
            assert ours[0] > 0 and ours[1] > 0, step
        assert duck.read()[0] == 60_000
    finally:
        duck.close()
