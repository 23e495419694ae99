"""``benzosafe screen``, ``synth`` and ``drug-map``: population screening of dispensing records.

``screen`` runs the screen on DuckDB or Spark (:func:`benzosafe.population.run.run_screen`)
and draws it on the terminal; ``synth dispensing`` writes a synthetic population with planted
patterns; ``drug-map import-cdc`` turns the CDC NDC workbook into a product-code mapping. The
engines and the population package are imported inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from benzosafe.cli.params import PATH, Command, argument, group, option

if TYPE_CHECKING:
    from pathlib import Path

synth_app = group(
    "synth", help="Make synthetic dispensing records. With planted patterns, for testing."
)
drug_map_app = group("drug-map", help="Make product-code (NDC) maps for screening.")


@click.command("screen", cls=Command)
@argument(
    "source",
    required=False,
    help="Dispensing records: .parquet, .csv, or FHIR NDJSON (or use --omop); with "
    "--engine spark also a directory of Parquet files or a URI Spark reads "
    "(hdfs://, s3a://, file://)",
)
@option(
    "--out",
    help="Write per-patient flags (Parquet; with --engine spark a directory of "
    "Parquet files written by Spark's executors, also to a URI such as hdfs://)",
)
@option("--report", kind=PATH, help="Write the HTML summary report")
@option("--json", "summary_json", kind=PATH, help="Write the summary as JSON")
@option("--engine", default="duckdb", help="duckdb or spark")
@option("--spark-master", default="local[*]", help="Spark master URL")
@option("--format", "input_format", default="auto", help="auto (by suffix), parquet, csv or fhir")
@option("--drug-map", kind=PATH, help="CSV code,ingredient[,strength_mg] for NDC / product codes")
@option("--exclusions", kind=PATH, help="CSV patient_id,reason (hospice, cancer, ...) for COB")
@option("--from", "period_from", help="Period start (YYYY-MM-DD)")
@option("--to", "period_to", help="Period end (YYYY-MM-DD)")
@option("--min-prescribers", kind=int, help="Multiple-provider: prescribers")
@option("--min-pharmacies", kind=int, help="Multiple-provider: pharmacies")
@option("--window-days", kind=int, help="Multiple-provider: window in days")
@option("--memory-limit", help="DuckDB memory limit, e.g. 6GB")
@option("--omop", help="OMOP CDM database (SQLAlchemy URL) holding drug_exposure, person")
@option("--omop-schema", help="Schema of --omop")
@option("--omop-dir", kind=PATH, help="Folder of OMOP tables as <table>.csv or <table>.parquet")
def screen_command(
    source: str | None,  # a path, or a URI for Spark: run_screen tells them apart
    out: str | None,
    report: Path | None,
    summary_json: Path | None,
    engine: str,
    spark_master: str,
    input_format: str,
    drug_map: Path | None,
    exclusions: Path | None,
    period_from: str | None,
    period_to: str | None,
    min_prescribers: int | None,
    min_pharmacies: int | None,
    window_days: int | None,
    memory_limit: str | None,
    omop: str | None,
    omop_schema: str | None,
    omop_dir: Path | None,
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
@option("--patients", kind=click.IntRange(min=1), required=True, help="Number of patients")
@option("--out", kind=PATH, required=True, help="Output .parquet or .csv")
@option("--seed", kind=int, default=7, help="Random seed")
def synth_dispensing(patients: int, out: Path, seed: int) -> None:
    """Write a synthetic population with planted patterns, its truth and exclusions."""
    from benzosafe.knowledge import load
    from benzosafe.population.synth import write_population

    paths = write_population(patients, out, load(), seed)
    for what, path in paths.items():
        click.echo(f"{what}: {path}")


@drug_map_app.command("import-cdc")
@argument("workbook", kind=PATH, help="CDC NDC/MME workbook (.xlsx)")
@option("--out", kind=PATH, required=True, help="Mapping CSV to write")
def drug_map_import_cdc(workbook: Path, out: Path) -> None:
    """Make a code,ingredient,strength_mg mapping from the CDC NDC/MME workbook."""
    from benzosafe.knowledge import load
    from benzosafe.population.drugs import import_cdc_workbook, write_product_map

    result = import_cdc_workbook(workbook, load())
    write_product_map(result.codes, out)
    click.echo(f"{len(result.codes)} codes written to {out}")
    for reason, n in sorted(result.skipped.items()):
        click.echo(f"skipped {n} rows: {reason}")
