"""Run the real ``benzosafe serve`` in a child process on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

BENZOSAFE = Path(sys.executable).with_name("benzosafe")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self,
        database_url: str,
        cwd: Path,
        *,
        demo: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"server-{self.port}.log"
        env = {
            **os.environ,
            "BENZOSAFE_DATABASE_URL": database_url,
            "BENZOSAFE_ENV": "development",
            **(env or {}),
        }
        args = [str(BENZOSAFE), "serve", "--port", str(self.port)] + (["--demo"] if demo else [])
        self._log_file = self.log.open("w")
        # A process group of its own: ``serve`` runs worker processes (2 by default), and a
        # kill must take them all, not leave workers serving on after their supervisor.
        self.process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                httpx2.get(f"{self.url}/api/session", timeout=1)
                return
            except httpx2.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the server and its workers at once: a crash, nothing shut down."""
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait(10)
        self._log_file.close()
        return self.log.read_text()


def signed_in(url: str, username: str, password: str) -> tuple[httpx2.Client, str]:
    client = httpx2.Client(base_url=url, timeout=10)
    token = client.get("/api/session").json()["csrf_token"]
    response = client.post(
        "/api/session",
        json={"username": username, "password": password},
        headers={"X-CSRF-Token": token},
    )
    response.raise_for_status()
    return client, str(response.json()["csrf_token"])
