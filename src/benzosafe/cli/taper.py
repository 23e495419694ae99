"""``benzosafe taper``: a supervised taper plan within the cited bounds, from doses the
patient can take, printed as a table (on a terminal), CSV (when piped) or JSON (``--format``),
or written as PDF, ICS, CSV, JSON, a FHIR Bundle, PNG or SVG (``--out``).

The planning core and the file exports (ReportLab, the chart) are imported inside the command.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from benzosafe.cli.params import PATH, Command, flag, option
from benzosafe.cli.root import Output, output_format, read_text

if TYPE_CHECKING:
    from pathlib import Path


@click.command("taper", cls=Command)
@option("--drug", required=True, help="The benzodiazepine taken now, e.g. clonazepam.")
@option("--dose", required=True, help='Current daily dose, e.g. "2 mg/day".')
@option(
    "--split", required=True, help='How it is taken: "1 mg bid" or "0.5 mg morning, 1 mg night".'
)
@option("--start", required=True, help="First day of the plan (YYYY-MM-DD).")
@option("--reduce", help='Percent of the current dose per step, e.g. "10%".')
@option("--reduce-by", help='Fixed amount per step, e.g. "0.125 mg" (mg/day).')
@option("--steps", kind=PATH, help="CSV of clinician steps: header daily_dose,days.")
@flag(
    "--label-panic-short-course",
    "label_panic",
    help="The label's panic-disorder discontinuation (clonazepam, short courses only).",
)
@option("--every", help='Days between steps, e.g. "14d" (default from the data).')
@option("--forms", help='Forms the patient has: "tablet:0.5,1,2 odt:0.125"; "5s" = scored.')
@option("--liquid", help='A liquid instead: "0.1 mg/mL step 0.1 mL".')
@option("--via", help="Switch to this drug first (diazepam).")
@option("--via-forms", help='Forms of the drug switched to: "tablet:2s,5s,10s".')
@option("--override-reason", help="Allow a plan above the taper bound; the reason is printed.")
@option("--by", default="unspecified", help="Who makes the plan (recorded).")
@option(
    "--contact",
    default="your prescriber",
    help="Whom the patient should call (printed on the schedule).",
)
@option(
    "--format",
    "output",
    kind=tuple(Output),
    help="What to print: a table, CSV or JSON (default: a table on a terminal, CSV when piped).",
)
@flag("--json", "as_json", help="Print JSON (--format json).")
@option(
    "--out",
    kind=PATH,
    multiple=True,
    help="Write the plan: .pdf .ics .csv .json .fhir.json (FHIR R4) .png .svg; repeat.",
)
def taper_command(
    drug: str,
    dose: str,
    split: str,
    start: str,
    reduce: str | None,
    reduce_by: str | None,
    steps: Path | None,
    label_panic: bool,
    every: str | None,
    forms: str | None,
    liquid: str | None,
    via: str | None,
    via_forms: str | None,
    override_reason: str | None,
    by: str,
    contact: str,
    output: str | None,
    as_json: bool,
    out: tuple[Path, ...],
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
    files = render_outputs(plan, list(out), kb, contact)
    for path, data in files:
        path.write_bytes(data)
    shown = output_format(Output(output) if output else None, as_json, printed_by_default=not files)
    if shown is Output.json:
        from benzosafe.exports.taper_data import plan_to_dict

        click.echo(json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False))
    elif shown is Output.csv:
        from benzosafe.exports.taper_data import plan_to_csv

        click.echo(plan_to_csv(plan), nl=False)
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
