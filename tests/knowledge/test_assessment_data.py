"""The assessment data loads, cites known sources, and broken data is refused by name."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import pytest

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge import load
from benzosafe.knowledge.assessment import load_assessment_from

DATA = Path(str(files("benzosafe.knowledge") / "data"))


def test_packaged_assessment_data_loads() -> None:
    data = load().assessment
    assert set(data.instruments) == {"ciwa-b", "bwsq", "sds", "dsm5"}
    assert data.version.startswith(load().version)
    # Unverified instruments must be drafts, verified ones carry bands.
    assert data.instruments["ciwa-b"].status == "draft"
    assert data.instruments["bwsq"].status == "draft"
    assert data.instruments["sds"].bands and data.instruments["dsm5"].bands
    assert len(data.instruments["dsm5"].items) == 11
    assert data.instruments["ciwa-b"].max_total == 80


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    path = data / "assessment" / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return data


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("instruments.toml", "low = 7\n", "low = 8\n", "gap or overlap"),
        ("instruments.toml", 'scale = "difficulty"', 'scale = "nope"', "unknown scale"),
        ("instruments.toml", 'ref = "S3"', 'ref = "NOPE"', "NOPE"),
        ("instruments.toml", 'id = "sds"\n', 'id = "sds"\nsurprise = 1\n', "surprise"),
        ("instruments.toml", "draft_reason = ", "notes = ", "notes"),
        ("triage.toml", 'level = "emergency"\ncrisis = true\n', 'level = "emergency"\n', "crisis"),
        ("triage.toml", 'level = "self-care"\nsynonyms', 'level = "fine"\nsynonyms', "fine"),
        ("level_of_care.toml", '{ name = "no suicidality", fires = false',
         '{ name = "x", fires = true', "silent"),
        ("level_of_care.toml", '{ drug = "lorazepam"', '{ drug = "lorazepan"', "lorazepan"),
    ],
)  # fmt: skip
def test_broken_assessment_data_is_refused(
    tmp_path: Path, name: str, old: str, new: str, message: str
) -> None:
    data = _broken(tmp_path, name, old, new)
    with pytest.raises(KnowledgeError, match=message):
        load_assessment_from(data, load())
