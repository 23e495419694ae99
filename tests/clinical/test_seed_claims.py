"""The seed's claims (issue #16): the monograph says where the project's source page differs
from the label and notes the illicit market; level of care names the treatment the guideline
recommends alongside the taper. Each cited; shown in JSON, the terminal and the web page."""

from __future__ import annotations

import json
import subprocess
import sys

from benzosafe.clinical.level_of_care import recommend_level_of_care
from benzosafe.knowledge import load
from benzosafe.knowledge.monograph import monograph

KB = load()


def test_monograph_names_each_seed_claim_that_differs_from_the_label() -> None:
    m = monograph(KB, KB.benzodiazepines["clonazepam"])
    claims = {d["claim"]: d for d in m["source_differences"]}
    assert any("muscle relaxant" in c for c in claims)
    assert any("1 to 20 mg/day" in c for c in claims)
    assert any(c.startswith("Anxiety") for c in claims)
    for d in claims.values():
        refs = {s["ref"] for s in d["sources"]}
        assert "SEED" in refs and refs & {"L1", "L2", "L3"}, d
        assert d["label"] and d["verdict"]
    assert "20 mg/day" in next(d["label"] for c, d in claims.items() if "1 to 20" in c)


def test_monograph_notes_the_illicit_market_citing_the_dea() -> None:
    m = monograph(KB, KB.benzodiazepines["clonazepam"])
    texts = " ".join(d["text"] for d in m["illicit_market"])
    refs = {s["ref"] for d in m["illicit_market"] for s in d["sources"]}
    assert "illicit" in texts and "clonazepam" in texts
    assert {"DEA1", "DEA2"} <= refs
    assert KB.sources["DEA2"].publisher.startswith("U.S. Drug Enforcement Administration")


def test_drug_command_shows_them_in_json_and_on_the_terminal() -> None:
    cmd = [sys.executable, "-m", "benzosafe", "drug", "clonazepam"]
    data = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True,
                                     check=True).stdout)  # fmt: skip
    assert len(data["source_differences"]) == 3 and data["illicit_market"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "differs from the label" in text and "Illicit market" in text and "DEA2" in text


def test_level_of_care_names_the_treatment_alongside_the_taper() -> None:
    rec = recommend_level_of_care(
        {"drug": "clonazepam", "daily_dose": "2 mg/day", "other_substances": ["alcohol"]}, KB
    ).to_dict()
    alongside = {a["id"]: a for a in rec["alongside_taper"]}
    assert "CBT" in alongside["psychological-support"]["text"]
    assert "buprenorphine or methadone" in alongside["co-occurring-use-disorders"]["text"]
    for a in alongside.values():
        assert any(s["ref"] == "J1" and "recommendation" in s["section"] for s in a["sources"])
    # every level of care names it, the lowest included
    low = recommend_level_of_care({"drug": "clonazepam", "daily_dose": "0.25 mg/day"}, KB)
    assert low.level == "outpatient-taper" and len(low.alongside) == 2
