"""The phone's sign-in form keeps what is typed: every flush of the action queue (at start-up
and every 15 s) routes again, and routing while no one is signed in used to draw the form anew,
wiping a slow typist's username (and, on a loaded machine, a test's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.console.browser.pages import serving
from tests.console.conftest import seeded_database
from tests.console.seed import PASSWORD
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.browser]


@pytest.fixture(scope="module")
def phone_url(stack: LocalStack, schema_template: str, settings: Settings) -> Iterator[str]:
    with seeded_database(stack, schema_template) as dsn, serving(settings, dsn) as url:
        yield f"{url}/m/"


def test_a_flush_or_a_language_switch_keeps_what_was_typed(
    phone_url: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(phone_url)
        page.fill("#u", "gm1")
        page.evaluate("flush()")  # what start-up and the 15 s timer do: it routes again
        assert page.input_value("#u") == "gm1"
        page.fill("#p", PASSWORD)
        page.click("#lang")  # drawn again in English, the typing kept
        page.wait_for_selector("label[for=u]:has-text('Username')")
        assert (page.input_value("#u"), page.input_value("#p")) == ("gm1", PASSWORD)
        page.click("#login button")
        page.wait_for_selector("#login", state="detached")
    finally:
        context.close()
