"""A real Spark cluster: a standalone master and one worker started on this machine from the
scripts that ship with pyspark, the screen submitted to ``spark://127.0.0.1:PORT`` by the
command line, and its summary and flags identical to DuckDB's on the same table.

One small table, one run; the daemons are stopped at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benzosafe.knowledge import load
from benzosafe.population.synth import write_population

from .conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Spark daemon exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on port {port} after {seconds} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """spark://127.0.0.1:PORT of a standalone master with one worker (2 cores, 1 GB)."""
    pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed")
    from benzosafe.population.engines import find_java_home

    java = find_java_home()
    if java is None:
        pytest.skip("Spark needs Java: no JAVA_HOME and no java on PATH")
    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "JAVA_HOME": java,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    spark_class = str(home / "bin" / "spark-class")
    master_url = f"spark://127.0.0.1:{port}"
    daemons: list[subprocess.Popen[bytes]] = []
    # the command line's driver, started by the test, talks to the daemons on loopback too
    # and, as a user would for a small table, asks for few shuffle partitions (the default
    # 200 makes thousands of tiny tasks of a few hundred patients)
    before = {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "PYSPARK_SUBMIT_ARGS")}
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_SUBMIT_ARGS"] = "--conf spark.sql.shuffle.partitions=4 pyspark-shell"
    try:
        with (logs / "master.log").open("wb") as log:
            master = subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        daemons.append(master)
        _wait_for(port, master)
        with (logs / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master_url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    "2",
                    "--memory",
                    "1g",
                    "--webui-port",
                    str(worker_ui),
                    "--work-dir",
                    str(logs / "work"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        daemons.append(worker)
        _wait_for(worker_ui, worker)
        yield master_url
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def _flags(path: Path) -> list[tuple[Any, ...]]:
    source = path / "*.parquet" if path.is_dir() else path
    con = duckdb.connect()
    rows = con.execute(f"SELECT * FROM read_parquet('{source}') ORDER BY ALL").fetchall()  # noqa: S608
    con.close()
    return rows


def test_a_screen_submitted_to_a_standalone_cluster_equals_duckdb(
    cluster: str, tmp_path: Path
) -> None:
    paths = write_population(200, tmp_path / "population.parquet", load(), seed=11)
    results = {}
    for engine in ("duckdb", "spark"):
        out, summary = tmp_path / f"{engine}-flags.parquet", tmp_path / f"{engine}.json"
        args = ["--engine", engine, "--spark-master", cluster] if engine == "spark" else []
        done = run_cli(
            "screen", str(paths["records"]), "--exclusions", str(paths["exclusions"]),
            "--out", str(out), "--json", str(summary), *args,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        result = json.loads(summary.read_text())
        for varies in ("engine", "seconds"):
            result.pop(varies)
        results[engine] = (result, _flags(out))
    assert (tmp_path / "spark-flags.parquet").is_dir()  # written by the executors
    assert results["spark"] == results["duckdb"]
    assert sum(results["duckdb"][0]["flags"].values()) > 0
