"""``benzosafe screen``, ``synth`` and ``drug-map``: population screening of dispensing records.

``screen`` runs the screen on DuckDB or Spark (:func:`benzosafe.population.run.run_screen`)
and draws it on the terminal; ``synth dispensing`` writes a synthetic population with planted
patterns; ``drug-map import-cdc`` turns the CDC NDC workbook into a product-code mapping. The
engines and the population package are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from benzosafe.cli.root import app

synth_app = typer.Typer(
    help="Make synthetic dispensing records. With planted patterns, for testing.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")
drug_map_app = typer.Typer(help="Make product-code (NDC) maps for screening.", no_args_is_help=True)
app.add_typer(drug_map_app, name="drug-map")


@app.command("screen")
def screen_command(
    source: str | None = typer.Argument(
        None,
        help="Dispensing records: .parquet, .csv, or FHIR NDJSON (or use --omop); with "
        "--engine spark also a directory of Parquet files or a URI Spark reads "
        "(hdfs://, s3a://, file://)",
    ),
    out: str | None = typer.Option(
        None,
        "--out",
        help="Write per-patient flags (Parquet; with --engine spark a directory of "
        "Parquet files written by Spark's executors, also to a URI such as hdfs://)",
    ),
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
    """Screen dispensing records for risky patterns. Flags, rates and a report, on DuckDB
    or Spark."""
    from benzosafe.cli.render.screen import ConsoleScreenDisplay
    from benzosafe.cli.root import knowledge
    from benzosafe.population.run import run_screen

    kb = knowledge()
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


@synth_app.command("dispensing")
def synth_dispensing(
    patients: int = typer.Option(..., "--patients", min=1, help="Number of patients"),
    out: Path = typer.Option(..., "--out", help="Output .parquet or .csv"),
    seed: int = typer.Option(7, "--seed", help="Random seed"),
) -> None:
    """Write a synthetic population with planted patterns, its truth and exclusions."""
    from benzosafe.knowledge import load
    from benzosafe.population.synth import write_population

    paths = write_population(patients, out, load(), seed)
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

    result = import_cdc_workbook(workbook, load())
    write_product_map(result.codes, out)
    typer.echo(f"{len(result.codes)} codes written to {out}")
    for reason, n in sorted(result.skipped.items()):
        typer.echo(f"skipped {n} rows: {reason}")
