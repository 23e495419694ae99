"""``benzosafe check``, ``drug``, ``docs`` and ``demo``: the prescriber's and pharmacist's commands.

``check`` checks a benzodiazepine order for a patient and exits 1 at the ``--fail-on``
severity; ``drug`` prints the cited monograph; ``docs`` writes the rule catalogue; ``demo``
shows a monograph and a check on the clonazepam example. ``check --json`` imports only the
check core and the knowledge: Rich and the renderers are imported when a person is to read
the output.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from benzosafe.cli.root import app, fail, read_json


class FailOn(StrEnum):
    warning = "warning"
    critical = "critical"
    never = "never"


@app.command("drug")
def drug_command(
    name: Annotated[str, typer.Argument(help="Generic or brand name, or RxNorm code.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Print a benzodiazepine's cited monograph. By generic or brand name (clonazepam,
    Klonopin) or RxNorm code."""
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.medications import find_benzodiazepine
    from benzosafe.knowledge.monograph import monograph

    kb = knowledge()
    entry = find_benzodiazepine(kb, name)
    if entry is None:
        fail(
            f"drug: {name!r} is not in the knowledge base (known: {', '.join(kb.benzodiazepines)})"
        )
    data = monograph(kb, entry)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console

    from benzosafe.cli.render.check import render_monograph

    render_monograph(data, Console())


@app.command("check")
def check_command(
    drug: Annotated[str | None, typer.Option(help="Benzodiazepine, generic or brand.")] = None,
    dose: Annotated[
        str | None, typer.Option(help="Dose per administration, e.g. '0.5 mg'.")
    ] = None,
    frequency: Annotated[str | None, typer.Option(help="qd, bid, tid, qid, qhs, q8h, ...")] = None,
    indication: Annotated[
        str | None, typer.Option(help="e.g. seizure-disorder, panic-disorder.")
    ] = None,
    age: Annotated[float | None, typer.Option(help="Age in years.")] = None,
    weight: Annotated[str | None, typer.Option(help="Body weight with unit, e.g. '60 kg'.")] = None,
    prior_dose: Annotated[
        str | None, typer.Option(help="Prior daily dose, e.g. '1 mg/day'.")
    ] = None,
    prior_start: Annotated[str | None, typer.Option(help="Start date of the prior dose.")] = None,
    start: Annotated[
        str | None, typer.Option(help="Start date of this order (default today).")
    ] = None,
    issued: Annotated[str | None, typer.Option(help="Date written (default: the start).")] = None,
    duration_days: Annotated[int | None, typer.Option(help="Planned duration in days.")] = None,
    days_supply: Annotated[int | None, typer.Option(help="Days' supply of each fill.")] = None,
    refills: Annotated[int | None, typer.Option(help="Number of refills (default 0).")] = None,
    condition: Annotated[list[str] | None, typer.Option(help="A condition; repeat.")] = None,
    also_taking: Annotated[
        list[str] | None, typer.Option(help="A current medication, e.g. 'oxycodone 10 mg qid'.")
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="JSON file {order, patient} (README).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    fail_on: Annotated[FailOn, typer.Option(help="Exit 1 at this severity or above.")] = (
        FailOn.warning
    ),
) -> None:
    """Check a benzodiazepine order for a patient. Every finding with its rule and source;
    exit 1 at the --fail-on severity."""
    from benzosafe.cli.root import check_knowledge
    from benzosafe.clinical.check import check_raw
    from benzosafe.clinical.findings import SEVERITY_RANK

    kb = check_knowledge()
    given = {
        "drug": drug,
        "dose": dose,
        "frequency": frequency,
        "indication": indication,
        "start": start,
        "issued": issued,
        "duration_days": duration_days,
        "days_supply": days_supply,
        "refills": refills,
        "prior_dose": prior_dose,
        "prior_start": prior_start,
    }
    order_data: dict[str, Any]
    patient_data: dict[str, Any]
    if input_file is not None:
        flags = [k for k, v in given.items() if v is not None]
        flags += [k for k, v in (("age", age), ("weight", weight)) if v is not None]
        flags += [k for k, v in (("condition", condition), ("also_taking", also_taking)) if v]
        if flags:
            fail(f"--input: give the order in the file or as options, not both ({flags[0]})")
        data = read_json(input_file)
        if not isinstance(data, dict) or set(data) != {"order", "patient"}:
            fail("--input: expected a JSON object with exactly the keys 'order' and 'patient'")
        if not isinstance(data["order"], dict) or not isinstance(data["patient"], dict):
            fail("--input: 'order' and 'patient' must be JSON objects")
        order_data, patient_data = dict(data["order"]), dict(data["patient"])
    else:
        order_data = {k: v for k, v in given.items() if v is not None}
        patient_data = {"conditions": condition or [], "also_taking": also_taking or []}
        if age is not None:
            patient_data["age"] = int(age) if age == int(age) else age
        if weight is not None:
            patient_data["weight"] = weight
    order_data.setdefault("start", date.today().isoformat())
    report = check_raw(order_data, patient_data, kb)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        from benzosafe.cli.render.check import render_check

        render_check(report, Console())
    worst = report.worst()
    at_level = worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK.get(fail_on.value, 99)
    if fail_on is not FailOn.never and at_level:
        raise typer.Exit(1)


@app.command("docs")
def docs_command(
    out: Annotated[Path, typer.Option(help="Where to write the rule catalogue.")] = Path(
        "docs/rules.md"
    ),
) -> None:
    """Write the rule catalogue. Markdown (docs/rules.md) from the knowledge data."""
    from benzosafe.exports.rule_catalogue import rules_markdown
    from benzosafe.knowledge import load

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rules_markdown(load()), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("demo")
def demo_command() -> None:
    """Show what benzosafe does. The clonazepam monograph and an example check."""
    from rich.console import Console

    from benzosafe.cli.render.check import render_check, render_monograph
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.check import check_raw
    from benzosafe.knowledge.monograph import monograph

    kb = knowledge()
    console = Console()
    render_monograph(monograph(kb, kb.benzodiazepines["clonazepam"]), console)
    example = (
        {
            "drug": "clonazepam",
            "dose": "1 mg",
            "frequency": "tid",
            "indication": "seizure-disorder",
            "start": date.today().isoformat(),
            "duration_days": 120,
        },
        {
            "age": 70,
            "weight": "60 kg",
            "conditions": ["sleep-apnoea"],
            "also_taking": ["oxycodone 10 mg qid"],
        },
    )
    console.rule("Example check: clonazepam 1 mg tid for a 70-year-old taking oxycodone")
    render_check(check_raw(example[0], example[1], kb), console)
