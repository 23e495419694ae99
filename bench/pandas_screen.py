"""A straightforward pandas implementation of the screening measures (the benchmark baseline).

Same rules and parameters as ``benzosafe screen`` (read from the knowledge data), written the
way an analyst would in pandas: typed columns, dict look-ups of drugs, group-bys, merges,
sorts with shifts and cumulative maxima; no Python loop over rows.

Two versions, both timed by ``screen_scale.py``:

- :func:`screen_full` produces what the DuckDB screen produces: every flag with its value and
  evidence (the sorted fill ids behind it, each once), as ``population/sql/`` defines them; the rate
  of each measure (numerator, denominator, patients not evaluated; the deprescribing measure
  one rate per level); malformed rows counted by reason; rows and patients screened. It
  writes the flags to Parquet with the columns, and in the order, of ``screen.write_flags``.
- :func:`screen` (``--flags-only``), the earlier baseline: only the set of flagged patients
  of each measure, no values, evidence, rates or malformed counts (invalid rows are dropped).

It covers the shape of the benchmark's tables and of the rule cases: string ids, ISO text or
date columns, ``birth_date`` or ``age``, exclusions passed in. Not covered: a user's product
map (codes with a strength), a measurement period other than the span of the data, other
measure selections or parameter overrides, dates pandas' nanosecond timestamps cannot hold
(before 1677 or after 2262).

    pandas_screen.py DATA.parquet OUT.parquet [--flags-only]

writes the flags to OUT and prints one JSON line (counts, rates, malformed rows, seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benzosafe.knowledge import load
from benzosafe.knowledge.screening import Measure
from benzosafe.population.drugs import drug_keys, ingredient_codes
from benzosafe.population.screen import (
    FLAG_COLUMNS,
    RULE_SCHEMA,
    level_label,
    rule_rows,
)
from benzosafe.population.sql import (
    BZD,
    EPSILON,
    HIGH_BAND,
    LAST_DAY,
    OPIOIDS,
    REASONS,
    class_code,
)


def islands(f: pd.DataFrame, gap: int) -> pd.DataFrame:
    f = f.sort_values(["patient_id", "drug_class", "fill_day", "end_day", "fill_id"])
    grp = f.groupby(["patient_id", "drug_class"], sort=False)
    prev = grp["end_day"].cummax().groupby([f["patient_id"], f["drug_class"]]).shift()
    brk = (f["fill_day"] > prev + 1 + gap).astype(int)
    f = f.assign(isl=brk.groupby([f["patient_id"], f["drug_class"]]).cumsum())
    return f.groupby(["patient_id", "drug_class", "isl"], as_index=False).agg(
        s=("fill_day", "min"), e=("end_day", "max")
    )


def screen(df: pd.DataFrame) -> dict[str, set[str]]:
    kb, screening = load(), load().screening
    keys = {k.drug_key: k for k in drug_keys(kb)}
    m = {
        m.kind + ":" + str(m.params.get("drug_class", "")): m.typed_params()
        for m in screening.measure
    }
    fill = pd.to_datetime(df["fill_date"], format="%Y-%m-%d", errors="coerce")
    birth = pd.to_datetime(df["birth_date"], format="%Y-%m-%d", errors="coerce")
    key = df["drug"].str.strip().str.lower().str.replace("-", "", regex=False)
    ing = key.map({k: v.ingredient for k, v in keys.items()})
    ing = ing.fillna(key.str.split(" ").str[0].map({k: v.ingredient for k, v in keys.items()}))
    ds = pd.to_numeric(df["days_supply"], errors="coerce")
    ok = df["patient_id"].notna() & fill.notna() & (ds > 0) & ing.notna()
    ok &= (df["quantity"] > 0) & (df["strength_mg"] > 0) & (birth <= fill)
    f = df.loc[
        ok, ["fill_id", "patient_id", "quantity", "strength_mg", "prescriber_id", "pharmacy_id"]
    ]
    f = f.assign(ingredient=ing[ok], fill_day=(fill[ok] - pd.Timestamp("1970-01-01")).dt.days)
    by_ing = {v.ingredient: v for v in keys.values()}
    f["drug_class"] = f["ingredient"].map({k: v.drug_class for k, v in by_ing.items()})
    f["days_supply"] = ds[ok].astype(int)
    start, end = f["fill_day"].min(), (f["fill_day"] + f["days_supply"] - 1).max()
    f["end_day"] = np.minimum(f["fill_day"] + f["days_supply"] - 1, end)
    fb, fl = fill[ok], birth[ok]
    before = (fb.dt.month * 100 + fb.dt.day) < (fl.dt.month * 100 + fl.dt.day)
    f["age"] = fb.dt.year - fl.dt.year - before.astype(int)
    daily = f["quantity"] * f["strength_mg"] / f["days_supply"]
    low = f["ingredient"].map({k: v.low_max_mg for k, v in by_ing.items()})
    mod = f["ingredient"].map({k: v.moderate_max_mg for k, v in by_ing.items()})
    f["de"] = daily * f["ingredient"].map({k: v.de_per_mg for k, v in by_ing.items()})
    f["band"] = np.where(
        low.isna(),
        np.nan,
        np.where(daily <= low + EPSILON, 1, np.where(daily <= mod + EPSILON, 2, HIGH_BAND)),
    )
    f = f[(f["fill_day"] >= start)]
    out: dict[str, set[str]] = {}
    bz = f[f["drug_class"] == "benzodiazepines"]
    op = f[f["drug_class"] == "opioids"]

    # COB
    p = m["cob:"]
    o = op.groupby("patient_id").agg(
        c=("fill_day", "nunique"), s=("days_supply", "sum"), a=("age", "min")
    )
    den = o[
        (o.c >= p.min_opioid_claims) & (o.s >= p.min_opioid_days_supply) & (o.a >= p.min_age_years)
    ].index
    b2 = bz.groupby("patient_id")["fill_day"].nunique()
    b2 = b2[b2 >= p.min_benzodiazepine_claims].index
    isl = islands(
        f[
            f["drug_class"].isin(["benzodiazepines", "opioids"])
            & f["patient_id"].isin(den.intersection(b2))
        ],
        0,
    )
    j = isl[isl.drug_class == "benzodiazepines"].merge(
        isl[isl.drug_class == "opioids"], on="patient_id"
    )
    j = j[(j.s_x <= j.e_y) & (j.s_y <= j.e_x)]
    # numpy's stubs type a ufunc on Series as an array; pandas dispatches it to a Series
    overlap = cast(pd.Series, np.minimum(j.e_x, j.e_y) - np.maximum(j.s_x, j.s_y) + 1)
    days = overlap.groupby(j.patient_id).sum()
    out["SCR-COB"] = set(days[days >= p.min_overlap_days].index)

    # multiple-provider episodes
    for rule, cls in (("SCR-MPE-OPIOID", "opioids"), ("SCR-MPE-BZD", "benzodiazepines")):
        p = m[f"multiple-provider:{cls}"]
        c = f[(f.drug_class == cls) & ~f.ingredient.isin(p.exclude_ingredients)]
        n = c.groupby("patient_id").agg(
            a=("prescriber_id", "nunique"), b=("pharmacy_id", "nunique")
        )
        c = c[c.patient_id.isin(n[(n.a >= p.min_prescribers) & (n.b >= p.min_pharmacies)].index)]
        w = c[["patient_id", "fill_day"]].merge(
            c[["patient_id", "fill_day", "prescriber_id", "pharmacy_id"]], on="patient_id"
        )
        w = w[(w.fill_day_y >= w.fill_day_x) & (w.fill_day_y <= w.fill_day_x + p.window_days - 1)]
        g = w.groupby(["patient_id", "fill_day_x"]).agg(
            a=("prescriber_id", "nunique"), b=("pharmacy_id", "nunique")
        )
        out[rule] = set(
            g[(g.a >= p.min_prescribers) & (g.b >= p.min_pharmacies)].index.get_level_values(0)
        )

    # long-term
    p = m["long-term:"]
    r = islands(bz, p.max_gap_days)
    out["SCR-BZD-LONG-TERM"] = set(r[r.e - r.s + 1 >= p.min_run_days].patient_id)
    # high dose, older adults
    out["SCR-BZD-HIGH-DOSE"] = set(bz[bz.band == HIGH_BAND].patient_id)
    out["SCR-BZD-OLDER-ADULT"] = set(bz[bz.age >= m["older-adult:"].min_age_years].patient_id)
    # escalation and deprescribing: first and last fill
    e = bz[bz.band.notna()].sort_values(["patient_id", "fill_day", "fill_id"])
    first = e.groupby("patient_id").head(1).set_index("patient_id")
    last = e.groupby("patient_id").tail(1).set_index("patient_id")
    pair = first.join(last, lsuffix="_f", rsuffix="_l")
    pair = pair[pair.fill_day_l > pair.fill_day_f]
    out["SCR-BZD-ESCALATION"] = set(
        pair[pair.band_l - pair.band_f >= m["escalation:"].min_band_rise].index
    )
    # early refills: one dispensing per ingredient and day (the shortest supply), each
    # against the previous day's dispensing of the same ingredient
    p = m["early-refill:"]
    k = bz.sort_values(["patient_id", "ingredient", "fill_day", "days_supply", "fill_id"])
    k = k.drop_duplicates(["patient_id", "ingredient", "fill_day"])
    g = k.groupby(["patient_id", "ingredient"], sort=False)
    prev_day, prev_supply = g["fill_day"].shift(), g["days_supply"].shift()
    early = (k.fill_day - prev_day) * 100 < p.min_supply_elapsed_pct * prev_supply
    out["SCR-BZD-EARLY-REFILL"] = set(k[early].patient_id)
    p = m["deprescribing:"]
    d = pair[(pair.age_f >= p.min_age_years) & (pair.de_f > 0)]
    dec = (d.de_f - d.de_l) * 100.0 / d.de_f
    out["SCR-BZD-DEPRESCRIBING"] = set(dec[dec >= min(p.decrease_pct) - EPSILON].index)
    return out


# ---------------------------------------------------------------------------------------------
# The full baseline: the same output as the DuckDB screen.

EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class Measured:
    """One measure's flags (value per patient code, evidence rows) and its rate counts."""

    value: pd.Series  # indexed by patient code
    evidence: pd.DataFrame  # pid, fill_id (repeats allowed)
    denominator: int
    not_evaluated: dict[str, int] = field(default_factory=dict)  # patients by reason
    levels: list[tuple[str, int]] = field(default_factory=list)  # (label, numerator)


@dataclass
class FullResult:
    flags: pd.DataFrame  # screen.FLAG_COLUMNS, sorted by patient_id and rule
    # rule, label, numerator, denominator, not evaluated, not evaluated by reason
    rates: list[tuple[str, str, int, int, int, dict[str, int]]]
    malformed: dict[str, int]
    rows_read: int
    rows_screened: int
    patients: int


def _text(s: pd.Series) -> pd.Series:
    """A column as text (ids of another type are cast), missing values kept missing."""
    return s if s.dtype == object else s.astype(str).where(s.notna())


def _date(s: pd.Series) -> pd.Series:
    """ISO text (YYYY-MM-DD, spaces trimmed), dates or timestamps as dates; NaT when not one."""
    if pd.api.types.is_datetime64_any_dtype(s):
        normalized: pd.Series = s.dt.normalize()
        return normalized
    first = s.dropna().head(1)
    if len(first) and isinstance(first.iloc[0], str):
        t = s.str.strip()
        iso = t.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", na=False)
        return pd.to_datetime(t.where(iso), format="%Y-%m-%d", errors="coerce")
    return pd.to_datetime(s, errors="coerce")


def _drug_table() -> tuple[pd.DataFrame, dict[str, int]]:
    """The drug keys (one row each, plus a last row of NaN for an unknown drug) and each
    key's row."""
    keys = drug_keys(load())
    codes = ingredient_codes(load())
    table = pd.DataFrame(
        {
            "ing": [codes[k.ingredient] for k in keys] + [0],
            "cls": [class_code(k.drug_class) for k in keys] + [0],
            "de_per_mg": [k.de_per_mg for k in keys] + [None],
            "low_max_mg": [k.low_max_mg for k in keys] + [None],
            "moderate_max_mg": [k.moderate_max_mg for k in keys] + [None],
            "map_strength_mg": [k.strength_mg for k in keys] + [None],
        }
    ).astype(
        {c: "float64" for c in ("de_per_mg", "low_max_mg", "moderate_max_mg", "map_strength_mg")}
    )
    return table, {k.drug_key: i for i, k in enumerate(keys)}


def fills_of(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index, dict[str, int]]:
    """Well-formed fills with typed columns (patients as integer codes), the patient ids of
    the codes, and the malformed rows counted by the first reason each is malformed."""
    table, row_of = _drug_table()
    unknown = len(table) - 1
    # Each distinct drug value is resolved once: its key, else the key of its first word.
    drug_codes, drugs = pd.factorize(df["drug"])
    norm = pd.Series(drugs.astype(str)).str.strip().str.lower().str.replace("-", "", regex=False)
    row = norm.map(row_of).fillna(norm.str.split(" ").str[0].map(row_of)).fillna(unknown)
    row_of_fill = np.append(row.to_numpy(dtype="int64"), unknown)[drug_codes]  # -1 -> unknown
    drug = table.take(row_of_fill).set_axis(df.index)

    fill_id, patient = _text(df["fill_id"]), _text(df["patient_id"])
    fill = _date(df["fill_date"])
    fill_day = (fill.to_numpy().astype("datetime64[D]") - EPOCH).astype("int64")
    days_supply = pd.to_numeric(df["days_supply"], errors="coerce")
    quantity = pd.to_numeric(df["quantity"], errors="coerce")
    strength = (
        pd.to_numeric(df["strength_mg"], errors="coerce")
        if "strength_mg" in df
        else pd.Series(np.nan, index=df.index)
    ).fillna(drug["map_strength_mg"])
    if "birth_date" in df:
        birth = _date(df["birth_date"])
        before = fill.dt.month * 100 + fill.dt.day < birth.dt.month * 100 + birth.dt.day
        age = fill.dt.year - birth.dt.year - before.astype(int)
        bad_birth = df["birth_date"].notna() & ~(birth <= fill)
        bad_age = pd.Series(False, index=df.index)
    else:
        bad_birth = pd.Series(False, index=df.index)
        raw_age = df["age"] if "age" in df else pd.Series(np.nan, index=df.index)
        age = pd.to_numeric(raw_age, errors="coerce")
        bad_age = raw_age.notna() & (age.isna() | (age != age.round()))
        age = age.where(~bad_age)
    reason = np.select(
        [
            fill_id.isna() | (fill_id == ""),
            patient.isna() | (patient == ""),
            fill.isna(),
            days_supply.isna() | (days_supply <= 0) | (days_supply > LAST_DAY - fill_day),
            drug["cls"] == 0,
            quantity.isna() | (quantity <= 0),
            strength.isna() | (strength <= 0),
            bad_birth,
            bad_age | (age < 0),
        ],
        np.arange(1, len(REASONS) + 1, dtype="int8"),
        np.int8(0),
    )
    counts = np.bincount(reason, minlength=len(REASONS) + 1)
    malformed = {r: int(n) for r, n in zip(REASONS, counts[1:], strict=True) if n}
    ok = reason == 0

    drug = drug[ok]
    days_supply = days_supply[ok].astype("int64")
    daily = (quantity[ok] * strength[ok] / days_supply).to_numpy()
    low, moderate = drug["low_max_mg"].to_numpy(), drug["moderate_max_mg"].to_numpy()
    band = np.where(
        np.isnan(low),
        np.nan,
        np.where(daily <= low + EPSILON, 1, np.where(daily <= moderate + EPSILON, 2, HIGH_BAND)),
    )
    pid, patients = pd.factorize(patient[ok])
    prescriber, _ = pd.factorize(_text(df["prescriber_id"])[ok])
    pharmacy, _ = pd.factorize(_text(df["pharmacy_id"])[ok])
    f = pd.DataFrame(
        {
            "fill_id": fill_id[ok].to_numpy(),
            "pid": pid,
            "fill_day": fill_day[ok],
            "days_supply": days_supply.to_numpy(),
            "ing": drug["ing"].to_numpy("int16"),
            "cls": drug["cls"].to_numpy("int8"),
            "age": age[ok].to_numpy("float64"),
            # missing ids (code -1) are NaN: nunique does not count them
            "prescriber": np.where(prescriber < 0, np.nan, prescriber),
            "pharmacy": np.where(pharmacy < 0, np.nan, pharmacy),
            "de": daily * drug["de_per_mg"].to_numpy(),
            "band": band,
        }
    )
    # The measurement period is the span of the data: every fill is in it, and a supply is
    # clipped at its last day (a no-op here, as in the SQL by default).
    end = (f["fill_day"] + f["days_supply"] - 1).max()
    f["end_day"] = np.minimum(f["fill_day"] + f["days_supply"] - 1, end)
    return f, patients, malformed


def runs_of(f: pd.DataFrame, gap: int) -> pd.DataFrame:
    """Each fill with the number of its run of supply (``run``) per patient and class: a fill
    starts a new run when it begins more than ``gap`` days after every earlier fill's supply
    ended (order within a day does not matter)."""
    f = f.sort_values(["pid", "cls", "fill_day", "end_day"])
    new = (f["pid"] != f["pid"].shift()) | (f["cls"] != f["cls"].shift())
    prev_end = f.groupby(["pid", "cls"], sort=False)["end_day"].cummax().shift()
    return f.assign(run=(new | (f["fill_day"] > prev_end + 1 + gap)).cumsum())


def run_spans(r: pd.DataFrame) -> pd.DataFrame:
    """One row per run: pid, cls, first day s and last day of supply e."""
    return r.groupby("run").agg(
        pid=("pid", "first"), cls=("cls", "first"), s=("fill_day", "min"), e=("end_day", "max")
    )


def cob(f: pd.DataFrame, m: Measure, excluded: pd.Index) -> Measured:
    p = m.typed_params()
    op = f[f["cls"] == OPIOIDS]
    o = op.groupby("pid").agg(
        days=("fill_day", "nunique"), supply=("days_supply", "sum"), age=("age", "min")
    )
    eligible = (o["days"] >= p.min_opioid_claims) & (o["supply"] >= p.min_opioid_days_supply)
    den = o.index[eligible & (o["age"] >= p.min_age_years)].difference(excluded)
    no_age = o.index[eligible & o["age"].isna()].difference(excluded)
    bz_days = f[f["cls"] == BZD].groupby("pid")["fill_day"].nunique()
    both = den.intersection(bz_days.index[bz_days >= p.min_benzodiazepine_claims])
    c = f[f["cls"].isin([BZD, OPIOIDS]) & f["pid"].isin(both)]
    spans = run_spans(runs_of(c, 0))
    j = spans[spans["cls"] == BZD].merge(
        spans[spans["cls"] == OPIOIDS], on="pid", suffixes=("_b", "_o")
    )
    j = j[(j["s_b"] <= j["e_o"]) & (j["s_o"] <= j["e_b"])]
    # numpy's stubs type a ufunc on Series as an array; pandas dispatches it to a Series
    days = cast(pd.Series, np.minimum(j["e_b"], j["e_o"]) - np.maximum(j["s_b"], j["s_o"]) + 1)
    total = days.groupby(j["pid"]).sum()
    value = total[total >= p.min_overlap_days].astype("float64")
    # evidence: the fills whose supply overlaps a run of the other class
    e = c[c["pid"].isin(value.index)].merge(spans, on="pid", suffixes=("", "_run"))
    e = e[(e["cls"] != e["cls_run"]) & (e["fill_day"] <= e["e"]) & (e["s"] <= e["end_day"])]
    return Measured(value, e[["pid", "fill_id"]], len(den), {"no_age": len(no_age)})


def multiple_provider(f: pd.DataFrame, m: Measure) -> Measured:
    p = m.typed_params()
    codes = ingredient_codes(load())
    excluded = [codes[i] for i in p.exclude_ingredients if i in codes]
    c = f[(f["cls"] == class_code(p.drug_class)) & ~f["ing"].isin(excluded)]
    c = c.assign(unknown=c["prescriber"].isna() | c["pharmacy"].isna())
    g = c.groupby("pid").agg(
        prescribers=("prescriber", "nunique"),
        pharmacies=("pharmacy", "nunique"),
        unknown=("unknown", "any"),
    )
    enough = (g["prescribers"] >= p.min_prescribers) & (g["pharmacies"] >= p.min_pharmacies)
    cand = c[c["pid"].isin(g.index[enough])]
    # every window of window_days days that starts on a fill day
    w = cand[["pid", "fill_day"]].drop_duplicates().rename(columns={"fill_day": "w0"})
    w = w.merge(cand[["pid", "fill_day", "prescriber", "pharmacy"]], on="pid")
    w = w[(w["fill_day"] >= w["w0"]) & (w["fill_day"] <= w["w0"] + p.window_days - 1)]
    win = w.groupby(["pid", "w0"], as_index=False).agg(
        prescribers=("prescriber", "nunique"), pharmacies=("pharmacy", "nunique")
    )
    win = win[(win["prescribers"] >= p.min_prescribers) & (win["pharmacies"] >= p.min_pharmacies)]
    value = win.groupby("pid")["prescribers"].max().astype("float64")
    e = cand.merge(win[["pid", "w0"]], on="pid")
    e = e[(e["fill_day"] >= e["w0"]) & (e["fill_day"] <= e["w0"] + p.window_days - 1)]
    # a patient with a fill lacking a prescriber or pharmacy id and not flagged anyway is
    # not evaluated: left out of the denominator
    hit = g.index.isin(value.index)
    return Measured(
        value,
        e[["pid", "fill_id"]],
        int((~g["unknown"] | hit).sum()),
        {"no_prescriber_or_pharmacy_id": int((g["unknown"] & ~hit).sum())},
    )


def long_term(bz: pd.DataFrame, m: Measure) -> Measured:
    p = m.typed_params()
    r = runs_of(bz, p.max_gap_days)
    spans = run_spans(r)
    spans["days"] = spans["e"] - spans["s"] + 1
    long = spans[spans["days"] >= p.min_run_days]
    value = long.groupby("pid")["days"].max().astype("float64")
    # the fills dated within a long run are the fills of that run
    e = r.loc[r["run"].isin(long.index), ["pid", "fill_id"]]
    return Measured(value, e, bz["pid"].nunique())


def high_dose(bz: pd.DataFrame) -> Measured:
    high = bz[bz["band"] == HIGH_BAND]
    value = high.groupby("pid")["de"].max()
    banded = bz.loc[bz["band"].notna(), "pid"].nunique()
    no_band = {"no_dose_band": bz["pid"].nunique() - banded}
    return Measured(value, high[["pid", "fill_id"]], banded, no_band)


def older_adult(bz: pd.DataFrame, m: Measure) -> Measured:
    old = bz[bz["age"] >= m.typed_params().min_age_years]
    value = old.groupby("pid")["age"].max()
    aged = bz.loc[bz["age"].notna(), "pid"].nunique()
    no_age = {"no_age": bz["pid"].nunique() - aged}
    return Measured(value, old[["pid", "fill_id"]], aged, no_age)


def unbanded(bz: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per patient with benzodiazepine fills on 2 or more days whose fills with a dose band
    do not span 2 days (not in ``pairs``): the oldest age on a fill (NaN: none known)."""
    g = bz.groupby("pid").agg(days=("fill_day", "nunique"), age=("age", "max"))
    return g[(g["days"] >= 2) & ~g.index.isin(pairs.index)]


def first_and_last(bz: pd.DataFrame) -> pd.DataFrame:
    """Per patient whose benzodiazepine fills with a dose band span 2 or more days, the first
    (lowest fill id of the first day) and the last (highest fill id of the last day). A fill
    id given twice on the day is taken as the SQL takes it: by band, then dose (the lower
    first, the higher last), then for the first a known age before none, then the lower."""
    b = bz[bz["band"].notna()]
    day = b.groupby("pid")["fill_day"]
    first_day, last_day = day.transform("min"), day.transform("max")
    spans = last_day > first_day
    cols = ["pid", "fill_id", "band", "de", "age"]
    first = b.loc[spans & (b["fill_day"] == first_day), cols].sort_values(
        ["pid", "fill_id", "band", "de", "age"], na_position="last"
    )
    last = b.loc[spans & (b["fill_day"] == last_day), cols].sort_values(
        ["pid", "fill_id", "band", "de"]
    )
    first = first.drop_duplicates("pid", keep="first").set_index("pid")
    last = last.drop_duplicates("pid", keep="last").set_index("pid")
    return first.join(last, lsuffix="_f", rsuffix="_l")


def _pair_evidence(pairs: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame({"pid": pairs.index, "fill_id": pairs["fill_id_f"].to_numpy()}),
            pd.DataFrame({"pid": pairs.index, "fill_id": pairs["fill_id_l"].to_numpy()}),
        ]
    )


def escalation(pairs: pd.DataFrame, no_band: pd.DataFrame, m: Measure) -> Measured:
    rise = pairs["band_l"] - pairs["band_f"]
    hit = rise >= m.typed_params().min_band_rise
    value = rise[hit].astype("float64")
    return Measured(value, _pair_evidence(pairs[hit]), len(pairs), {"no_dose_band": len(no_band)})


def deprescribing(pairs: pd.DataFrame, no_band: pd.DataFrame, m: Measure) -> Measured:
    p = m.typed_params()
    d = pairs[(pairs["age_f"] >= p.min_age_years) & (pairs["de_f"] > 0)]
    not_evaluated = {
        "no_age": int(pairs["age_f"].isna().sum()),
        "no_dose_band": int((no_band["age"].isna() | (no_band["age"] >= p.min_age_years)).sum()),
    }
    decrease = (d["de_f"] - d["de_l"]) * 100.0 / d["de_f"]
    hit = decrease >= min(p.decrease_pct) - EPSILON
    value = decrease[hit]
    levels = [
        (level_label(level), int((value >= level - EPSILON).sum()))
        for level in sorted(p.decrease_pct)
    ]
    return Measured(value, _pair_evidence(d[hit]), len(d), not_evaluated, levels)


def early_refill(bz: pd.DataFrame, m: Measure) -> Measured:
    p = m.typed_params()
    # One dispensing per ingredient and day, with the shortest supply of that day, each
    # against the previous day's dispensing of the same ingredient.
    k = bz[["pid", "ing", "fill_day", "days_supply"]].sort_values(
        ["pid", "ing", "fill_day", "days_supply"]
    )
    k = k.drop_duplicates(["pid", "ing", "fill_day"])
    same = (k["pid"] == k["pid"].shift()) & (k["ing"] == k["ing"].shift())
    k = k.assign(prev_day=k["fill_day"].shift(), prev_supply=k["days_supply"].shift())
    k = k[same]  # a previous day of the same ingredient: the patient is in the denominator
    early = k[(k["fill_day"] - k["prev_day"]) * 100 < k["prev_supply"] * p.min_supply_elapsed_pct]
    early = early.astype({"prev_day": "int64", "prev_supply": "int64"})
    value = early.groupby("pid").size().astype("float64")
    # evidence: every fill of the early day, and of the previous day's fills with the
    # shortest supply, the one with the lowest id
    b = bz[bz["pid"].isin(value.index)]
    day = b.merge(early[["pid", "ing", "fill_day"]], on=["pid", "ing", "fill_day"])
    prev = early[["pid", "ing", "prev_day", "prev_supply"]].rename(
        columns={"prev_day": "fill_day", "prev_supply": "days_supply"}
    )
    prev = b.merge(prev, on=["pid", "ing", "fill_day", "days_supply"])
    prev = prev.sort_values("fill_id").drop_duplicates(["pid", "ing", "fill_day"])
    e = pd.concat([day[["pid", "fill_id"]], prev[["pid", "fill_id"]]])
    return Measured(value, e, k["pid"].nunique())


def _rules_table(measures: Sequence[Measure]) -> pd.DataFrame:
    """The rule columns of a flag, as ``screen.py`` registers them."""
    return pd.DataFrame(rule_rows(measures), columns=[name for name, _ in RULE_SCHEMA])


def screen_full(df: pd.DataFrame, exclusions: Iterable[tuple[str, str]] = ()) -> FullResult:
    """Every measure of screening.toml on ``df``: flags with values and evidence, rates,
    malformed counts, as the DuckDB screen computes them."""
    measures = load().screening.measure
    f, patients, malformed = fills_of(df)
    bz = f[f["cls"] == BZD]
    pairs: tuple[pd.DataFrame, pd.DataFrame] | None = None
    results: dict[str, Measured] = {}
    for m in measures:
        if m.kind == "cob":
            reasons = set(m.typed_params().exclusion_reasons)
            ids = {pid for pid, reason in exclusions if reason in reasons}
            excluded = pd.Index(patients.get_indexer(pd.Index(list(ids)))).difference([-1])
            results[m.id] = cob(f, m, excluded)
        elif m.kind == "multiple-provider":
            results[m.id] = multiple_provider(f, m)
        elif m.kind == "long-term":
            results[m.id] = long_term(bz, m)
        elif m.kind == "high-dose":
            results[m.id] = high_dose(bz)
        elif m.kind == "older-adult":
            results[m.id] = older_adult(bz, m)
        elif m.kind == "early-refill":
            results[m.id] = early_refill(bz, m)
        else:  # escalation, deprescribing: the first and last fill with a dose band
            if pairs is None:
                first_last = first_and_last(bz)
                pairs = (first_last, unbanded(bz, first_last))
            measure = escalation if m.kind == "escalation" else deprescribing
            results[m.id] = measure(*pairs, m)

    rates = []
    for m in measures:
        r = results[m.id]
        for label, numerator in r.levels or [(m.code, len(r.value))]:
            rates.append(
                (
                    m.id,
                    label,
                    numerator,
                    r.denominator,
                    sum(r.not_evaluated.values()),
                    r.not_evaluated,
                )
            )

    # Evidence: sorted fill ids, each once, one list per flag (rules by their position).
    rule_ids = [m.id for m in measures]
    evidence = pd.concat(
        [results[rule].evidence.assign(rule=i) for i, rule in enumerate(rule_ids)],
        ignore_index=True,
    )
    evidence = evidence.drop_duplicates().sort_values(["pid", "rule", "fill_id"], ignore_index=True)
    starts = np.flatnonzero(
        (evidence["pid"] != evidence["pid"].shift())
        | (evidence["rule"] != evidence["rule"].shift())
    )
    lists = pd.DataFrame(
        {
            "pid": evidence["pid"].to_numpy()[starts],
            "rule": evidence["rule"].to_numpy()[starts],
            "evidence": pd.Series(
                np.split(evidence["fill_id"].to_numpy(), starts[1:]) if len(starts) else [],
                dtype=object,
            ),
        }
    )
    values = pd.concat(
        [
            results[rule].value.rename("value").rename_axis("pid").reset_index().assign(rule=i)
            for i, rule in enumerate(rule_ids)
        ],
        ignore_index=True,
    )
    flags = values.merge(lists, on=["pid", "rule"])
    flags["rule"] = np.array(rule_ids, dtype=object)[flags["rule"].to_numpy()]
    flags["patient_id"] = patients[flags["pid"].to_numpy()]
    flags = flags.merge(_rules_table(measures), on="rule")
    flags = flags.sort_values(["patient_id", "rule"], ignore_index=True)[list(FLAG_COLUMNS)]
    return FullResult(flags, rates, malformed, len(df), len(f), len(patients))


def write_flags(flags: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(flags, preserve_index=False), path)


def flag_rows(flags: pd.DataFrame) -> list[tuple[str, str, float, list[str]]]:
    """(patient, rule, value, evidence) of every flag, sorted, as ``screen.flag_rows`` gives
    them: for comparing with DuckDB's flags (read from its Parquet file or its engine)."""
    return sorted(
        (str(p), str(r), round(float(v), 6), [str(x) for x in e])
        for p, r, v, e in zip(
            flags["patient_id"], flags["rule"], flags["value"], flags["evidence"], strict=True
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the pandas baseline of benzosafe screen")
    parser.add_argument("data", type=Path, help="dispensing records (Parquet)")
    parser.add_argument("out", type=Path, help="where to write the flags (Parquet)")
    parser.add_argument(
        "--flags-only",
        action="store_true",
        help="the earlier baseline: only which patients each measure flags",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    df = pd.read_parquet(args.data)
    if args.flags_only:
        sets = screen(df)
        pairs = [(pid, rule) for rule, ps in sets.items() for pid in ps]
        pq.write_table(
            pa.table({"patient_id": [p for p, _ in pairs], "rule": [r for _, r in pairs]}), args.out
        )
        info: dict[str, object] = {
            "mode": "flags-only",
            "flags": {rule: len(ps) for rule, ps in sets.items()},
        }
    else:
        result = screen_full(df)
        write_flags(result.flags, args.out)
        info = {
            "mode": "full",
            "flags": {
                m.id: int((result.flags["rule"] == m.id).sum()) for m in load().screening.measure
            },
            "rates": result.rates,
            "malformed": result.malformed,
            "rows_read": result.rows_read,
            "rows_screened": result.rows_screened,
            "patients": result.patients,
        }
    info["seconds"] = time.perf_counter() - started
    print(json.dumps(info))


if __name__ == "__main__":
    main()
