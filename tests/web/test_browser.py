"""The web interface in a real headless Chromium (Debian's /usr/bin/chromium via playwright).

Logs in, visits every page (a screenshot of each goes to test-artifacts/screenshots/), bars and
reactivates a participant, retries a failed delivery, imports a CSV through the preview, and
sees a TestMessage's answer appear. Install the browser with bin/install-browser.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone

from registry.models import CongestionPoint, CsvImport, Membership, Message, Participant
from tests.web import builders
from tests.web.conftest import PASSWORD

# playwright's sync API runs an event loop in this thread; Django's ORM must still be usable here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# How long a wait may take before it counts as a hang; not a speed claim (timings go in bench/).
# 15 s was too little on a loaded 2-core machine where the other xdist worker also runs: Swagger UI
# parsing its 1.5 MB bundle and drawing the whole API timed out there once in five runs.
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (bin/install-browser)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, staff_user):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    # Every Content-Security-Policy violation fails the test: reported by the page itself and
    # by Chromium's console ("Refused to apply inline style ...").
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (event) {"
        " console.error('CSP violation: ' + event.violatedDirective + ' ' + event.blockedURI); });"
    )
    violations = []
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if message.type == "error"
            and ("CSP violation" in message.text or "Content Security Policy" in message.text)
            else None
        ),
    )
    # Bar, reactivate and apply ask for confirmation first.
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/login/")
    page.fill("input[name=username]", staff_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    yield page
    context.close()
    assert violations == [], violations


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # From the top: a scrolled page would draw the sticky header in the middle of a full-page shot.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def visit(page, path: str, name: str, *, heading: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    assert heading in page.inner_text("h1"), f"{path}: heading {page.inner_text('h1')!r}"
    shot(page, name)


def test_every_page(page, example):
    cp = CongestionPoint.objects.get(entity_address=builders.CP1)
    visit(page, "/", "01-dashboard", heading="Dashboard")
    assert page.inner_text("[data-count=participants]") == "4"
    assert page.inner_text("[data-count=congestion-points]") == "2"
    assert page.locator("svg.chart rect").count() > 0
    assert page.inner_text("[data-cro-public-key]").startswith("cs1.")

    visit(page, "/participants/", "02-participants", heading="Participants")
    assert page.locator("tbody tr").count() == 4
    visit(page, f"/participants/{example.dso1.pk}/", "03-participant-detail", heading=example.dso1.domain)
    visit(page, "/participants/add/", "04-participant-add", heading="Add participant")
    visit(page, f"/participants/{example.dso1.pk}/edit/", "05-participant-edit", heading="Edit")
    visit(page, f"/participants/{example.dso1.pk}/rotate-key/", "06-participant-rotate-key", heading="Rotate")

    visit(page, "/registry/", "07-registry", heading="Registry")
    assert page.locator("tbody tr").count() == 2
    page.select_option("select[name=agr]", str(example.agr_b.pk))
    page.fill("input[name=day]", "2024-07-15")
    page.click("text=Filter")
    page.wait_for_url(re.compile(r"agr="))
    assert page.locator("tbody tr").count() == 1
    page.click("table summary")  # the row's connections (the filter form has a "Columns" summary too)
    assert "ean.100000000003" in page.inner_text("table")
    shot(page, "08-registry-filtered")
    with page.expect_download() as download:
        page.click("[data-export]")
    exported = Path(download.value.path()).read_text()
    # No DSO chosen: the first column names the owner.
    assert exported.splitlines()[1].startswith(
        f"{builders.DSO1},{builders.CP1},2024-01-01,,true,DSO,AGR,ean.100000000003"
    )
    assert len(exported.splitlines()) == 2

    visit(page, f"/registry/congestion-points/{cp.pk}/", "09-congestion-point-timeline", heading=builders.CP1)
    assert page.locator("svg.chart rect.segment").count() >= 4
    visit(
        page,
        f"/registry/agr-portfolio/?agr={example.agr_a.pk}&day=2024-06-15",
        "10-agr-portfolio",
        heading="AGR portfolio",
    )
    assert page.locator("tbody tr").count() == 4
    visit(page, "/registry/history/?address=ean.100000000002", "11-entity-history", heading="History")
    page.click("tbody a:has-text('AGRPortfolioUpdate')")
    page.wait_for_url(re.compile(r"/messages/\d+/$"))
    assert "AGRPortfolioUpdate" in page.inner_text("h1")

    visit(page, "/messages/", "12-messages", heading="Messages")
    page.select_option("select[name=message_type]", "DSOPortfolioUpdate")
    page.click("text=Filter")
    page.wait_for_url(re.compile(r"message_type=DSOPortfolioUpdate"))
    assert page.locator("tbody tr").count() == 2
    visit(page, f"/messages/{example.update_dso1.pk}/", "13-message-detail", heading="DSOPortfolioUpdate")
    assert page.get_attribute("[data-signature]", "data-signature") == "valid"
    assert "<CongestionPoint" in page.inner_text("[data-xml]")
    visit(
        page,
        f"/messages/conversations/{example.update_dso1.conversation_id}/",
        "14-conversation",
        heading="Conversation",
    )
    assert page.locator("section.card").count() == 2
    visit(page, "/failed-deliveries/", "15-failed-deliveries", heading="Failed deliveries")
    visit(page, "/import/", "16-import-export", heading="Import")


def test_bar_and_reactivate(page, example):
    page.goto(f"/participants/{example.agr_a.pk}/")
    page.fill("input[name=reason]", "keys leaked")
    page.click("button:has-text('Bar')")
    page.wait_for_selector(".flash li.warning")
    assert page.inner_text("[data-status]") == "Barred"
    shot(page, "20-participant-barred")
    assert Participant.objects.get(pk=example.agr_a.pk).status == "barred"

    page.click("button:has-text('Reactivate')")
    page.wait_for_selector(".flash li.success")
    assert page.inner_text("[data-status]") == "Active"
    assert Participant.objects.get(pk=example.agr_a.pk).status == "active"


def test_retry_failed_delivery(page, example):
    page.goto("/failed-deliveries/")
    assert page.locator("tbody tr").count() == 1
    page.click(f"[data-retry='{example.failed.pk}']")
    page.wait_for_selector(".flash li.success")
    shot(page, "21-failed-delivery-retried")
    assert "queued again" in page.inner_text(".flash")
    assert page.locator("tbody tr").count() == 0
    example.failed.refresh_from_db()
    assert example.failed.status == Message.Status.RESPONSE_QUEUED


CSV_GOOD = """congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,intraday_redispatch_by,connection,connection_start,connection_end
ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,
ean.000000000001,2024-01-01,,true,DSO,AGR,ean.100000000003,2024-07-01,
ean.000000000005,2025-01-01,,false,DSO,,ean.100000000050,2025-01-01,2025-12-31
"""
CSV_CONFLICT = """congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,intraday_redispatch_by,connection,connection_start,connection_end
ean.000000000002,2024-01-01,,true,DSO,AGR,ean.100000000060,2024-01-01,
ean.000000000006,2024-01-01,,true,DSO,AGR,ean.100000000004,2024-06-01,
"""


def _upload(page, dso: Participant, text: str, name: str) -> None:
    page.goto("/import/")
    page.select_option("select[name=dso]", str(dso.pk))
    page.set_input_files(
        "input[name=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.click("button:has-text('Upload and preview')")
    page.wait_for_url(re.compile(r"/import/\d+/$"))


def test_csv_import_through_the_preview(page, example, inline_csv_import):
    # A CSV the rules reject: the preview lists every rejection and offers no apply.
    _upload(page, example.dso1, CSV_CONFLICT, "conflict.csv")
    shot(page, "22-import-preview-rejected")
    rejections = page.inner_text("[data-rejections]")
    assert "Unauthorized: congestion point [ean.000000000002] is owned by another DSO" in rejections
    assert "Connection conflict: [ean.100000000004] at [ean.000000000002]" in rejections
    assert page.locator("[data-apply]").count() == 0

    # A good one: the preview lists the changes, nothing changes until it is applied.
    _upload(page, example.dso1, CSV_GOOD, "good.csv")
    shot(page, "23-import-preview")
    changes = page.inner_text("[data-changes]")
    assert "ean.100000000002" in changes and "removed" in changes
    assert "ean.000000000005" in page.inner_text("[data-diff=new]")
    assert not CongestionPoint.objects.filter(entity_address="ean.000000000005").exists()

    page.click("[data-apply]")
    page.wait_for_selector("[data-status=applied]")
    shot(page, "24-import-applied")
    job = CsvImport.objects.latest("pk")
    assert job.status == CsvImport.Status.APPLIED and job.finished_at <= timezone.now()
    current = set(
        Membership.objects.current()
        .filter(congestion_point__dso=example.dso1)
        .values_list("connection_address", flat=True)
    )
    assert current == {"ean.100000000001", "ean.100000000003", "ean.100000000050"}
    assert Membership.objects.current().filter(source="csv").count() == 1


def test_import_progress_page_follows_the_worker(page, example):
    """Queued for a worker: the page shows the progress and reloads itself when the apply is done."""
    from registry.services import csv_io

    _upload(
        page,
        example.dso2,
        CSV_CONFLICT.splitlines()[0] + "\nean.000000000002,2024-03-01,2024-12-31,false,AGR,,,,\n",
        "x.csv",
    )
    page.click("[data-apply]")
    page.wait_for_selector("[data-progress-url]")
    assert page.inner_text("[data-phase]") == "queued: waiting for a worker"
    shot(page, "26-import-progress")
    job = CsvImport.objects.latest("pk")
    assert job.status == CsvImport.Status.QUEUED
    csv_io.csv_import_apply(csv_import_pk=job.pk)  # what the Celery worker does
    page.wait_for_selector("[data-status=applied]")
    assert page.locator("[data-progress-url]").count() == 0


def test_small_screens(browser, live_server, staff_user, example):
    """The layout on a phone: navigation wraps, tables scroll inside their cards."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", staff_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    for path, name in (
        ("/", "30-mobile-dashboard"),
        ("/registry/", "31-mobile-registry"),
        ("/messages/", "32-mobile-messages"),
    ):
        page.goto(path)
        # Nothing sticks out of the viewport sideways: wide tables scroll inside their wrapper.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        shot(page, name)
    context.close()


def test_test_message_answer_appears(page, example):
    from registry.uftp import messages as m

    page.goto(f"/participants/{example.dso2.pk}/")
    page.click("button:has-text('Send TestMessage')")
    page.wait_for_selector("#test-messages [data-pending]")
    assert "waiting for the answer" in page.inner_text("#test-messages")
    sent = Message.objects.get(direction="out", message_type="TestMessage", participant=example.dso2)
    # The participant answers: the CRO records the TestMessageResponse against its TestMessage.
    reply = m.TestMessageResponse(
        version=sent.version,
        sender_domain=example.dso2.domain,
        recipient_domain=sent.sender_domain,
        time_stamp=timezone.now(),
        message_id="5d0f3f5c-0000-4000-8000-000000000001",
        conversation_id=sent.conversation_id,
    )
    builders.receive_and_process(reply, role="DSO", private_key=example.keys[example.dso2.domain])
    # The page polls the table and shows the answer without a reload.
    page.wait_for_selector("#test-messages [data-answer] a:has-text('TestMessageResponse')")
    shot(page, "25-test-message-answered")
    assert page.locator("#test-messages [data-pending]").count() == 0


def test_non_staff_cannot_log_in(browser, live_server, plain_user):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/participants/")
    page.wait_for_url(re.compile(r"/login/\?next="))
    page.fill("input[name=username]", plain_user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".form-errors")
    assert "staff account" in page.inner_text(".form-errors")
    shot(page, "00-login-refused")
    context.close()
