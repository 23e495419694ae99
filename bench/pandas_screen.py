"""A straightforward pandas implementation of the screening measures (the benchmark baseline).

Same rules and parameters as ``benzosafe screen`` (read from the knowledge data), written the
way an analyst would in pandas: typed columns, a dict look-up of drugs, group-bys and merges.
Run by ``screen_scale.py`` in a child process: ``pandas_screen.py DATA.parquet FLAGS.parquet``
(FLAGS is DuckDB's output, compared with pandas' own flags).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from benzosafe.knowledge import load
from benzosafe.knowledge.screening import load_screening
from benzosafe.population.drugs import drug_keys

EPS = 1e-9


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
    kb, screening = load(), load_screening()
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
        low.isna(), np.nan, np.where(daily <= low + EPS, 1, np.where(daily <= mod + EPS, 2, 3))
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
    days = (np.minimum(j.e_x, j.e_y) - np.maximum(j.s_x, j.s_y) + 1).groupby(j.patient_id).sum()
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
    out["SCR-BZD-HIGH-DOSE"] = set(bz[bz.band == 3].patient_id)
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
    out["SCR-BZD-DEPRESCRIBING"] = set(dec[dec >= min(p.decrease_pct) - EPS].index)
    return out


def main() -> None:
    data, duck = sys.argv[1], sys.argv[2]
    flags = screen(pd.read_parquet(data))
    mine = {(pid, rule) for rule, ps in flags.items() for pid in ps}
    theirs = pd.read_parquet(duck, columns=["patient_id", "rule"])
    same = mine == set(zip(theirs.patient_id, theirs.rule, strict=True))
    print(json.dumps({"total": len(mine), "same_as_duckdb": same}))


if __name__ == "__main__":
    main()
