"""The ``benzosafe`` command line (Typer + Rich): thin, parses, calls the core, renders.

Heavy modules are imported inside the commands so that a cold start stays light.
Exit codes: 0 fine, 1 a finding at the ``--fail-on`` level, 2 invalid input or usage.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from benzosafe.errors import BenzosafeError

app = typer.Typer(
    name="benzosafe",
    help="Clinical decision support for clonazepam and the benzodiazepines. "
    "It supports, never replaces, clinical judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
knowledge_app = typer.Typer(help="The cited clinical knowledge base.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear message on stderr and exit (2: invalid input or usage)."""
    sys.stderr.write(f"benzosafe: {message}\n")
    raise typer.Exit(code)


@knowledge_app.command("validate")
def knowledge_validate() -> None:
    """Load and check every knowledge data file; exit 2 with the problems if any."""
    from benzosafe.knowledge import load

    try:
        kb = load()
    except BenzosafeError as exc:
        fail(str(exc))
    typer.echo(
        f"knowledge {kb.version}: {len(kb.rules)} rules, {len(kb.sources)} sources, "
        f"{len(kb.benzodiazepines)} benzodiazepines, {len(kb.depressant_classes)} "
        f"depressant classes: valid"
    )


# --- assessment: instruments, side-effect triage, level of care (issue #4) -------------------

assess_app = typer.Typer(
    help="Assessment instruments: CIWA-B (draft), BWSQ (draft), SDS, DSM-5.", no_args_is_help=True
)
app.add_typer(assess_app, name="assess")
_ASSESS_KEYS = {"answers", "age", "medical_supervision"}


def _assess_input(answers: str | None, input_path: Path | None) -> dict[str, Any]:
    if (answers is None) == (input_path is None):
        fail("give the answers with exactly one of --answers 0,1,2,... or --input answers.json")
    if answers is not None:
        values: list[int] = []
        for position, text in enumerate(answers.split(","), start=1):
            try:
                values.append(int(text.strip()))
            except ValueError:
                fail(f"--answers: answer {position} ({text.strip()!r}) is not a whole number")
        return {"answers": values}
    data = _read_json(input_path)  # type: ignore[arg-type]
    if isinstance(data, list):
        return {"answers": data}
    if not isinstance(data, dict) or "answers" not in data or set(data) - _ASSESS_KEYS:
        fail(f"--input: expected a list of answers or an object with keys {sorted(_ASSESS_KEYS)}")
    return data


def _assess_command(instrument_id: str) -> None:
    def command(
        answers: Annotated[
            str | None, typer.Option(help="Answers in item order, e.g. 0,1,2,3,0.")
        ] = None,
        input_path: Annotated[
            Path | None,
            typer.Option("--input", help="JSON: a list, or {answers, age, medical_supervision}."),
        ] = None,
        age: Annotated[int | None, typer.Option(help="Age in years (SDS cut-off).")] = None,
        medical_supervision: Annotated[
            bool | None,
            typer.Option(
                "--medical-supervision/--no-medical-supervision",
                help="DSM-5: taken solely as prescribed under medical supervision?",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        from benzosafe.clinical.instruments import score
        from benzosafe.console_assessment import score_text
        from benzosafe.knowledge import load

        data = _assess_input(answers, input_path)
        if age is not None:
            data["age"] = age
        if medical_supervision is not None:
            data["medical_supervision"] = medical_supervision
        try:
            result = score(
                instrument_id,
                data["answers"],
                load(),
                age=data.get("age"),
                medical_supervision=data.get("medical_supervision"),
            )
        except BenzosafeError as exc:
            fail(str(exc))
        typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else score_text(result))

    command.__doc__ = f"Score the {instrument_id} instrument from its cited data."
    assess_app.command(instrument_id)(command)


for _instrument_id in ("ciwa-b", "bwsq", "sds", "dsm5"):
    _assess_command(_instrument_id)


@assess_app.command("list")
def assess_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The instruments, their status (validated or draft), items and total range."""
    from benzosafe.knowledge import load

    rows = [
        {
            "id": i.id,
            "name": i.name,
            "status": i.status,
            "items": len(i.items),
            "max_total": i.max_total,
            "draft_reason": i.draft_reason or None,
        }
        for i in load().assessment.instruments.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['id']:<7} {row['status']:<9} {row['items']:>2} items, total 0-{row['max_total']}"
            f"  {row['name']}"
        )


@assess_app.command("questionnaire")
def assess_questionnaire(instrument_id: Annotated[str, typer.Argument(help="e.g. sds")]) -> None:
    """Print the instrument as a FHIR R4 Questionnaire (JSON)."""
    from benzosafe.fhir.instruments import questionnaire
    from benzosafe.knowledge import load

    try:
        typer.echo(json.dumps(questionnaire(instrument_id, load()), indent=2))
    except BenzosafeError as exc:
        fail(str(exc))


@assess_app.command("response")
def assess_response(
    input_path: Annotated[
        Path, typer.Option("--input", help="A FHIR R4 QuestionnaireResponse (JSON).")
    ],
) -> None:
    """Score a FHIR QuestionnaireResponse; print the FHIR Observation (JSON)."""
    from benzosafe.fhir.instruments import score_questionnaire_response
    from benzosafe.knowledge import load

    data = _read_json(input_path)
    if not isinstance(data, dict):
        fail("--input: expected a QuestionnaireResponse object")
    try:
        _, observation = score_questionnaire_response(data, load())
    except BenzosafeError as exc:
        fail(str(exc))
    typer.echo(json.dumps(observation, indent=2))


@assess_app.command("docs")
def assess_docs(
    out: Annotated[Path, typer.Option(help="Where to write the catalogue.")] = Path(
        "docs/assessment.md"
    ),
) -> None:
    """Write the assessment catalogue (docs/assessment.md) from the assessment data."""
    from benzosafe.docs_assessment import assessment_markdown
    from benzosafe.knowledge import load

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(assessment_markdown(load(), load().assessment), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("triage")
def triage_command(
    report: Annotated[list[str], typer.Argument(help='What happened, e.g. "chest pain" "dizzy".')],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How urgent is a reported side effect? Level, advice and sources."""
    from benzosafe.clinical.triage import triage
    from benzosafe.console_assessment import triage_text
    from benzosafe.knowledge import load

    try:
        result = triage(report, load())
    except BenzosafeError as exc:
        fail(str(exc))
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else triage_text(result))


@app.command("level-of-care")
def level_of_care_command(
    input_path: Annotated[Path, typer.Option("--input", help="The intake (JSON object).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Outpatient taper, intensive outpatient or inpatient: every reason with its rule."""
    from benzosafe.clinical.level_of_care import recommend_level_of_care
    from benzosafe.console_assessment import recommendation_text
    from benzosafe.knowledge import load

    data = _read_json(input_path)
    try:
        result = recommend_level_of_care(data, load())
    except BenzosafeError as exc:
        fail(str(exc))
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else recommendation_text(result))


# ---------------------------------------------------------------- records and web app (issue #5)
db_app = typer.Typer(help="The records database (SQLite file or BENZOSAFE_DATABASE_URL).")
user_app = typer.Typer(help="Users of the web app.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")


class Role(StrEnum):
    admin = "admin"
    clinician = "clinician"
    admissions = "admissions"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and apply every migration."""
    from benzosafe.store.db import current_revision, make_engine, upgrade

    engine = make_engine()
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    typer.echo(f"database {url} at revision {current_revision(engine)}")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user (argon2-hashed password, at least 12 characters)."""
    from benzosafe.store import records
    from benzosafe.store.db import make_engine, session_factory, upgrade

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine()
    upgrade(engine)
    with session_factory(engine)() as session:
        try:
            user = records.create_user(
                session, records.SYSTEM, username, password, role.value, display_name
            )
        except BenzosafeError as exc:
            fail(str(exc))
        session.commit()
        typer.echo(f"added user {user.username} ({user.role})")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Fill an empty database with a synthetic clinic.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the web app (migrates the database first); see http://HOST:PORT/docs for the API."""
    import copy

    import uvicorn

    from benzosafe.store.db import make_engine, session_factory, upgrade
    from benzosafe.web.clinic.settings import Settings

    try:
        settings = Settings.from_env()
    except BenzosafeError as exc:
        fail(str(exc))
    engine = make_engine(settings.database_url)
    upgrade(engine)
    if demo:
        if settings.environment != "development":
            fail("--demo: refused outside development (BENZOSAFE_ENV)")
        from benzosafe.knowledge import load
        from benzosafe.store import demo as demo_data

        with session_factory(engine)() as session:
            if demo_data.is_empty(session):
                users = demo_data.add_demo_users(session)
                demo_data.add_demo_patients(session, 60, load())
                session.commit()
                typer.echo("Filled the empty database with a synthetic clinic (fake patients).")
            else:
                users = [(u, r, p) for u, r, _, p in demo_data.DEMO_USERS]
        for username, role, password in users:
            typer.echo(f"demo sign-in ({role}): {username} / {password}")
    engine.dispose()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["benzosafe"] = {"handlers": ["default"], "level": "INFO"}
    typer.echo(f"benzosafe on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "benzosafe.web.clinic.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=log_config,
    )


# --- supervised taper plans (issue #3) --------------------------------------------------------


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    out: Annotated[
        list[Path] | None,
        typer.Option(help="Write the plan: .pdf .ics .csv .json .png .svg (repeatable)."),
    ] = None,
) -> None:
    """Make a supervised taper plan within the cited bounds, from doses the patient can take."""
    from benzosafe.clinical.taper import parse_taper_request, plan_taper
    from benzosafe.exports.taper_files import render_outputs
    from benzosafe.knowledge import load

    kb = load()
    try:
        request = parse_taper_request(
            kb,
            drug=drug,
            dose=dose,
            split=split,
            start=start,
            reduce=reduce,
            reduce_by=reduce_by,
            steps_csv=_read_text(steps, "steps") if steps is not None else None,
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
    except BenzosafeError as exc:
        fail(str(exc))
    for path, data in files:
        path.write_bytes(data)
    if as_json:
        from benzosafe.exports.taper_data import plan_to_dict

        typer.echo(json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False))
    elif not files:
        from benzosafe.exports.taper_data import plan_to_csv

        typer.echo(plan_to_csv(plan), nl=False)
    if not as_json:
        # the CSV and the files carry no findings of their own: say the warnings here
        for f in plan.findings:
            if f.severity != "info":
                sys.stderr.write(f"{f.severity}: {f.summary} [{f.rule}]\n")
    for path, _ in files:
        sys.stderr.write(f"wrote {path}\n")


def _read_text(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{field}: cannot read {path}: {exc.strerror}")


@app.command("serve-cds")
def serve_cds_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8010,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL the EHR calls (the JWT aud is this + path).")
    ] = None,
    issuers: Annotated[
        Path | None, typer.Option(help="Trusted issuers (TOML/JSON): iss with jwks or jku.")
    ] = None,
    state: Annotated[
        str, typer.Option(help="SQLite file for feedback, shown findings and token ids.")
    ] = "benzosafe-cds.sqlite3",
    app_url: Annotated[
        str | None, typer.Option(help="Clinician web app base URL for taper-plan links.")
    ] = None,
    dev_no_jwt: Annotated[
        bool, typer.Option("--dev-no-jwt", help="Development only: accept calls without JWT.")
    ] = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    fhir_server: Annotated[
        list[str] | None,
        typer.Option(help="A FHIR server base URL this service may fetch from; repeat."),
    ] = None,
) -> None:
    """Serve the CDS Hooks service (discovery, order-select, order-sign, patient-view)."""
    import os

    import uvicorn

    from benzosafe.web.cds.auth import TrustedIssuers
    from benzosafe.web.cds.settings import CdsSettings

    if issuers is None and not dev_no_jwt:
        fail("--issuers: give the trusted issuers file, or --dev-no-jwt for development only")
    if issuers is not None and not public_url:
        fail("--public-url: required with --issuers (the JWT aud must be the URL called)")
    if issuers is not None:
        try:
            TrustedIssuers.from_file(issuers)
        except BenzosafeError as exc:
            fail(f"--issuers: {exc}")
    if workers < 1:
        fail("--workers: must be 1 or more")
    if workers > 1 and state == ":memory:":
        fail("--state: several workers need a shared SQLite file, not :memory:")
    if dev_no_jwt:
        sys.stderr.write("benzosafe: WARNING: development mode, calls are not authenticated\n")
    settings = CdsSettings(
        public_url=public_url,
        issuers_file=issuers,
        allow_unauthenticated=dev_no_jwt,
        state_path=state,
        app_url=app_url,
        allowed_fhir_servers=tuple(fhir_server) if fhir_server else None,
    )
    if workers == 1:
        from benzosafe.web.cds.app import create_cds_app

        uvicorn.run(
            create_cds_app(settings), host=host, port=port, log_level="warning", access_log=False
        )
        return
    os.environ["BENZOSAFE_CDS_SETTINGS"] = json.dumps(
        {
            "public_url": public_url,
            "issuers_file": str(issuers) if issuers else None,
            "allow_unauthenticated": dev_no_jwt,
            "state_path": state,
            "app_url": app_url,
            "allowed_fhir_servers": fhir_server or None,
        }
    )
    uvicorn.run(
        "benzosafe.web.cds.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


# --- population screening (issue #7) -------------------------------------------------------
synth_app = typer.Typer(
    help="Synthetic data with planted patterns, for testing.", no_args_is_help=True
)
app.add_typer(synth_app, name="synth")
drug_map_app = typer.Typer(
    help="Product-code (NDC) mapping tables for screening.", no_args_is_help=True
)
app.add_typer(drug_map_app, name="drug-map")


@app.command("screen")
def screen_command(
    source: Path | None = typer.Argument(
        None, help="Dispensing records: .parquet, .csv, or FHIR NDJSON (or use --omop)"
    ),
    out: Path | None = typer.Option(None, "--out", help="Write per-patient flags (Parquet)"),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML summary report"),
    summary_json: Path | None = typer.Option(None, "--json", help="Write the summary as JSON"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark"),
    spark_master: str = typer.Option("local[*]", "--spark-master", help="Spark master URL"),
    input_format: str = typer.Option(
        "auto", "--format", help="auto (by suffix), parquet, csv or fhir"
    ),
    drug_map: Path | None = typer.Option(
        None, "--drug-map", help="CSV code,ingredient[,strength_mg] for NDC / product codes"
    ),
    exclusions: Path | None = typer.Option(
        None, "--exclusions", help="CSV patient_id,reason (hospice, cancer, ...) for COB"
    ),
    period_from: str | None = typer.Option(None, "--from", help="Period start (YYYY-MM-DD)"),
    period_to: str | None = typer.Option(None, "--to", help="Period end (YYYY-MM-DD)"),
    min_prescribers: int | None = typer.Option(None, help="Multiple-provider: prescribers"),
    min_pharmacies: int | None = typer.Option(None, help="Multiple-provider: pharmacies"),
    window_days: int | None = typer.Option(None, help="Multiple-provider: window in days"),
    memory_limit: str | None = typer.Option(None, help="DuckDB memory limit, e.g. 6GB"),
    omop: str | None = typer.Option(
        None, "--omop", help="OMOP CDM database (SQLAlchemy URL) holding drug_exposure, person"
    ),
    omop_schema: str | None = typer.Option(None, "--omop-schema", help="Schema of --omop"),
    omop_dir: Path | None = typer.Option(
        None, "--omop-dir", help="Folder of OMOP tables as <table>.csv or <table>.parquet"
    ),
) -> None:
    """Screen dispensing records for risky patterns; flags, rates and a report."""
    from benzosafe.console_screen import ConsoleScreenDisplay
    from benzosafe.knowledge import load
    from benzosafe.population.run import run_screen

    try:
        kb = load()
        run_screen(
            source=source,
            out=out,
            report=report,
            summary_json=summary_json,
            engine=engine,
            spark_master=spark_master,
            input_format=input_format,
            drug_map=drug_map,
            exclusions=exclusions,
            period=(period_from, period_to),
            provider=(min_prescribers, min_pharmacies, window_days),
            memory_limit=memory_limit,
            kb=kb,
            omop=(omop, omop_schema, omop_dir),
            display=ConsoleScreenDisplay(kb),
        )
    except BenzosafeError as exc:
        fail(str(exc))


@synth_app.command("dispensing")
def synth_dispensing(
    patients: int = typer.Option(..., "--patients", min=1, help="Number of patients"),
    out: Path = typer.Option(..., "--out", help="Output .parquet or .csv"),
    seed: int = typer.Option(7, "--seed", help="Random seed"),
) -> None:
    """Write a synthetic population with planted patterns, its truth and exclusions."""
    from benzosafe.knowledge import load
    from benzosafe.population.synth import write_population

    try:
        paths = write_population(patients, out, load(), seed)
    except BenzosafeError as exc:
        fail(str(exc))
    for what, path in paths.items():
        typer.echo(f"{what}: {path}")


@drug_map_app.command("import-cdc")
def drug_map_import_cdc(
    workbook: Path = typer.Argument(..., help="CDC NDC/MME workbook (.xlsx)"),
    out: Path = typer.Option(..., "--out", help="Mapping CSV to write"),
) -> None:
    """Make a code,ingredient,strength_mg mapping from the CDC NDC/MME workbook."""
    from benzosafe.knowledge import load
    from benzosafe.population.drugs import import_cdc_workbook, write_product_map

    try:
        result = import_cdc_workbook(workbook, load())
    except BenzosafeError as exc:
        fail(str(exc))
    write_product_map(result.codes, out)
    typer.echo(f"{len(result.codes)} codes written to {out}")
    for reason, n in sorted(result.skipped.items()):
        typer.echo(f"skipped {n} rows: {reason}")


class FailOn(StrEnum):
    warning = "warning"
    critical = "critical"
    never = "never"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--input: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"--input: {path} is not valid JSON: {exc}")


@app.command("drug")
def drug_command(
    name: Annotated[str, typer.Argument(help="Generic or brand name, or RxNorm code.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Print the cited monograph of a benzodiazepine (e.g. clonazepam, Klonopin)."""
    from benzosafe.clinical.medications import find_benzodiazepine
    from benzosafe.knowledge import load
    from benzosafe.knowledge.monograph import monograph

    kb = load()
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

    from benzosafe.console import render_monograph

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
    """Check a benzodiazepine order for a patient; every finding with its rule and source."""
    from benzosafe.clinical.check import check_raw
    from benzosafe.clinical.findings import SEVERITY_RANK
    from benzosafe.knowledge import load

    kb = load()
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
        data = _read_json(input_file)
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
    try:
        report = check_raw(order_data, patient_data, kb)
    except BenzosafeError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        from benzosafe.console import render_check

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
    """Write the rule catalogue (docs/rules.md) from the knowledge data."""
    from benzosafe.docs import rules_markdown
    from benzosafe.knowledge import load

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rules_markdown(load()), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("demo")
def demo_command() -> None:
    """The main job until the web app exists: the clonazepam monograph and an example check."""
    from rich.console import Console

    from benzosafe.clinical.check import check_raw
    from benzosafe.console import render_check, render_monograph
    from benzosafe.knowledge import load
    from benzosafe.knowledge.monograph import monograph

    kb = load()
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


def main() -> None:
    """Console-script entry point."""
    app()
