"""A clinic's own protocol laid over the cited defaults: read, checked, applied.

A protocol is a TOML file a clinic writes and signs off (``[protocol]`` name, version and
source, then the keys it changes: instrument bands, default taper pace, the taper bound, the
equivalence table, labelled maximum daily doses, level-of-care and triage levels). It may
tighten the cited defaults and never loosen them: a slower default pace, a lower bound or
maximum, a higher level of care or triage level. Anything else is an
:class:`~benzosafe.errors.InvalidInput` naming the key and what is allowed, and nothing is
applied. :func:`apply_protocol` returns a new :class:`~benzosafe.knowledge.bundle.Knowledge`
that carries :class:`ProtocolInfo` (name, version, content hash), cites the protocol as the
source ``PROTOCOL`` wherever it changed a value, and leaves the cited defaults untouched.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benzosafe.errors import InvalidInput
from benzosafe.knowledge.assessment import CARE_LEVELS, TRIAGE_LEVELS, Band, CareLevel, TriageLevel
from benzosafe.knowledge.bundle import Knowledge, ProtocolInfo, load
from benzosafe.knowledge.models import Citation, Equivalence, Source
from benzosafe.units import parse_daily_dose

PROTOCOL_SOURCE = "PROTOCOL"
ENV_VAR = "BENZOSAFE_PROTOCOL"
MAX_PROTOCOL_BYTES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProtocolMeta(_Strict):
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=50)
    source: str = Field(min_length=1, max_length=500)


class BandSpec(_Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    label: str = Field(min_length=1, max_length=60)
    interpretation: str = ""


class InstrumentProtocol(_Strict):
    bands: list[BandSpec] = Field(min_length=1)


class TaperProtocol(_Strict):
    reduce_percent: Decimal | None = Field(default=None, gt=0, lt=100)
    every_days: int | None = Field(default=None, ge=1, le=365)
    max_reduction_percent: Decimal | None = Field(default=None, gt=0, lt=100)


class EquivalenceProtocol(_Strict):
    table: Literal["ashton", "va-dod"]


class Protocol(_Strict):
    """The keys a protocol may set; any other key is an error naming it."""

    protocol: ProtocolMeta
    instruments: dict[str, InstrumentProtocol] = Field(default_factory=dict)
    taper: TaperProtocol | None = None
    equivalence: EquivalenceProtocol | None = None
    dose_limits: dict[str, str] = Field(default_factory=dict)
    level_of_care: dict[str, CareLevel] = Field(default_factory=dict)
    triage: dict[str, TriageLevel] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """One value the protocol changed: where, the cited default, and the protocol's value."""

    key: str
    default: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "default": self.default, "value": self.value}


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "protocol"


def parse_protocol(text: str, origin: str = "protocol") -> Protocol:
    """Validate protocol TOML text; an error names the key and the allowed values."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(origin, f"not valid TOML: {exc}") from exc
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _where(tuple(first["loc"]))
        allowed: list[str] = []
        ctx = first.get("ctx") or {}
        if "expected" in ctx:
            allowed = [a.strip(" '") for a in str(ctx["expected"]).replace(" or ", ",").split(",")]
        if first["type"] == "extra_forbidden":
            parent = tuple(first["loc"][:-1])
            raise InvalidInput(where, "unknown key", sorted(_known_keys(parent))) from exc
        raise InvalidInput(where, first["msg"], [a for a in allowed if a]) from exc


_KEYS: dict[tuple[int | str, ...], type[BaseModel]] = {
    (): Protocol,
    ("protocol",): ProtocolMeta,
    ("taper",): TaperProtocol,
    ("equivalence",): EquivalenceProtocol,
}


def _known_keys(parent: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where an unknown one was found (``parent`` is its place)."""
    if parent[:1] == ("instruments",):
        return list((BandSpec if len(parent) >= 4 else InstrumentProtocol).model_fields)
    return list(_KEYS.get(parent, Protocol).model_fields)


def read_protocol(path: Path) -> tuple[Protocol, ProtocolInfo]:
    """Read and validate a protocol file; its content hash names exactly what was applied."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput("protocol", f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_PROTOCOL_BYTES:
        raise InvalidInput("protocol", f"{path} is larger than {MAX_PROTOCOL_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("protocol", f"{path} is not UTF-8 text") from exc
    protocol = parse_protocol(text, "protocol")
    meta = protocol.protocol
    info = ProtocolInfo(
        name=meta.name,
        version=meta.version,
        source=meta.source,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=str(path),
    )
    return protocol, info


def _cite(section: str) -> list[Citation]:
    return [Citation(ref=PROTOCOL_SOURCE, section=section)]


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _bands(kb: Knowledge, instrument_id: str, spec: InstrumentProtocol) -> list[Band]:
    where = f"instruments.{instrument_id}.bands"
    inst = kb.assessment.instruments[instrument_id]
    ordered = sorted(spec.bands, key=lambda b: b.min)
    expected = 0
    for band in ordered:
        if band.max < band.min:
            raise InvalidInput(where, f"{band.label!r}: max {band.max} is below min {band.min}")
        if band.min != expected:
            what = "a gap" if band.min > expected else "an overlap"
            raise InvalidInput(
                where,
                f"{what} at {min(band.min, expected)}: bands must cover 0 to "
                f"{inst.max_total} without gaps or overlaps",
            )
        expected = band.max + 1
    if expected - 1 != inst.max_total:
        raise InvalidInput(
            where,
            f"the bands end at {expected - 1}, the instrument's total runs 0 to {inst.max_total}",
        )
    return [
        Band(
            low=b.min,
            high=b.max,
            label=b.label,
            interpretation=b.interpretation or f"{b.label} (site protocol band)",
            sources=_cite(f"instruments.{instrument_id}.bands"),
        )
        for b in ordered
    ]


def _equivalence(entry_eq: Equivalence, table: str, name: str) -> Equivalence:
    chosen = next((t for t in entry_eq.tables if t.table == table), None)
    if chosen is None:
        return entry_eq
    if chosen.low_mg == chosen.high_mg:
        used = chosen.low_mg
    elif entry_eq.used_mg is not None and chosen.low_mg <= entry_eq.used_mg <= chosen.high_mg:
        used = entry_eq.used_mg
    else:
        used = chosen.low_mg
    return entry_eq.model_copy(
        update={"used_mg": used, "choice": f"{table} column (site protocol: {name})."}
    )


def _level_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def apply_protocol(kb: Knowledge, protocol: Protocol, info: ProtocolInfo) -> Knowledge:
    """The knowledge with the protocol laid over it; an error names the key that loosens."""
    return _apply(kb, protocol, info)[0]


def protocol_changes(kb: Knowledge, protocol: Protocol, info: ProtocolInfo) -> list[Change]:
    """What the protocol changes against the cited defaults, key by key."""
    return _apply(kb, protocol, info)[1]


def _apply(kb: Knowledge, protocol: Protocol, info: ProtocolInfo) -> tuple[Knowledge, list[Change]]:
    changes: list[Change] = []
    update: dict[str, Any] = {}

    assessment = kb.assessment
    instruments = dict(assessment.instruments)
    for inst_id, spec in protocol.instruments.items():
        if inst_id not in instruments:
            raise InvalidInput(f"instruments.{inst_id}", "unknown instrument", sorted(instruments))
        bands = _bands(kb, inst_id, spec)
        old = instruments[inst_id]
        instruments[inst_id] = old.model_copy(update={"bands": bands})
        changes.append(
            Change(
                f"instruments.{inst_id}.bands",
                ", ".join(f"{b.low}-{b.high} {b.label}" for b in old.bands) or "none (draft)",
                ", ".join(f"{b.low}-{b.high} {b.label}" for b in bands),
            )
        )

    triage = assessment.triage
    if protocol.triage:
        effects = {e.id: e for e in triage.effect}
        new_effects = list(triage.effect)
        for effect_id, level in protocol.triage.items():
            if effect_id not in effects:
                raise InvalidInput(f"triage.{effect_id}", "unknown effect", sorted(effects))
            old_level = effects[effect_id].level
            if TRIAGE_LEVELS.index(level) < TRIAGE_LEVELS.index(old_level):
                raise InvalidInput(
                    f"triage.{effect_id}",
                    f"a protocol may not lower a triage level below the cited {old_level!r}",
                    TRIAGE_LEVELS[TRIAGE_LEVELS.index(old_level) :],
                )
            index = next(i for i, e in enumerate(new_effects) if e.id == effect_id)
            new_effects[index] = effects[effect_id].model_copy(
                update={"level": level, "sources": [*effects[effect_id].sources, *_cite("triage")]}
            )
            changes.append(Change(f"triage.{effect_id}", old_level, level))
        triage = triage.model_copy(update={"effect": new_effects})

    loc = assessment.level_of_care
    if protocol.level_of_care:
        rules = list(loc.rule)
        by_code = {_level_key(r.code): i for i, r in enumerate(rules)}
        for key, care in protocol.level_of_care.items():
            where = f"level_of_care.{key}"
            if _level_key(key) not in by_code:
                raise InvalidInput(where, "unknown level-of-care rule", sorted(by_code))
            i = by_code[_level_key(key)]
            old_rule = rules[i]
            if CARE_LEVELS.index(care) < CARE_LEVELS.index(old_rule.level):
                raise InvalidInput(
                    where,
                    f"a protocol may not lower a level of care below the cited {old_rule.level!r}",
                    CARE_LEVELS[CARE_LEVELS.index(old_rule.level) :],
                )
            rules[i] = old_rule.model_copy(
                update={"level": care, "sources": [*old_rule.sources, *_cite(where)]}
            )
            changes.append(Change(where, old_rule.level, care))
        loc = loc.model_copy(update={"rule": rules})

    if protocol.instruments or protocol.triage or protocol.level_of_care:
        update["assessment"] = assessment.model_copy(
            update={"instruments": instruments, "triage": triage, "level_of_care": loc}
        )

    if protocol.taper is not None:
        update["taper"] = _taper(kb, protocol.taper, changes)

    if protocol.equivalence is not None:
        table = protocol.equivalence.table
        benzos = {
            drug: entry.model_copy(
                update={"equivalence": _equivalence(entry.equivalence, table, info.name)}
            )
            for drug, entry in kb.benzodiazepines.items()
        }
        update["benzodiazepines"] = benzos
        changes.append(Change("equivalence.table", "ashton", table))

    if protocol.dose_limits:
        update["rules"] = _dose_limits(kb, protocol.dose_limits, changes)

    sources = dict(kb.sources)
    sources[PROTOCOL_SOURCE] = Source(
        id=PROTOCOL_SOURCE,
        title=f"{info.name}, version {info.version}",
        publisher=info.source,
        edition=info.version,
        url="",
        status="V",
        section=f"site protocol, sha256 {info.sha256}",
    )
    update["sources"] = sources
    update["protocol"] = info
    return kb.model_copy(update=update), changes


def _taper(kb: Knowledge, spec: TaperProtocol, changes: list[Change]) -> Any:
    taper = kb.taper
    pace = taper.pace
    percent = spec.reduce_percent if spec.reduce_percent is not None else pace.percent
    every = spec.every_days if spec.every_days is not None else pace.every_days
    # A default pace may be slower, never faster, than the cited one (percent per day).
    if percent * pace.every_days > pace.percent * every:
        raise InvalidInput(
            "taper.reduce_percent",
            f"{_num(percent)}% every {every} days is faster than the cited default pace of "
            f"{_num(pace.percent)}% every {pace.every_days} days; a protocol may only slow it",
        )
    rules = dict(taper.rules)
    if spec.reduce_percent is not None or spec.every_days is not None:
        changes.append(
            Change(
                "taper.pace",
                f"{_num(pace.percent)}% every {pace.every_days} days",
                f"{_num(percent)}% every {every} days",
            )
        )
    new_pace = pace.model_copy(
        update={
            "percent": percent,
            "every_days": every,
            "sources": [*pace.sources, *_cite("taper")],
        }
    )
    if spec.max_reduction_percent is not None:
        rule = taper.rule("window-bound")
        cited = Decimal(str(rule.params["max_reduction_percent"]))
        if spec.max_reduction_percent > cited:
            raise InvalidInput(
                "taper.max_reduction_percent",
                f"a protocol may not raise the bound above the cited {_num(cited)}% "
                f"within {rule.params['window_days']} days",
            )
        rules[rule.id] = rule.model_copy(
            update={
                "params": {**rule.params, "max_reduction_percent": str(spec.max_reduction_percent)},
                "sources": [*rule.sources, *_cite("taper.max_reduction_percent")],
            }
        )
        changes.append(
            Change(
                "taper.max_reduction_percent",
                f"{_num(cited)}%",
                f"{_num(spec.max_reduction_percent)}%",
            )
        )
    return taper.model_copy(update={"pace": new_pace, "rules": rules})


def _dose_limits(kb: Knowledge, limits: dict[str, str], changes: list[Change]) -> dict[str, Any]:
    rules = dict(kb.rules)
    allowed = sorted(r.id for r in rules.values() if r.kind == "max-daily-dose")
    for rule_id, text in limits.items():
        where = f"dose_limits.{rule_id}"
        rule = rules.get(rule_id)
        if rule is None or rule.kind != "max-daily-dose":
            raise InvalidInput(where, "not a maximum-daily-dose rule", allowed)
        mg = parse_daily_dose(text, where)
        cited = Decimal(str(rule.params["max_mg_per_day"]))
        if mg > cited:
            raise InvalidInput(
                where, f"a protocol may not raise the labelled maximum of {_num(cited)} mg/day"
            )
        rules[rule_id] = rule.model_copy(
            update={
                "params": {**rule.params, "max_mg_per_day": _num(mg)},
                "sources": [*rule.sources, *_cite(where)],
            }
        )
        changes.append(Change(where, f"{_num(cited)} mg/day", f"{_num(mg)} mg/day"))
    return rules


def protocol_path(given: str | Path | None = None) -> Path | None:
    """The protocol a face was asked for: ``given``, else ``BENZOSAFE_PROTOCOL``, else none."""
    text = str(given) if given else os.environ.get(ENV_VAR, "")
    return Path(text) if text.strip() else None


def load_active(given: str | Path | None = None) -> Knowledge:
    """The knowledge a face works with: :func:`load` with the site protocol laid over it.

    The protocol is ``given`` or the file ``BENZOSAFE_PROTOCOL`` names; without either, the
    cited defaults exactly. The file is read at each call (it is small) and the result kept by
    path and content hash, so a changed file is never served from a stale copy.
    """
    path = protocol_path(given)
    if path is None:
        return load()
    protocol, info = read_protocol(path)
    if info not in _APPLIED:
        _APPLIED[info] = apply_protocol(load(), protocol, info)
    return _APPLIED[info]


# The protocols laid over the knowledge in this process, by path and content hash.
_APPLIED: dict[ProtocolInfo, Knowledge] = {}
