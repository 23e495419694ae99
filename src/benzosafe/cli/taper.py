"""``benzosafe taper``: a supervised taper plan within the cited bounds, from doses the
patient can take, printed as a table (on a terminal), CSV (when piped) or JSON (``--format``),
or written as PDF, ICS, CSV, JSON, a FHIR Bundle, PNG or SVG (``--out``).

The planning core and the file exports (ReportLab, the chart) are imported inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from benzosafe.cli.root import Output, app, output_format, read_text


@app.command("taper")
def taper_command(
    drug: Annotated[str, typer.Option(help="The benzodiazepine taken now, e.g. clonazepam.")],
    dose: Annotated[str, typer.Option(help='Current daily dose, e.g. "2 mg/day".')],
    split: Annotated[
        str, typer.Option(help='How it is taken: "1 mg bid" or "0.5 mg morning, 1 mg night".')
    ],
    start: Annotated[str, typer.Option(help="First day of the plan (YYYY-MM-DD).")],
    reduce: Annotated[
        str | None, typer.Option(help='Percent of the current dose per step, e.g. "10%".')
    ] = None,
    reduce_by: Annotated[
        str | None, typer.Option(help='Fixed amount per step, e.g. "0.125 mg" (mg/day).')
    ] = None,
    steps: Annotated[
        Path | None, typer.Option(help="CSV of clinician steps: header daily_dose,days.")
    ] = None,
    label_panic: Annotated[
        bool,
        typer.Option(
            "--label-panic-short-course",
            help="The label's panic-disorder discontinuation (clonazepam, short courses only).",
        ),
    ] = False,
    every: Annotated[
        str | None, typer.Option(help='Days between steps, e.g. "14d" (default from the data).')
    ] = None,
    forms: Annotated[
        str | None,
        typer.Option(help='Forms the patient has: "tablet:0.5,1,2 odt:0.125"; "5s" = scored.'),
    ] = None,
    liquid: Annotated[
        str | None, typer.Option(help='A liquid instead: "0.1 mg/mL step 0.1 mL".')
    ] = None,
    via: Annotated[str | None, typer.Option(help="Switch to this drug first (diazepam).")] = None,
    via_forms: Annotated[
        str | None, typer.Option(help='Forms of the drug switched to: "tablet:2s,5s,10s".')
    ] = None,
    override_reason: Annotated[
        str | None,
        typer.Option(help="Allow a plan above the taper bound; the reason is printed."),
    ] = None,
    by: Annotated[str, typer.Option(help="Who makes the plan (recorded).")] = "unspecified",
    contact: Annotated[
        str, typer.Option(help="Whom the patient should call (printed on the schedule).")
    ] = "your prescriber",
    output: Annotated[
        Output | None,
        typer.Option(
            "--format",
            help="What to print: a table, CSV or JSON (default: a table on a terminal, CSV "
            "when piped).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (--format json).")] = False,
    out: Annotated[
        list[Path] | None,
        typer.Option(
            help="Write the plan: .pdf .ics .csv .json .fhir.json (FHIR R4) .png .svg; repeat.",
        ),
    ] = None,
) -> None:
    """Plan a supervised taper. Within the cited bounds, from doses the patient can take;
    printed as a table on a terminal, CSV when piped, or written to files with --out."""
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.taper import parse_taper_request, plan_taper
    from benzosafe.exports.taper_files import render_outputs

    kb = knowledge()
    request = parse_taper_request(
        kb,
        drug=drug,
        dose=dose,
        split=split,
        start=start,
        reduce=reduce,
        reduce_by=reduce_by,
        steps_csv=read_text(steps, "steps") if steps is not None else None,
        label_panic=label_panic,
        every=every,
        forms=forms,
        liquid=liquid,
        via=via,
        via_forms=via_forms,
        override_reason=override_reason,
        by=by,
    )
    plan = plan_taper(request, kb)
    files = render_outputs(plan, out or [], kb, contact)
    for path, data in files:
        path.write_bytes(data)
    shown = output_format(output, as_json, printed_by_default=not files)
    if shown is Output.json:
        from benzosafe.exports.taper_data import plan_to_dict

        typer.echo(json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False))
    elif shown is Output.csv:
        from benzosafe.exports.taper_data import plan_to_csv

        typer.echo(plan_to_csv(plan), nl=False)
    elif shown is Output.table:
        from rich.console import Console

        from benzosafe.cli.render.taper import render_taper

        render_taper(plan, Console())
    if shown is not Output.json:
        # the CSV and the files carry no findings of their own: say the warnings here
        for f in plan.findings:
            if f.severity != "info":
                sys.stderr.write(f"{f.severity}: {f.summary} [{f.rule}]\n")
    for path, _ in files:
        sys.stderr.write(f"wrote {path}\n")
