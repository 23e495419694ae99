"""``benzosafe assess``, ``triage`` and ``level-of-care``: the treatment team's assessment.

One ``assess`` subcommand per instrument scores answers given as options or a JSON file;
``assess questionnaire`` and ``assess response`` speak FHIR R4; ``assess docs`` writes the
assessment catalogue. ``triage`` says how urgent a reported side effect is, ``level-of-care``
recommends where a taper can be done. The clinical core and the renderers are imported inside
the commands, so that other commands do not pay for them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from benzosafe.cli.params import PATH, Command, argument, flag, group, option
from benzosafe.cli.root import Output, fail, output_format, read_json

if TYPE_CHECKING:
    from pathlib import Path

assess_app = group(
    "assess", help="Score an assessment instrument. CIWA-B (draft), BWSQ (draft), SDS, DSM-5."
)
_ASSESS_KEYS = {"answers", "age", "medical_supervision"}


def _assess_input(answers: str | None, input_path: Path | None) -> dict[str, Any]:
    if answers is not None and input_path is None:
        values: list[int] = []
        for position, text in enumerate(answers.split(","), start=1):
            try:
                values.append(int(text.strip()))
            except ValueError:
                fail(f"--answers: answer {position} ({text.strip()!r}) is not a whole number")
        return {"answers": values}
    if input_path is None or answers is not None:
        fail("give the answers with exactly one of --answers 0,1,2,... or --input answers.json")
    data = read_json(input_path)
    if isinstance(data, list):
        return {"answers": data}
    if not isinstance(data, dict) or "answers" not in data or set(data) - _ASSESS_KEYS:
        fail(f"--input: expected a list of answers or an object with keys {sorted(_ASSESS_KEYS)}")
    return data


def _assess_command(instrument_id: str) -> None:
    @option("--answers", help="Answers in item order, e.g. 0,1,2,3,0.")
    @option(
        "--input",
        "input_path",
        kind=PATH,
        help="JSON: a list, or {answers, age, medical_supervision}.",
    )
    @option("--age", kind=int, help="Age in years (SDS cut-off).")
    @flag(
        "--medical-supervision/--no-medical-supervision",
        default=None,
        help="DSM-5: taken solely as prescribed under medical supervision?",
    )
    @flag("--json", "as_json", help="Print JSON.")
    def command(
        answers: str | None,
        input_path: Path | None,
        age: int | None,
        medical_supervision: bool | None,
        as_json: bool,
    ) -> None:
        from benzosafe.cli.render.assessment import score_text
        from benzosafe.cli.root import knowledge
        from benzosafe.clinical.instruments import score

        data = _assess_input(answers, input_path)
        if age is not None:
            data["age"] = age
        if medical_supervision is not None:
            data["medical_supervision"] = medical_supervision
        result = score(
            instrument_id,
            data["answers"],
            knowledge(),
            age=data.get("age"),
            medical_supervision=data.get("medical_supervision"),
        )
        click.echo(json.dumps(result.to_dict(), indent=2) if as_json else score_text(result))

    assess_app.command(
        instrument_id, help=f"Score the {instrument_id} instrument from its cited data."
    )(command)


for _instrument_id in ("ciwa-b", "bwsq", "sds", "dsm5"):
    _assess_command(_instrument_id)


@assess_app.command("list")
@option(
    "--format",
    "output",
    kind=tuple(Output),
    help="A table, CSV or JSON (default: a table on a terminal, CSV piped).",
)
@flag("--json", "as_json", help="Print JSON (--format json).")
def assess_list(output: str | None, as_json: bool) -> None:
    """List the instruments. Their status (validated or draft), items and total range."""
    from benzosafe.cli.root import knowledge

    shown = output_format(Output(output) if output else None, as_json)

    rows = [
        {
            "id": i.id,
            "name": i.name,
            "status": i.status,
            "items": len(i.items),
            "max_total": i.max_total,
            "draft_reason": i.draft_reason or None,
        }
        for i in knowledge().assessment.instruments.values()
    ]
    if shown is Output.json:
        click.echo(json.dumps(rows, indent=2))
        return
    if shown is Output.csv:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    for row in rows:
        click.echo(
            f"{row['id']:<7} {row['status']:<9} {row['items']:>2} items, total 0-{row['max_total']}"
            f"  {row['name']}"
        )


@assess_app.command("questionnaire")
@argument("instrument_id", help="e.g. sds")
def assess_questionnaire(instrument_id: str) -> None:
    """Print the instrument as a FHIR R4 Questionnaire (JSON)."""
    from benzosafe.cli.root import knowledge
    from benzosafe.fhir.instruments import questionnaire

    click.echo(json.dumps(questionnaire(instrument_id, knowledge()), indent=2))


@assess_app.command("response")
@option(
    "--input",
    "input_path",
    kind=PATH,
    required=True,
    help="A FHIR R4 QuestionnaireResponse (JSON).",
)
def assess_response(input_path: Path) -> None:
    """Score a FHIR QuestionnaireResponse; print the FHIR Observation (JSON)."""
    from benzosafe.cli.root import knowledge
    from benzosafe.fhir.instruments import score_questionnaire_response

    data = read_json(input_path)
    if not isinstance(data, dict):
        fail("--input: expected a QuestionnaireResponse object")
    _, observation = score_questionnaire_response(data, knowledge())
    click.echo(json.dumps(observation, indent=2))


@assess_app.command("docs")
@option("--out", kind=PATH, default="docs/assessment.md", help="Where to write the catalogue.")
def assess_docs(out: Path) -> None:
    """Write the assessment catalogue (docs/assessment.md) from the assessment data."""
    from benzosafe.cli.root import knowledge
    from benzosafe.exports.assessment_catalogue import assessment_markdown

    kb = knowledge()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(assessment_markdown(kb, kb.assessment), encoding="utf-8")
    click.echo(f"wrote {out}")


@click.command("triage", cls=Command)
@argument("report", many=True, help='What happened, e.g. "chest pain" "dizzy".')
@flag("--json", "as_json", help="Print JSON.")
def triage_command(report: tuple[str, ...], as_json: bool) -> None:
    """Say how urgent a reported side effect is. The level, advice and sources."""
    from benzosafe.cli.render.assessment import triage_text
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.triage import triage

    result = triage(list(report), knowledge())
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else triage_text(result))


@click.command("level-of-care", cls=Command)
@option("--input", "input_path", kind=PATH, required=True, help="The intake (JSON object).")
@flag("--json", "as_json", help="Print JSON.")
def level_of_care_command(input_path: Path, as_json: bool) -> None:
    """Recommend where to taper. Outpatient, intensive outpatient or inpatient, from an
    intake; every reason with its rule."""
    from benzosafe.cli.render.assessment import recommendation_text
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.level_of_care import recommend_level_of_care

    result = recommend_level_of_care(read_json(input_path), knowledge())
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else recommendation_text(result))
