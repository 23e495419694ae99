"""Sampling the servers the load benchmarks start: py-spy on a process and its workers, and
a summary of what it sampled (own time and time inside, by function). Shared by
``cds_hooks_load.py`` and ``web_load.py``."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy(pid: int, out: str, *, gil: bool = False) -> subprocess.Popen[bytes]:
    """Start py-spy on ``pid`` and its subprocesses, writing raw stacks to ``out`` (stop it
    with SIGINT). With ``gil``, only the thread holding the GIL is sampled: where the
    process's Python CPU goes, not the threads waiting for their turn."""
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--rate", "250"]
    cmd += ["--format", "raw", "--output", out, "--nonblocking"]
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(text: str) -> str:
    """ "func (path/to/module.py:12)" as "func (module path)", the line dropped."""
    name, _, where = text.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        where = where.split(marker)[-1]
    return f"{name} ({where})"


def print_profile(path: str, top: int = 25) -> None:
    """Own time and time inside, by function, of py-spy's raw stacks."""
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inside[frame] += int(count)
    print(f"profile: {total} samples of the server's busy time (py-spy, all processes)")
    print("  own time:")
    for frame, n in own.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  time inside (own + callees), from the request handler down:")
    shown = 0
    for frame, n in inside.most_common():
        if n / total < 0.02 or shown >= top * 2:
            break
        if any(w in frame for w in ("runpy", "typer", "click", "uvicorn/main", "_run_code")):
            continue
        print(f"    {100 * n / total:5.1f}%  {frame}")
        shown += 1
