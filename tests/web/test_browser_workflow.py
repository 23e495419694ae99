"""The clinic's taper workflow in a real browser (#18, #20): headless Debian ``chromium``.

One demo server for the module, run with the example site protocol (``BENZOSAFE_PROTOCOL``).
Each flow is seen at 1280 px (a desktop) and 768 px (a tablet, portrait), and screenshots of
both go to ``BENZOSAFE_SCREENSHOTS`` when set (to look at them), else to the test's tmp dir:
the taper chart and its legend, the taper builder prefilled from the last recorded dose and
warning on a mismatch, one product per administration, sources linked to the page's
reference list, identical findings merged, the patient list's search and paging, and the
admin page's site protocol, and a new taper plan ending the active one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "example-clinic.toml"
WIDTHS = (1280, 768)

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("workflow")
    env = {"BENZOSAFE_PROTOCOL": str(PROTOCOL)}
    server = Server(module_database_url, folder, demo=True, env=env)
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


def signed_in(browser: Browser, server: Server, username: str, width: int = 1280) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"demo-{username}-password")
    page.get_by_role("button", name="Sign in").click()
    return page


def at_widths(page: Page, shots: Path, name: str, *, full_page: bool = True) -> None:
    """Screenshots of the page at each width; the page ends at its first width."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.screenshot(path=shots / f"{name}-{width}.png", full_page=full_page)
    page.set_viewport_size({"width": WIDTHS[0], "height": 1000})


def first_demo_patient(page: Page, server: Server) -> str:
    """The page of the first demo patient (admitted, with recorded doses and a hold)."""
    page.goto(f"{server.url}/patients?q=DEMO-000001")
    page.get_by_role("link", name="Demo-").first.click()
    return page.url


def test_taper_chart_has_a_legend_and_reads_on_a_tablet(
    browser: Browser, server: Server, shots: Path
) -> None:
    page = signed_in(browser, server, "clinician")
    first_demo_patient(page, server)
    legend = page.locator("#doses ul.legend")
    expect(legend).to_contain_text("Dose recorded")
    expect(legend).to_contain_text("Hold recorded")
    expect(page.locator("#doses svg.chart circle.hold")).to_have_count(1)
    page.set_viewport_size({"width": 768, "height": 1000})
    # the chart fills the tablet's width and its text is drawn at a readable size
    box = page.locator("#doses svg.chart").bounding_box()
    assert box is not None and box["width"] >= 600
    tick = page.locator("#doses svg.chart text.tick").first.bounding_box()
    assert tick is not None and tick["height"] >= 13
    page.locator("#doses").screenshot(path=shots / "chart-768.png")
    at_widths(page, shots, "patient-chart")
    page.close()


def test_patient_list_searches_and_pages(browser: Browser, server: Server, shots: Path) -> None:
    page = signed_in(browser, server, "clinician")
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    expect(page.locator("#patients-caption")).to_have_text("Patients 1 to 50 of 60")
    at_widths(page, shots, "patients-page-1", full_page=False)
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#patients-caption")).to_have_text("Patients 51 to 60 of 60")
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    at_widths(page, shots, "patients-page-2")
    page.get_by_label("Search by name or MRN").fill("demo-000007")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#patients-caption")).to_contain_text("Patients 1 to 1 of 1")
    expect(page.get_by_role("cell", name="DEMO-000007")).to_be_visible()
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.close()


def test_taper_builder_prefills_and_warns(browser: Browser, server: Server, shots: Path) -> None:
    page = signed_in(browser, server, "clinician")
    first_demo_patient(page, server)
    page.get_by_role("link", name="Taper builder").click()
    # the last dose recorded as taken (the demo's 10% cut from 1 mg/day), the protocol's pace
    expect(page.get_by_label("Current daily dose")).to_have_value("0.9 mg/day")
    expect(page.get_by_label("Reduce by percent of the current dose")).to_have_value("5%")
    page.get_by_label("Current daily dose").fill("2 mg/day")
    page.get_by_label("How it is taken").fill("1 mg bid")
    page.get_by_label("Forms (mg)").fill("tablet:0.5 odt:0.125")
    page.get_by_role("button", name="Save plan").click()
    warning = page.locator("#dose-warning")
    expect(warning).to_contain_text("differs from the last dose recorded as taken, 0.9 mg/day")
    expect(warning).to_contain_text("The plan was not saved")
    expect(page.locator("svg.chart path.planned")).to_have_count(1)
    # one product per time where the forms allow; where not, the step says why
    expect(page.get_by_text("morning: 0.875 mg takes 2 products in 3 pieces").first).to_be_visible()
    expect(page.locator(".provenance")).to_contain_text("site protocol Example Clinic")
    at_widths(page, shots, "taper-warning")
    page.get_by_label("The starting dose is right").check()
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("heading", name="Taper plan 1, version 1")).to_be_visible()
    expect(page.locator("#doses ul.legend")).to_contain_text("Plan (daily dose)")
    page.locator("#doses").screenshot(path=shots / "chart-with-plan.png")
    page.close()


def test_findings_merged_and_sources_linked(browser: Browser, server: Server, shots: Path) -> None:
    page = signed_in(browser, server, "clinician")
    page.get_by_role("link", name="Dose check").click()
    page.get_by_label("Dose per administration").fill("0.5 mg")
    page.get_by_label("Frequency").select_option("bid")
    page.get_by_label("Indication").select_option("panic-disorder")
    page.get_by_label("Age (years)").fill("80")
    page.get_by_role("button", name="Check").click()
    above = page.get_by_text("is above the 0.5 mg/day recommended initial dose")
    expect(above).to_have_count(1)
    expect(page.get_by_text("2 rules agree")).to_be_visible()
    at_widths(page, shots, "check-merged")
    page.locator('a.tag[href="#ref-L2"]').first.click()
    assert page.url.endswith("#ref-L2")
    expect(page.locator("#ref-L2")).to_be_in_viewport()
    expect(page.locator("#ref-L2")).to_contain_text("[L2]")
    page.set_viewport_size({"width": 768, "height": 1000})
    page.locator("#references").screenshot(path=shots / "references-768.png")
    page.close()


def test_admin_sees_the_site_protocol(browser: Browser, server: Server, shots: Path) -> None:
    page = signed_in(browser, server, "admin")
    page.get_by_role("link", name="Protocol").click()
    expect(page.locator("#protocol-name")).to_have_text("Example Clinic benzodiazepine protocol")
    expect(page.locator("#protocol-changes")).to_contain_text("va-dod")
    at_widths(page, shots, "admin-protocol")
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="protocol.active")).to_have_count(1)
    page.close()
    # a result names the protocol beside the knowledge version
    page = signed_in(browser, server, "clinician")
    page.get_by_role("link", name="Dose check").click()
    page.get_by_label("Dose per administration").fill("0.5 mg")
    page.get_by_label("Age (years)").fill("40")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".provenance")).to_contain_text(
        "site protocol Example Clinic benzodiazepine protocol, version 2026-12"
    )
    page.close()


def _save_plan(page: Page, daily: str, split: str) -> None:
    """Fill the builder and save, confirming the dose when it differs from the record."""
    page.get_by_label("Current daily dose").fill(daily)
    page.get_by_label("How it is taken").fill(split)
    page.get_by_label("Forms (mg)").fill("tablet:0.5 odt:0.125")
    page.get_by_role("button", name="Save plan").click()
    if page.locator("#dose-warning").count():
        page.get_by_label("The starting dose is right").check()
        page.get_by_role("button", name="Save plan").click()


def test_a_new_plan_ends_the_active_one(browser: Browser, server: Server, shots: Path) -> None:
    page = signed_in(browser, server, "clinician")
    page.goto(f"{server.url}/patients?q=DEMO-000003")
    page.get_by_role("link", name="Demo-").first.click()
    patient = page.url
    page.get_by_role("link", name="Taper builder").click()
    expect(page.locator("#replaces-note")).to_have_count(0)
    _save_plan(page, "1 mg/day", "0.5 mg bid")
    heading = page.locator("#taper-h")
    expect(heading).to_contain_text(", version 1")
    first = heading.inner_text().split()[2].rstrip(",")
    page.get_by_role("link", name="Taper builder").click()
    note = page.locator("#replaces-note")
    expect(note).to_contain_text(f"Taper plan {first} (version 1")
    expect(note).to_contain_text("Saving this plan ends it")
    at_widths(page, shots, "taper-replaces")
    _save_plan(page, "1 mg/day", "0.5 mg bid")
    expect(heading).not_to_contain_text(f"Taper plan {first},")
    second = heading.inner_text().split()[2].rstrip(",")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text(f"Taper plan {first} ended: replaced by plan {second} on ")
    page.locator("#earlier-plans summary").click()
    expect(page.locator("#earlier-plans")).to_contain_text(f"Plan {first}, version 2: ended")
    assert page.url.split("#")[0] == patient
    at_widths(page, shots, "taper-replaced")
    page.close()
