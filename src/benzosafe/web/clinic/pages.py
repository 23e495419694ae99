"""The server-rendered pages (Jinja2 templates, no build step, a little htmx-free HTML).

Every form posts with the session's CSRF token; every page names the permission it needs;
every page that shows a patient's data writes an audit event through the records.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.environment import TemplateModule
from sqlalchemy.orm import Session

from benzosafe.errors import (
    BenzosafeError,
    Conflict,
    InvalidInput,
    SignInRefused,
    TooManyAttempts,
)
from benzosafe.knowledge import Knowledge
from benzosafe.store import accounts, records
from benzosafe.store.limits import INTEGER_MAX, limits
from benzosafe.store.models import TaperPlanRow
from benzosafe.units import format_mg
from benzosafe.web.clinic import actions, charts, present
from benzosafe.web.clinic.auth import (
    csrf_token,
    current_user,
    may,
    sign_in_user,
    sign_out_session,
)
from benzosafe.web.clinic.deps import Ctx, OptionalRowId, RowId, ctx, db_session
from benzosafe.web.clinic.present import with_references

router = APIRouter(include_in_schema=False)
PATIENTS = Depends(ctx("patients"))
CLINICAL = Depends(ctx("clinical"))
ADMIN = Depends(ctx("admin"))
REFERENCE = Depends(ctx("reference"))
FREQUENCIES = ("qd", "bid", "tid", "qid", "qhs")

_env = Environment(
    loader=FileSystemLoader(str(files("benzosafe.web.clinic") / "templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # package files: not looked up on disk again at every page
)
_env.filters["merge_findings"] = present.merge_findings
# ``maxlength="{{ limit['patients.mrn'] }}"``: the form fields take their limits from the model.
_env.globals["limit"] = limits()


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    session_user = getattr(request.state, "user", None)
    page = _env.get_template(name).render(
        request=request,
        user=session_user,
        may=lambda permission: may(session_user, permission),
        csrf=csrf_token(request),
        **context,
    )
    return HTMLResponse(with_references(page, _kb().sources), status_code=status_code)


def page(c: Ctx, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    c.request.state.user = c.user
    return render(c.request, name, context, status_code)


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form as a dict; repeated fields become lists; the CSRF token is dropped."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 else (values[0] if values else "")
    return out


FORM = Depends(form_data)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _instruments() -> list[Any]:
    return list(_kb().assessment.instruments.values())


# ----------------------------------------------------------------------------- sign in


@router.get("/")
def home(request: Request, db: Session = Depends(db_session)) -> Response:
    user = current_user(request, db)
    if user is None:
        return see_other("/sign-in")
    return see_other("/admin/users" if user.role == "admin" else "/patients")


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", {"message": None})


@router.post("/sign-in")
def sign_in(
    request: Request, form: dict[str, Any] = FORM, db: Session = Depends(db_session)
) -> Response:
    try:
        sign_in_user(request, db, str(form.get("username", "")), str(form.get("password", "")))
    except (SignInRefused, TooManyAttempts) as exc:
        return render(request, "sign_in.html", {"message": str(exc)}, status_code=exc.status)
    return see_other("/")


@router.post("/sign-out")
def sign_out(request: Request, db: Session = Depends(db_session)) -> Response:
    sign_out_session(request, db)
    return see_other("/sign-in")


# ----------------------------------------------------------------------------- patients


PAGE_SIZE = 50


@router.get("/patients")
def patients(
    q: str = "", page_number: int = Query(1, alias="page", le=INTEGER_MAX), c: Ctx = PATIENTS
) -> Response:
    """The patient list, searched by name or MRN, a page of ``PAGE_SIZE`` at a time."""
    q = q.strip()[:128]
    total = records.count_patients(c.db, q)
    pages = max(1, -(-total // PAGE_SIZE))
    if not 1 <= page_number <= pages:
        return see_other(
            "/patients?" + urlencode({"q": q, "page": min(max(page_number, 1), pages)})
        )
    first = (page_number - 1) * PAGE_SIZE
    found = records.search_patients(c.db, c.actor, q, PAGE_SIZE, first)
    c.commit()

    def link(number: int) -> str:
        return "/patients?" + urlencode({"q": q, "page": number} if q else {"page": number})

    paging = {
        "page": page_number,
        "pages": pages,
        "total": total,
        "first": first + 1 if found else 0,
        "last": first + len(found),
        "previous": link(page_number - 1) if page_number > 1 else None,
        "next": link(page_number + 1) if page_number < pages else None,
    }
    return page(c, "patients.html", {"patients": found, "q": q, "paging": paging})


@router.get("/patients/new")
def new_patient_form(c: Ctx = PATIENTS) -> HTMLResponse:
    return page(c, "patient_new.html", {"form": {}, "error": None})


@router.post("/patients/new")
def new_patient(form: dict[str, Any] = FORM, c: Ctx = PATIENTS) -> Response:
    try:
        patient = records.create_patient(c.db, c.actor, form)
    except InvalidInput as exc:
        c.db.rollback()
        return page(c, "patient_new.html", {"form": form, "error": exc}, status_code=422)
    c.commit()
    return see_other(f"/patients/{patient.id}/intake")


@router.get("/patients/{patient_id}")
def patient_page(patient_id: RowId, c: Ctx = PATIENTS) -> HTMLResponse:
    clinical = may(c.user, "clinical")
    action = "patient.read" if clinical else "patient.read-summary"
    patient = records.get_patient(c.db, c.actor, patient_id, action)
    context: dict[str, Any] = {"patient": patient, "clinical": clinical, "today": date.today()}
    if clinical:
        chart = records.patient_chart(c.db, patient_id)
        context["chart"] = chart
        context["dose_svg"] = charts.dose_chart(chart)
        context["trend_svg"] = charts.ciwa_b_trend(chart)
        context["timeline"] = charts.timeline(chart)
        context["instruments"] = _instruments()
    else:
        context["intakes"] = records.intakes(c.db, patient_id)
    c.commit()
    return page(c, "patient.html", context)


@router.post("/patients/{patient_id}/doses")
def record_dose(patient_id: RowId, form: dict[str, Any] = FORM, c: Ctx = CLINICAL) -> Response:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    actions.record_dose(c, patient, form)
    c.commit()
    return see_other(f"/patients/{patient_id}#doses")


# ----------------------------------------------------------------------------- intake, assessment


def _intake_context(patient: Any, form: dict[str, Any]) -> dict[str, Any]:
    from benzosafe.clinical.level_of_care import SUBSTANCES

    return {
        "patient": patient,
        "form": form,
        "booleans": actions.INTAKE_BOOLEANS,
        "substances": SUBSTANCES,
        "drugs": sorted(_kb().benzodiazepines),
        "intake": None,
        "error": None,
    }


@router.get("/patients/{patient_id}/intake")
def intake_form(patient_id: RowId, c: Ctx = PATIENTS) -> HTMLResponse:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read-summary")
    c.commit()
    return page(c, "intake.html", _intake_context(patient, {"drug": "clonazepam"}))


@router.post("/patients/{patient_id}/intake")
def take_intake(patient_id: RowId, form: dict[str, Any] = FORM, c: Ctx = PATIENTS) -> HTMLResponse:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read-summary")
    context = _intake_context(patient, form)
    try:
        context["intake"] = actions.take_intake(c, patient, actions.intake_from_form(form))
    except BenzosafeError as exc:
        c.db.rollback()
        context["error"] = exc
        return page(c, "intake.html", context, status_code=422)
    c.commit()
    return page(c, "intake.html", context)


@router.post("/intakes/{intake_id}/decision")
def decide(intake_id: RowId, form: dict[str, Any] = FORM, c: Ctx = PATIENTS) -> Response:
    row = records.decide_intake(c.db, c.actor, intake_id, str(form.get("decision", "")))
    c.commit()
    return see_other(f"/patients/{row.patient_id}")


@router.get("/patients/{patient_id}/assess/{instrument_id}")
def assessment_form(patient_id: RowId, instrument_id: str, c: Ctx = CLINICAL) -> HTMLResponse:
    from benzosafe.clinical.instruments import instrument

    inst = instrument(instrument_id, _kb())
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    c.commit()
    return page(c, "assess.html", {"patient": patient, "inst": inst, "form": {}, "error": None})


@router.post("/patients/{patient_id}/assess/{instrument_id}")
def assess(
    patient_id: RowId, instrument_id: str, form: dict[str, Any] = FORM, c: Ctx = CLINICAL
) -> Response:
    from benzosafe.clinical.instruments import instrument

    inst = instrument(instrument_id, _kb())
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    data: dict[str, Any] = {"instrument": inst.id, "answers": {}}
    try:
        for item in inst.items:
            text = str(form.get(item.id, "")).strip()
            if text:
                if not text.isdigit():
                    raise InvalidInput(f"answers.{item.id}", f"{text!r} is not a whole number")
                data["answers"][item.id] = int(text)
        if "medical_supervision" in inst.context and form.get("medical_supervision") in (
            "yes",
            "no",
        ):
            data["medical_supervision"] = form["medical_supervision"] == "yes"
        if str(form.get("taken_at", "")).strip():
            data["taken_at"] = str(form["taken_at"])
        actions.record_assessment(c, patient, data)
    except BenzosafeError as exc:
        c.db.rollback()
        context = {"patient": patient, "inst": inst, "form": form, "error": exc}
        return page(c, "assess.html", context, status_code=422)
    c.commit()
    return see_other(f"/patients/{patient_id}#assessments")


@router.post("/patients/{patient_id}/side-effects")
def side_effects(patient_id: RowId, form: dict[str, Any] = FORM, c: Ctx = CLINICAL) -> Response:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    actions.report_side_effects(c, patient, {"symptoms": str(form.get("symptoms", ""))})
    c.commit()
    return see_other(f"/patients/{patient_id}#side-effects")


# ----------------------------------------------------------------------------- taper


def _taper_context(patient: Any, form: dict[str, Any], replaces: Any) -> dict[str, Any]:
    """What the builder shows; ``replaces`` is the active plan that saving ends (the one the
    clinician was shown, sent back with the form so a plan changed meanwhile is a conflict)."""
    return {"patient": patient, "form": form, "drugs": sorted(_kb().benzodiazepines),
            "plan": None, "svg": None, "error": None, "dose_warning": None,
            "last_dose": None, "unconfirmed": False, "replaces": replaces}  # fmt: skip


def _kb() -> Knowledge:
    """The knowledge results are computed with: the site protocol laid over the defaults."""
    return actions.knowledge()


@router.get("/taper/new")
def taper_new(
    drug: str = "clonazepam", daily_dose: str = "", q: str = "", c: Ctx = CLINICAL
) -> HTMLResponse:
    """Where the EHR's patient-view card links: choose the patient, then build the taper."""
    found = records.search_patients(c.db, c.actor, q, 50) if q else []
    c.commit()
    query = urlencode({"drug": drug, "daily_dose": daily_dose} if daily_dose else {"drug": drug})
    return page(
        c,
        "taper_new.html",
        {"patients": found, "q": q, "drug": drug, "daily_dose": daily_dose, "query": query},
    )


@router.get("/patients/{patient_id}/taper")
def taper_form(
    patient_id: RowId, drug: str = "clonazepam", daily_dose: str = "", c: Ctx = CLINICAL
) -> HTMLResponse:
    """The builder, its dose prefilled from the link or else the last dose recorded as taken."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    last = records.last_recorded_dose(c.db, patient_id)
    active = records.active_taper_plan(c.db, patient_id)
    c.commit()
    if not daily_dose and last is not None:
        daily_dose = f"{format_mg(Decimal(last.daily_mg))}/day"
    pace = _kb().taper.pace  # the cited default (or the site protocol's), not a copy
    form = {"drug": drug, "dose": daily_dose, "start": date.today().isoformat(),
            "reduce": f"{pace.percent}%", "every": f"{pace.every_days}d"}  # fmt: skip
    context = _taper_context(patient, form, active)
    if last is not None:
        context["last_dose"] = last
    return page(c, "taper.html", context)


@router.post("/patients/{patient_id}/taper")
def taper_build(patient_id: RowId, form: dict[str, Any] = FORM, c: Ctx = CLINICAL) -> Response:
    """Preview (nothing kept) or save the plan, by the button pressed. A starting dose other
    than the last one recorded is warned about, and saved only once the clinician confirms it."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    intent = form.pop("intent", "preview")
    confirmed = form.pop("dose_confirmed", "") == "yes"
    replaces = form.pop("replaces", None)
    context = _taper_context(patient, form, None)
    try:
        replaces = actions.replaced_plan(replaces)
        context["replaces"] = replaces and c.db.get(TaperPlanRow, replaces)
        context["dose_warning"] = actions.dose_mismatch(c, patient, form)
        if intent == "save" and (confirmed or not context["dose_warning"]):
            actions.save_taper(c, patient, form, replaces)
            c.commit()
            return see_other(f"/patients/{patient_id}#taper")
        plan = actions.preview_taper(c, form)
    except BenzosafeError as exc:
        c.db.rollback()
        context["error"] = exc
        status = 422
        if isinstance(exc, Conflict):  # the plans changed meanwhile: show the one active now
            context["replaces"] = records.active_taper_plan(c.db, patient_id)
            status = exc.status
        return page(c, "taper.html", context, status_code=status)
    c.commit()
    context["plan"] = plan
    context["unconfirmed"] = intent == "save"
    context["svg"] = charts.dose_svg(charts.planned_steps({"plan": plan}), [])
    return page(c, "taper.html", context)


@router.post("/taper-plans/{taper_plan_id}/adjust")
def taper_adjust(taper_plan_id: RowId, form: dict[str, Any] = FORM, c: Ctx = CLINICAL) -> Response:
    row = records.get_taper_plan(c.db, c.actor, taper_plan_id)
    expected = form.pop("expected_version", None)
    row = actions.adjust_taper(c, row, expected, form)
    c.commit()
    return see_other(f"/patients/{row.patient_id}#taper")


# ----------------------------------------------------------------------------- the check


def _check_input(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's values in the JSON API's shape (blank fields left out)."""
    order: dict[str, Any] = {}
    for key in ("drug", "dose", "frequency", "indication", "start", "prior_dose", "prior_start"):
        if str(form.get(key, "")).strip():
            order[key] = str(form[key]).strip()
    for key in ("duration_days", "days_supply", "refills"):
        text = str(form.get(key, "")).strip()
        if text:
            if not text.isdigit():
                raise InvalidInput(f"order.{key}", f"{text!r} is not a whole number")
            order[key] = int(text)
    patient: dict[str, Any] = {}
    age = str(form.get("age", "")).strip()
    if age:
        patient["age"] = age
    if str(form.get("weight", "")).strip():
        patient["weight"] = str(form["weight"]).strip()
    conditions = form.get("conditions", [])
    patient["conditions"] = [conditions] if isinstance(conditions, str) else list(conditions)
    patient["conditions"] = [x for x in patient["conditions"] if x]
    also = str(form.get("also_taking", ""))
    patient["also_taking"] = [line.strip() for line in also.splitlines() if line.strip()]
    return order, patient


def _check_context(form: dict[str, Any]) -> dict[str, Any]:
    kb = _kb()
    return {
        "form": form,
        "frequencies": FREQUENCIES,
        "indications": kb.indications,
        "conditions": sorted(kb.conditions),
        "drugs": sorted(kb.benzodiazepines),
    }


@router.get("/check")
def check_form(c: Ctx = CLINICAL) -> HTMLResponse:
    form = {"drug": "clonazepam", "start": date.today().isoformat()}
    return page(c, "check.html", {**_check_context(form), "report": None, "patient": None})


@router.post("/check")
def check(form: dict[str, Any] = FORM, c: Ctx = CLINICAL) -> HTMLResponse:
    context = {**_check_context(form), "patient": None, "report": None, "error": None}
    try:
        order, facts = _check_input(form)
        context["report"] = actions.check(order, facts)
    except BenzosafeError as exc:
        context["error"] = exc
        return page(c, "check.html", context, status_code=422)
    return page(c, "check.html", context)


@router.get("/patients/{patient_id}/check")
def patient_check_form(patient_id: RowId, c: Ctx = CLINICAL) -> HTMLResponse:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    c.commit()
    form = {
        "drug": "clonazepam",
        "start": date.today().isoformat(),
        "age": str(patient.age_on(date.today())),
    }
    return page(c, "check.html", {**_check_context(form), "report": None, "patient": patient})


@router.post("/patients/{patient_id}/check")
def patient_check(
    patient_id: RowId, form: dict[str, Any] = FORM, c: Ctx = CLINICAL
) -> HTMLResponse:
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    context = {**_check_context(form), "patient": patient, "report": None, "error": None}
    try:
        order, facts = _check_input(form)
        row = actions.save_check(c, patient, order, facts)
    except BenzosafeError as exc:
        c.db.rollback()
        context["error"] = exc
        return page(c, "check.html", context, status_code=422)
    c.commit()
    context["report"] = row.report
    context["saved"] = row.id
    return page(c, "check.html", context)


# ----------------------------------------------------------------------------- reference


@router.get("/drugs")
def drugs(c: Ctx = REFERENCE) -> HTMLResponse:
    kb = _kb()
    return page(c, "drugs.html", {"drugs": sorted(kb.benzodiazepines.values(), key=lambda d: d.id)})


# A drug's page body by knowledge and the name asked for: (knowledge, drug id, HTML). The body
# is the same for every user while the knowledge is (a reloaded site protocol is another
# knowledge object), and rendering it was 80 % of the page's CPU (issue #18).
_DRUG_BODIES: dict[tuple[int, str], tuple[Knowledge, str, TemplateModule]] = {}


def _drug_body(name: str) -> tuple[str, TemplateModule]:
    """The drug's id and its page body, rendered (autoescaped) once: a template module, which
    the page includes as the HTML it already is."""
    kb = _kb()
    key = (id(kb), name)
    kept = _DRUG_BODIES.get(key)
    if kept is None or kept[0] is not kb:
        m = actions.monograph(name)  # an unknown drug is an error here, never kept
        body = _env.get_template("drug_body.html").make_module({"m": m, "sources": kb.sources})
        if len(_DRUG_BODIES) >= 256:  # names asked for are the client's: keep it bounded
            _DRUG_BODIES.clear()
        kept = _DRUG_BODIES[key] = (kb, str(m["id"]), body)
    return kept[1], kept[2]


@router.get("/drugs/{name}")
def drug(name: str, c: Ctx = REFERENCE) -> HTMLResponse:
    drug_id, body = _drug_body(name)
    return page(c, "drug.html", {"drug_id": drug_id, "body": body})


# ----------------------------------------------------------------------------- admin


@router.get("/admin/users")
def users(c: Ctx = ADMIN) -> HTMLResponse:
    return page(c, "users.html", {"users": accounts.list_users(c.db), "error": None, "form": {}})


@router.post("/admin/users")
def add_user(form: dict[str, Any] = FORM, c: Ctx = ADMIN) -> Response:
    try:
        accounts.create_user(
            c.db,
            c.actor,
            str(form.get("username", "")),
            str(form.get("password", "")),
            str(form.get("role", "")),
            str(form.get("display_name", "")),
        )
    except InvalidInput as exc:
        c.db.rollback()
        context = {"users": accounts.list_users(c.db), "error": exc, "form": form}
        return page(c, "users.html", context, status_code=422)
    c.commit()
    return see_other("/admin/users")


@router.post("/admin/users/{user_id}/active")
def set_active(user_id: RowId, form: dict[str, Any] = FORM, c: Ctx = ADMIN) -> Response:
    accounts.set_user_active(c.db, c.actor, user_id, form.get("active") == "true")
    c.commit()
    return see_other("/admin/users")


@router.get("/admin/audit")
def audit(patient_id: OptionalRowId = None, c: Ctx = ADMIN) -> HTMLResponse:
    events = records.audit_events(c.db, patient_id=patient_id, limit=300)
    return page(c, "audit.html", {"events": events, "patient_id": patient_id})


@router.get("/admin/protocol")
def protocol_page(c: Ctx = ADMIN) -> HTMLResponse:
    """The site protocol in use: name, version, hash, source, and what it changes."""
    return page(c, "protocol.html", _protocol_context(None))


@router.post("/admin/protocol/reload")
def protocol_reload(c: Ctx = ADMIN) -> HTMLResponse:
    """Read the protocol file again; a different protocol than last recorded is audited."""
    changed = actions.note_protocol(c.db, c.actor)
    c.commit()
    return page(c, "protocol.html", _protocol_context(changed))


def _protocol_context(changed: bool | None) -> dict[str, Any]:
    from benzosafe.knowledge import load
    from benzosafe.knowledge.protocol import protocol_changes, protocol_path, read_protocol

    kb = _kb()
    changes: list[Any] = []
    path = protocol_path()
    if kb.protocol is not None and path is not None:
        protocol, info = read_protocol(path)
        changes = protocol_changes(load(), protocol, info)
    return {"kb": kb, "protocol": kb.protocol, "changes": changes, "changed": changed}
