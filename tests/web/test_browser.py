"""The app in a real browser: headless Debian ``chromium`` driven by Playwright.

Sign in, register a patient, intake to level of care to admission, record a CIWA-B and
doses, see the charts, run a dose check, read the monograph. Screenshots of the main pages
go to ``BENZOSAFE_SCREENSHOTS`` when set (to look at them), else to the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser")
    server = Server(module_database_url, folder, demo=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("BENZOSAFE_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(browser: Browser, server: Server, username: str, password: str) -> Page:
    page = browser.new_page(viewport={"width": 1024, "height": 1366})  # a tablet, portrait
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_clinician_journey(browser: Browser, server: Server, shots: Path) -> None:
    page = sign_in(browser, server, "clinician", "demo-clinician-password")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    page.get_by_label("Search by name or MRN").fill("Demo-")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Demo-").first).to_be_visible()
    page.screenshot(path=shots / "patients.png", full_page=True)

    # Register a patient and take the intake.
    page.get_by_role("navigation").get_by_role("link", name="New intake").click()
    page.get_by_label("MRN").fill("DEMO-BROWSER-1")
    page.get_by_label("Date of birth").fill("1958-04-12")
    page.get_by_label("Family name").fill("Demo-Browser")
    page.get_by_label("Given name").fill("Robin")
    page.get_by_role("button", name="Register patient").click()
    expect(
        page.get_by_role("heading", name="Admissions intake: Demo-Browser, Robin")
    ).to_be_visible()
    page.get_by_label("Daily dose").fill("3 mg/day")
    page.get_by_label("Months of use").fill("36")
    page.get_by_label("Withdrawal seizure history").select_option("no")
    page.get_by_label("Support at home").select_option("yes")
    page.screenshot(path=shots / "intake-form.png", full_page=True)
    page.get_by_role("button", name="Recommend level of care").click()
    expect(page.get_by_text("Recommended level of care")).to_be_visible()
    page.screenshot(path=shots / "intake-recommendation.png", full_page=True)
    page.get_by_role("button", name="Admit").click()
    expect(page.get_by_text("status admitted")).to_be_visible()

    # Build a taper: preview it, then save it.
    page.get_by_role("link", name="Taper builder").click()
    page.get_by_label("Current daily dose").fill("3 mg/day")
    page.get_by_label("How it is taken").fill("1 mg tid")
    page.get_by_label("Start").fill("2026-11-20")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview (not saved)")).to_be_visible()
    expect(page.locator("svg.chart path.planned")).to_have_count(1)
    page.screenshot(path=shots / "taper-preview.png", full_page=True)
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("heading", name="Taper plan 1, version 1")).to_be_visible()

    # Record a CIWA-B: every item answered with its first option above zero or zero.
    page.get_by_role("link", name="CIWA-B").click()
    expect(page.get_by_text("Draft instrument.")).to_be_visible()
    for i, fieldset in enumerate(page.locator("fieldset.item").all()):
        fieldset.locator("input[type=radio]").nth(1 if i % 3 == 0 else 0).check()
    page.screenshot(path=shots / "ciwa-b-form.png", full_page=False)
    page.get_by_role("button", name="Save score").click()
    expect(page.locator("#assessments svg.chart")).to_be_visible()

    # Doses taken, one of them a hold, then the chart shows them.
    for day, dose, note in (("2026-11-20", "3 mg/day", ""), ("2026-11-21", "0 mg/day", "hold"),
                            ("2026-11-22", "2.75 mg/day", "")):  # fmt: skip
        page.get_by_label("Day", exact=True).fill(day)
        page.get_by_label("Daily dose taken").fill(dose)
        page.get_by_label("Note").fill(note)
        page.get_by_role("button", name="Record dose").click()
    expect(page.locator("#doses svg.chart circle.hold")).to_have_count(1)
    expect(page.locator("#doses svg.chart path.planned")).to_have_count(1)
    page.get_by_label("Reason").fill("withdrawal symptoms")
    page.get_by_label("CIWA-B total (recorded, not interpreted)").fill("12")
    page.get_by_role("button", name="Adjust plan").click()
    expect(page.get_by_role("heading", name="Taper plan 1, version 2")).to_be_visible()
    expect(page.locator("#doses svg.chart rect.holdband")).to_have_count(1)
    page.get_by_label("New report").fill("drowsy\nunsteady on feet")
    page.get_by_role("button", name="Triage and save").click()
    expect(page.locator("#side-effects .sev").first).to_be_visible()
    page.screenshot(path=shots / "patient.png", full_page=True)

    # A dose check kept in the record.
    page.get_by_role("main").get_by_role("link", name="Dose check").click()
    page.get_by_label("Dose per administration").fill("1 mg")
    page.get_by_label("Frequency").select_option("tid")
    page.get_by_label("Indication").select_option("seizure-disorder")
    page.get_by_label("Also taking").fill("oxycodone 10 mg qid")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="Report (saved)")).to_be_visible()
    expect(page.get_by_text("concurrent-opioid")).to_be_visible()
    page.screenshot(path=shots / "check.png", full_page=True)

    page.get_by_role("link", name="Monograph").click()
    expect(page.get_by_role("heading", name="Clonazepam")).to_be_visible()
    page.screenshot(path=shots / "monograph.png", full_page=False)
    page.close()


def test_admissions_and_admin_see_only_their_part(
    browser: Browser, server: Server, shots: Path
) -> None:
    page = sign_in(browser, server, "admissions", "demo-admissions-password")
    page.get_by_role("link", name="Demo-").first.click()
    expect(page.get_by_text("Clinical notes are open to clinicians only")).to_be_visible()
    expect(page.get_by_role("link", name="Dose check")).to_have_count(0)
    response = page.goto(page.url + "/check")
    assert response is not None and response.status == 403
    page.close()
    page = sign_in(browser, server, "admin", "demo-admin-password")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="patient.read").first).to_be_visible()
    page.screenshot(path=shots / "audit.png", full_page=False)
    page.close()


def test_sign_in_failure_is_said_plainly(browser: Browser, server: Server, shots: Path) -> None:
    page = sign_in(browser, server, "clinician", "not the password")
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    page.screenshot(path=shots / "sign-in.png")
    page.close()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
