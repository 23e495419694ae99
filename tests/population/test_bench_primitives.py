"""``bench/screen_primitives.py`` times DuckDB and pandas doing the same steps: they must
give the same results, or its ratios compare different work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("threads", [None, 1])
def test_duckdb_and_pandas_give_the_same_result_at_each_step(
    tmp_path: Path, threads: int | None
) -> None:
    table = tmp_path / "dispensing.parquet"
    _load("screen_scale").generate(60_000, table)
    primitives = _load("screen_primitives")
    duck, pandas = primitives.Duck(table, threads), primitives.Pandas(table)
    for step in ("read", "group", "window"):
        ours, theirs = getattr(duck, step)(), getattr(pandas, step)()
        assert ours == theirs, step
        assert ours[0] > 0 and ours[1] > 0, step
    assert duck.read()[0] == 60_000
