"""The HTTP API reference (``docs/api.md``), generated from the OpenAPI of both web apps.

Builds the clinician app (over a throw-away SQLite file) and the
CDS Hooks service, reads their ``/openapi.json`` documents and writes every route with its
request body, responses and the schemas they name, so the page says what the code serves.
``python -m benzosafe.web.api_reference --out docs/api.md`` (``make docs``); a test keeps the
page current.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def schema_type(schema: dict[str, Any]) -> str:
    """A short, readable type for a JSON Schema: a linked name, a list of, one of."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema or "oneOf" in schema:
        parts = [schema_type(s) for s in schema.get("anyOf", schema.get("oneOf", []))]
        return " or ".join(dict.fromkeys(parts))
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return schema_type(schema["allOf"][0])
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type")
    if kind == "array":
        return f"list of {schema_type(schema.get('items', {}))}"
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return f"object of {schema_type(extra)}"
        return "object"
    if isinstance(kind, str):
        fmt = schema.get("format")
        return (f"{kind} ({fmt})" if fmt else kind) + _bounds(schema)
    return "any"


def _bounds(schema: dict[str, Any]) -> str:
    """The limits of a value, as the model sets them: ", at most 32 characters"."""
    if "maxLength" in schema:
        return f", at most {schema['maxLength']} characters"
    low, high = (_number(schema.get(key)) for key in ("minimum", "maximum"))
    if low is not None and high is not None:
        return f", {low} to {high}"
    if high is not None:
        return f", at most {high}"
    return ""


def _number(value: Any) -> Any:
    # FastAPI writes a body model's integer bounds as floats (2147483647.0).
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _body_type(content: dict[str, Any]) -> str:
    kinds = []
    for media, spec in content.items():
        schema = spec.get("schema")
        kinds.append(f"{media}: {schema_type(schema)}" if schema else media)
    return "; ".join(kinds)


def _operation(out: list[str], method: str, path: str, op: dict[str, Any]) -> None:
    out += [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        out += [f"**{op['summary']}.** " + " ".join(op.get("description", "").split()), ""]
    params = op.get("parameters", [])
    if params:
        out += ["| parameter | in | type | required | what |", "|---|---|---|---|---|"]
        for p in params:
            out.append(
                f"| `{p['name']}` | {p['in']} | {schema_type(p.get('schema', {}))} "
                f"| {'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        out += [f"Request body: {_body_type(body.get('content', {}))}", ""]
    out += ["| status | what | body |", "|---|---|---|"]
    for status, resp in sorted(op.get("responses", {}).items()):
        out.append(
            f"| {status} | {_cell(resp.get('description', ''))} "
            f"| {_body_type(resp.get('content', {}))} |"
        )
    out.append("")


def _schemas(out: list[str], schemas: dict[str, Any], seen: set[str]) -> None:
    for name in sorted(schemas):
        if name in seen:
            continue
        seen.add(name)
        schema = schemas[name]
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [" ".join(schema["description"].split()), ""]
        props = schema.get("properties")
        if props:
            required = set(schema.get("required", []))
            out += ["| field | type | required | what |", "|---|---|---|---|"]
            for field, spec in props.items():
                out.append(
                    f"| `{field}` | {schema_type(spec)} | {'yes' if field in required else 'no'} "
                    f"| {_cell(spec.get('description', ''))} |"
                )
        else:
            out.append(f"Type: {schema_type(schema)}")
        out.append("")


def openapi_documents() -> list[tuple[str, str, dict[str, Any]]]:
    """(title, where it is served, OpenAPI document) of the clinician app and the CDS service."""
    from benzosafe.web.cds.app import create_cds_app
    from benzosafe.web.cds.settings import CdsSettings
    from benzosafe.web.clinic.app import create_app
    from benzosafe.web.clinic.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:  # the app writes to its database as it starts
        url = f"sqlite:///{Path(tmp) / 'api-reference.db'}"
        clinic = create_app(Settings(environment="test", secret_key="d" * 40, database_url=url))
        clinic_doc = clinic.openapi()
        clinic.state.engine.dispose()
    cds = create_cds_app(CdsSettings(allow_unauthenticated=True))
    return [
        ("The clinician web app", "`benzosafe serve`: `/openapi.json`, `/docs`", clinic_doc),
        (
            "The CDS Hooks service",
            "`benzosafe serve-cds` (or `/cds` inside the web app): `/openapi.json`",
            cds.openapi(),
        ),
    ]


def api_markdown() -> str:
    """The page: each app's routes, then the schemas they name."""
    out = [
        "# HTTP API reference",
        "",
        "<!-- generated by `python -m benzosafe.web.api_reference`; do not edit -->",
        "",
        "Generated from the OpenAPI documents the two web apps serve. The clinician app's",
        "JSON API needs a signed-in session and, on unsafe requests, the CSRF token; the CDS",
        "Hooks service needs the EHR's JWT (see the [CDS Hooks guide](guides/ehr-cds-hooks.md)).",
        "",
    ]
    for title, where, doc in openapi_documents():
        out += [f"## {title}", "", f"Served by {where}.", ""]
        if doc["info"].get("description"):
            out += [" ".join(doc["info"]["description"].split()), ""]
        for path, item in doc.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    _operation(out, method, path, item[method])
        schemas = doc.get("components", {}).get("schemas", {})
        if schemas:
            out += [f"## Schemas of {title[0].lower()}{title[1:]}", ""]
            _schemas(out, schemas, set())
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    """``python -m benzosafe.web.api_reference [--out docs/api.md]``."""
    parser = argparse.ArgumentParser(prog="python -m benzosafe.web.api_reference")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    text = api_markdown()
    if args.out is None:
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
