"""The Spark session a screen starts: a local one runs Python workers with this interpreter
and gives its JVM the heap BENZOSAFE_SPARK_DRIVER_MEMORY asks for; a size Spark would not
read is a clear error before anything starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed")

SESSION = """
import json
from benzosafe.population.engines import SparkEngine
engine = SparkEngine(master="local[1]", input_size=0)
context = engine._spark.sparkContext
heap = int(context._jvm.java.lang.Runtime.getRuntime().maxMemory())
worker = context.parallelize([0], 1).map(lambda _: __import__("sys").executable).collect()[0]
print(json.dumps({"heap": heap, "worker": worker}))
engine.close()
"""


def test_a_local_session_runs_this_python_and_the_heap_asked_for() -> None:
    from benzosafe.population.engines import find_java_home

    java = find_java_home()
    if java is None:
        pytest.skip("Spark needs Java: no JAVA_HOME and no java on PATH")
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    # no virtual environment on PATH: a worker started as "python3" would lack pyspark
    env |= {"PATH": "/usr/bin:/bin", "JAVA_HOME": java, "BENZOSAFE_SPARK_DRIVER_MEMORY": "768m"}
    done = subprocess.run(
        [sys.executable, "-c", SESSION], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["worker"] == sys.executable
    assert 600 * 2**20 < seen["heap"] <= 768 * 2**20  # not the default 2g


def test_a_driver_memory_spark_would_not_read_is_a_clear_error(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("fill_id\n")
    env = {**os.environ, "BENZOSAFE_SPARK_DRIVER_MEMORY": "lots"}
    code = "from benzosafe.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "screen", str(table), "--engine", "spark"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert "BENZOSAFE_SPARK_DRIVER_MEMORY" in done.stderr and "'lots'" in done.stderr
    assert "Traceback" not in done.stderr
