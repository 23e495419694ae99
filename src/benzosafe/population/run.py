"""One ``benzosafe screen`` run: parse the options, pick the engine, read, screen, write.

Kept out of ``cli/`` so the command stays thin; everything here raises
:class:`~benzosafe.errors.InvalidInput` for bad options, which the CLI turns into exit 2.
Nothing here draws: the face passes a :class:`ScreenDisplay`, told when the input is being
read, each step of the screen, and the result (the command line draws them with Rich, in
:mod:`benzosafe.cli.render.screen`).
"""

from __future__ import annotations

import csv
import json
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Protocol

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.population.drugs import ProductCode, drug_keys, read_product_map
from benzosafe.population.engines import (
    DuckDBEngine,
    Engine,
    FileFormat,
    SparkEngine,
    input_bytes,
)
from benzosafe.population.fhir import read_fhir_dispenses
from benzosafe.population.location import Location, parse_location, suffix
from benzosafe.population.omop import convert_omop_db, convert_omop_dir
from benzosafe.population.records import write_records
from benzosafe.population.report import write_html
from benzosafe.population.screen import (
    Progress,
    ScreenOptions,
    ScreenResult,
    screen,
    write_flags,
)

ENGINES = ("duckdb", "spark")
FORMATS = ("auto", "parquet", "csv", "fhir")


class ScreenDisplay(Protocol):
    """What a face shows of a screen while it runs."""

    def reading(self, what: str) -> AbstractContextManager[object]:
        """Held while the input is read or converted (``what`` says which)."""
        ...

    def steps(self, total: int) -> AbstractContextManager[Progress]:
        """Held while the engine screens about ``total`` steps; gives the callable that is
        told each step as it starts."""
        ...

    def done(self, result: ScreenResult) -> None:
        """The result, shown before the report and the JSON summary are written."""
        ...


class QuietDisplay:
    """A display that shows nothing (a screen run from code)."""

    def reading(self, what: str) -> AbstractContextManager[object]:
        return nullcontext()

    def steps(self, total: int) -> AbstractContextManager[Progress]:
        return nullcontext(lambda _text: None)

    def done(self, result: ScreenResult) -> None:
        pass


def _date(text: str | None, field: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not a date", ["YYYY-MM-DD"]) from None


def _format(source: Location, fmt: str) -> str:
    """The input's format: as given, else by its suffix (a local directory without one is
    FHIR NDJSON files; a directory named ``*.parquet`` is Parquet files, as Spark writes)."""
    if fmt not in FORMATS:
        raise InvalidInput("format", f"unknown {fmt!r}", FORMATS)
    if fmt != "auto":
        return fmt
    end = suffix(source)
    if end in (".parquet", ".csv"):
        return end[1:]
    if end in (".ndjson", ".jsonl") or (isinstance(source, Path) and source.is_dir()):
        return "fhir"
    raise InvalidInput("format", f"cannot tell the format of {source} from its suffix", FORMATS)


def read_exclusions(path: Path) -> tuple[tuple[str, str], ...]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"patient_id", "reason"} <= set(reader.fieldnames or []):
                raise InvalidInput("exclusions", f"{path}: needs columns", ["patient_id", "reason"])
            return tuple(
                (row["patient_id"].strip(), row["reason"].strip().lower()) for row in reader
            )
    except OSError as exc:
        raise InvalidInput("exclusions", f"cannot read {path}: {exc.strerror}") from None


def make_engine(
    engine: str, spark_master: str, memory_limit: str | None, source: Location | None = None
) -> Engine:
    """The engine to screen ``source`` on (Spark sizes a local run by it)."""
    if engine == "duckdb":
        return DuckDBEngine(memory_limit=memory_limit)
    if engine == "spark":
        size = input_bytes(source) if source is not None else None
        return SparkEngine(master=spark_master, input_size=size)
    raise InvalidInput("engine", f"unknown {engine!r}", ENGINES)


def read_source(
    source: Location | None,
    omop: tuple[str | None, str | None, Path | None],
    known: set[str],
    out: Path,
    memory_limit: str | None = None,
) -> dict[str, int] | None:
    """An OMOP database or folder (``omop`` = url, schema, folder) written as the documented
    table to ``out`` (Parquet), returning the exposures skipped by reason; else None."""
    url, schema, folder = omop
    given = [n for n, v in (("input", source), ("--omop", url), ("--omop-dir", folder)) if v]
    if len(given) != 1:
        raise InvalidInput("input", "give exactly one of", ["INPUT", "--omop", "--omop-dir"])
    if schema is not None and url is None:
        raise InvalidInput("omop-schema", "is only used with --omop")
    if url is not None:
        return convert_omop_db(url, schema, out, known, memory_limit)
    if folder is not None:
        return convert_omop_dir(folder, out, known, memory_limit)
    return None


def run_screen(
    *,
    source: str | Path | None,
    out: str | Path | None,
    report: Path | None,
    summary_json: Path | None,
    engine: str,
    spark_master: str,
    input_format: str,
    drug_map: Path | None,
    exclusions: Path | None,
    period: tuple[str | None, str | None],
    provider: tuple[int | None, int | None, int | None],
    memory_limit: str | None,
    kb: Knowledge,
    omop: tuple[str | None, str | None, Path | None] = (None, None, None),
    display: ScreenDisplay | None = None,
) -> ScreenResult:
    """Everything ``benzosafe screen`` does, by the measures of ``kb``; returns the result it
    gave ``display``. ``source`` and ``out`` are local paths, or for Spark any URI it reads
    (:mod:`benzosafe.population.location`)."""
    if engine not in ENGINES:
        raise InvalidInput("engine", f"unknown {engine!r}", ENGINES)
    if engine == "spark" and any(omop) and not spark_master.startswith("local"):
        # DuckDB joins the OMOP tables into a file in this machine's temporary directory
        raise InvalidInput(
            "engine",
            f"OMOP input is joined on this machine into a local file, which the executors of "
            f"{spark_master} need not be able to read: screen OMOP input with --engine duckdb "
            "or a local Spark master (--spark-master 'local[*]')",
        )
    source = parse_location(str(source), engine) if source is not None else None
    out = parse_location(str(out), engine, "out") if out is not None else None
    display = display or QuietDisplay()
    products: tuple[ProductCode, ...] = tuple(read_product_map(drug_map)) if drug_map else ()
    known = {k.drug_key for k in drug_keys(kb, products)}
    with tempfile.TemporaryDirectory(prefix="benzosafe-screen-") as tmp:
        converted = Path(tmp) / "omop.parquet"
        with display.reading("reading the OMOP tables" if any(omop) else "reading"):
            skipped = read_source(source, omop, known, converted, memory_limit)
        path: Location = converted
        fmt = "parquet" if skipped is not None or source is None else _format(source, input_format)
        options = ScreenOptions(
            period_start=_date(period[0], "from"),
            period_end=_date(period[1], "to"),
            min_prescribers=provider[0],
            min_pharmacies=provider[1],
            window_days=provider[2],
            products=products,
            exclusions=read_exclusions(exclusions) if exclusions else (),
        )
        steps = 4 + len(kb.screening.measure)
        if skipped is None:  # else the OMOP tables are in ``path`` as the documented table
            if fmt == "fhir" and source is not None:
                if not isinstance(source, Path):
                    raise InvalidInput("input", f"{source}: FHIR NDJSON is read from local files")
                records, skipped = read_fhir_dispenses(source, known)
                path = Path(tmp) / "fhir.parquet"
                write_records(records, path)
                fmt = "parquet"
            elif source is None or (isinstance(source, Path) and not source.exists()):
                # a remote URI is left to Spark, which says itself when it cannot read it
                raise InvalidInput("input", f"{source} does not exist")
            else:
                path = source
        eng = make_engine(engine, spark_master, memory_limit, path)
        try:
            with display.steps(steps) as step:
                file_format: FileFormat = "parquet" if fmt == "parquet" else "csv"
                result = screen(eng, path, file_format, kb, options, step)
                if skipped:
                    merged = dict(result.malformed)
                    for reason, n in skipped.items():
                        merged[reason] = merged.get(reason, 0) + n
                    result = replace(
                        result,
                        malformed=dict(sorted(merged.items())),
                        rows_read=result.rows_read + sum(skipped.values()),
                    )
                if out is not None:
                    step("writing flags")
                    write_flags(eng, out)
        finally:
            eng.close()
    display.done(result)
    if report is not None:
        write_html(result, report, kb)
    if summary_json is not None:
        summary_json.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    return result
