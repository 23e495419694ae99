"""`benzosafe serve-cds` refuses unsafe or broken configurations with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "benzosafe", "serve-cds", "--port", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _issuers(tmp_path: Path, body: str) -> str:
    path = tmp_path / "issuers.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--issuers"),
        (("--issuers", "ISSUERS_OK"), "--public-url"),
        (("--issuers", "ISSUERS_BAD", "--public-url", "https://cds.example.org"), "JWK set"),
        (("--dev-no-jwt", "--workers", "2", "--state", ":memory:"), "--state"),
        (("--dev-no-jwt", "--fhir-server", "https://ehr.example.org/fhir/../admin"), "dot seg"),
        (("--dev-no-jwt", "--fhir-server", "https://user:pw@ehr.example.org/fhir"), "user info"),
        (("--dev-no-jwt", "--max-body-bytes", "0"), "--max-body-bytes"),
        (("--dev-no-jwt", "--max-token-lifetime", "0"), "--max-token-lifetime"),
    ],
    ids=[
        "no-issuers",
        "no-public-url",
        "broken-jwks-file",
        "workers-in-memory",
        "fhir-server-dot-segment",
        "fhir-server-user-info",
        "no-body",
        "no-token-lifetime",
    ],
)
def test_serve_cds_refuses_bad_configuration(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    good = _issuers(
        tmp_path,
        '[[issuer]]\niss = "https://ehr.example.org/"\njku = ["https://ehr.example.org/jwks"]\n',
    )
    (tmp_path / "bad").mkdir()
    bad = _issuers(tmp_path / "bad", '[[issuer]]\niss = "x"\njwks_file = "missing.json"\n')
    args = tuple(good if a == "ISSUERS_OK" else bad if a == "ISSUERS_BAD" else a for a in args)
    result = _serve(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
