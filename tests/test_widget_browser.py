"""The chat widget in a real browser: Debian's Chromium driven by Playwright against the app on loopback.

Covered: a streamed answer with source cards, citation links to the document pages, feedback stored in
SQLite, a keyboard-only flow (focus in, focus trap, Escape, focus back), XSS-proof rendering, the partner
profile's theme and sector filter, embedding on another origin, persistence across a reload, friendly errors,
and screenshots (test-output/widget-desktop.png and widget-phone.png).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.conftest import FIXTURE_CORPUS, ROOT, ServerThread, free_port

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
Page = sync_api.Page
Locator = sync_api.Locator
expect = sync_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAUNCHER = "Open de chatassistent"
ANSWER_TIMEOUT = 30_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium (.ci/run does this)")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (own sessionStorage) at desktop size; script errors fail the test."""
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce", locale="nl-NL")
    context.set_default_timeout(15_000)
    new_page = context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield new_page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# ------------------------------------------------------------------------------------------------------
# helpers


def open_widget(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name=LAUNCHER).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.get_by_label("Je vraag")).to_be_focused()


def ask(page: Page, question: str) -> Locator:
    """Type a question, send it with Enter and wait until the answer is complete (feedback shows)."""
    before = page.locator(".olw-msg--assistant").count()
    box = page.get_by_label("Je vraag")
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".olw-msg--assistant").nth(before)
    expect(answer.locator(".olw-feedback")).to_be_visible(timeout=ANSWER_TIMEOUT)
    return answer


def focused(page: Page) -> str:
    """A short description of the focused element: its accessible label, id or tag."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
                 return e.getAttribute('aria-label') || e.id || e.tagName.toLowerCase(); }"""
        )
    )


def stored(page: Page, profile: str = "default") -> dict[str, Any] | None:
    raw = page.evaluate("(key) => sessionStorage.getItem(key)", f"onderwijsloket-widget:{profile}")
    return json.loads(raw) if raw else None


def sse(*events: tuple[str, Any]) -> str:
    """A Server-Sent Events body, with CRLF line ends like sse-starlette."""
    return "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


def mbo_or_untagged_urls() -> set[str]:
    """URLs of the fixture documents a sector=mbo profile may cite: tagged mbo, or without sectors."""
    allowed = set()
    for path in FIXTURE_CORPUS.rglob("*.md"):
        front = yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])
        sectors = front.get("sectors") or []
        if not sectors or "mbo" in sectors:
            allowed.add(front["url"])
    return allowed


# ------------------------------------------------------------------------------------------------------
# tests


def test_streamed_answer_with_source_cards(app_server: ServerThread, page: Page) -> None:
    open_widget(page, app_server.url + "/")
    with page.expect_request("**/v1/chat/stream") as request_info:
        answer = ask(page, "Hoe lang duurt de deeltijdpabo?")
    body = request_info.value.post_data_json
    assert body == {
        "message": "Hoe lang duurt de deeltijdpabo?",
        "conversation_id": None,
        "profile": "default",
        "channel": "widget",
    }
    response = request_info.value.response()
    assert response is not None and response.headers["content-type"].startswith("text/event-stream")

    expect(answer.locator(".olw-bubble")).to_contain_text("4 jaar")
    cards = answer.locator(".olw-source")
    assert cards.count() >= 1
    expect(cards.first.locator(".olw-source-title")).to_have_attribute("target", "_blank")
    expect(cards.first.locator(".olw-source-title")).to_have_attribute("rel", "noopener")
    # every [n] marker points at a source card of this answer
    markers = answer.locator("a.olw-cite")
    assert markers.count() >= 1
    for i in range(markers.count()):
        target = markers.nth(i).get_attribute("href") or ""
        assert re.fullmatch(r"#cite-m\w+-\d+", target), target
        expect(answer.locator(f'[id="{target[1:]}"]')).to_have_count(1)
    expect(answer.get_by_role("link", name=re.compile("Plan een gesprek met een adviseur"))).to_be_visible()
    # the screen reader hears the complete answer once, not every token
    expect(page.locator("[aria-live=polite]")).to_have_text(re.compile(r"^Antwoord ontvangen: .*4 jaar"))
    live = page.locator("[aria-live=polite]").inner_text()
    assert len(live) <= len("Antwoord ontvangen: ") + 201 and "[1]" not in live
    saved = stored(page)
    assert saved and saved["conversationId"] and len(saved["messages"]) == 2


def test_citation_links_lead_to_the_document(app_server: ServerThread, page: Page) -> None:
    open_widget(page, app_server.url + "/")
    answer = ask(page, "Hoe lang duurt de deeltijdpabo?")
    marker = answer.locator("a.olw-cite").first
    card_id = (marker.get_attribute("href") or "")[1:]
    marker.click()
    card = page.locator(f'[id="{card_id}"]')
    expect(card).to_be_focused()
    assert page.evaluate("location.hash") == ""  # the host page's URL is left alone

    title_link = card.locator("a.olw-source-title")
    href = title_link.get_attribute("href") or ""
    assert href.startswith(app_server.url + "/kennisbank/")
    title = card.locator(".olw-source-title").evaluate("e => e.firstChild.textContent")
    with page.context.expect_page() as popup_info:
        title_link.click()
    document = popup_info.value
    document.wait_for_load_state()
    assert document.url == href
    expect(document.locator("h1")).to_have_text(title)
    document.close()


def test_feedback_is_stored(app_server: ServerThread, page: Page, tmp_path: Path) -> None:
    open_widget(page, app_server.url + "/")
    first = ask(page, "Hoe lang duurt de deeltijdpabo?")
    down = first.get_by_role("button", name="Niet nuttig antwoord")
    up = first.get_by_role("button", name="Nuttig antwoord", exact=True)
    expect(down).to_have_attribute("aria-pressed", "false")
    comment_box = first.get_by_label("Wil je nog iets toelichten? (optioneel)")
    expect(comment_box).to_be_hidden()

    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(first.get_by_text("Bedankt voor je feedback")).to_be_visible()
    comment_box.fill("De kosten van de opleiding ontbreken.")
    first.get_by_role("button", name="Verstuur toelichting").click()
    expect(first.get_by_text("Bedankt voor je feedback en je toelichting!")).to_be_visible()
    expect(comment_box).to_be_hidden()

    second = ask(page, "Hoeveel verdient een leraar?")
    second.get_by_role("button", name="Nuttig antwoord", exact=True).click()
    expect(second.get_by_text("Bedankt voor je feedback")).to_be_visible()

    conversation = (stored(page) or {})["conversationId"]
    with sqlite3.connect(tmp_path / "appdata" / "assistant.db") as db:
        rows = db.execute(
            "SELECT conversation_id, message_index, rating, comment FROM feedback ORDER BY id"
        ).fetchall()
    # message_index counts the assistant answers of the conversation from 0; a comment is a second row
    assert rows == [
        (conversation, 0, "down", None),
        (conversation, 0, "down", "De kosten van de opleiding ontbreken."),
        (conversation, 1, "up", None),
    ]
    # the choice survives a reload
    page.reload()
    page.get_by_role("button", name=LAUNCHER).click()
    restored = page.locator(".olw-msg--assistant").first
    expect(restored.get_by_role("button", name="Niet nuttig antwoord")).to_have_attribute(
        "aria-pressed", "true"
    )


def test_keyboard_only(app_server: ServerThread, page: Page) -> None:
    page.goto(app_server.url + "/")
    launcher = page.get_by_role("button", name=LAUNCHER)
    expect(launcher).to_be_visible()
    for _ in range(10):
        page.keyboard.press("Tab")
        if focused(page) == LAUNCHER:
            break
    assert focused(page) == LAUNCHER
    expect(launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(launcher).to_have_attribute("aria-expanded", "true")
    box = page.get_by_label("Je vraag")
    expect(box).to_be_focused()

    # Shift+Enter is a new line, not a send
    page.keyboard.type("regel een")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("regel twee")
    expect(box).to_have_value("regel een\nregel twee")
    expect(page.locator(".olw-msg")).to_have_count(0)
    box.fill("")

    page.keyboard.type("Hoe lang duurt de deeltijdpabo?")
    page.keyboard.press("Enter")
    expect(page.locator(".olw-msg--assistant .olw-feedback")).to_be_visible(timeout=ANSWER_TIMEOUT)
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    # the focus trap: Tab from the last control wraps to the first, Shift+Tab wraps back
    page.keyboard.press("Tab")
    assert focused(page) == "Verstuur"
    page.keyboard.press("Tab")
    assert focused(page) == "Gesprek wissen"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Verstuur"
    inside = "() => document.querySelector('.olw-panel').contains(document.activeElement)"
    for _ in range(25):
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
    for _ in range(25):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(inside)

    # a thumb by keyboard
    page.get_by_role("button", name="Nuttig antwoord", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Bedankt voor je feedback")).to_be_visible()

    # focus is visible, and with prefers-reduced-motion nothing moves
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    expect(page.locator(".olw-panel")).to_have_css("animation-name", "none")

    page.keyboard.press("Escape")
    expect(page.locator(".olw-panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(box).to_be_focused()
    expect(page.locator(".olw-msg--assistant")).to_have_count(1)


XSS_IMG = '<img src=x onerror="window.__xss=1">'


def test_model_output_is_never_html(app_server: ServerThread, page: Page) -> None:
    body = sse(
        ("meta", {"conversation_id": "c0ffee", "language": "nl"}),
        ("delta", {"text": "Kijk: <img src=x one"}),
        ("delta", {"text": 'rror="window.__xss=1"> en **vet** en '}),
        ("delta", {"text": "[klik](javascript:window.__xss=2) <script>window.__xss=3</script> "}),
        (
            "delta",
            {"text": "[goed](/kennisbank/artikelen/pabo-voltijd) [1]\n\n- een\n- <b>twee</b>\n> citaat"},
        ),
        (
            "citations",
            [
                {
                    "n": 1,
                    "doc_id": "x",
                    "collection": "article",
                    "title": '<img src=x onerror="window.__xss=4">',
                    "url": "javascript:window.__xss=5",
                    "section": "<i>sectie</i>",
                    "start": None,
                    "end": None,
                    "snippet": "",
                }
            ],
        ),
        ("referrals", [{"kind": "adviseur", "label": "<b>Adviseur</b>", "url": "javascript:window.__xss=6"}]),
        ("done", {"status": "answered", "reason": None}),
    )
    page.route(
        "**/v1/chat/stream",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    open_widget(page, app_server.url + "/")
    answer = ask(page, "Laat eens wat HTML zien")
    bubble = answer.locator(".olw-bubble")
    expect(bubble).to_contain_text(XSS_IMG)
    expect(bubble).to_contain_text("<script>window.__xss=3</script>")
    expect(bubble).to_contain_text("[klik](javascript:window.__xss=2)")
    expect(bubble.locator("strong")).to_have_text("vet")
    expect(bubble.locator("li")).to_have_text(["een", "<b>twee</b>"])
    expect(bubble.locator("blockquote")).to_have_text("citaat")
    expect(bubble.get_by_role("link", name="goed")).to_have_attribute(
        "href", app_server.url + "/kennisbank/artikelen/pabo-voltijd"
    )
    expect(answer.locator(".olw-source")).to_contain_text(XSS_IMG.replace("=1", "=4"))
    expect(answer.locator(".olw-source a")).to_have_count(0)  # a javascript: source is not a link
    expect(answer.locator(".olw-source")).to_contain_text("<i>sectie</i>")
    expect(answer.locator(".olw-referrals")).to_have_count(0)  # a javascript: referral is dropped
    root = page.locator(".olw-root")
    expect(root.locator("img:not(.olw-logo), script, b, i")).to_have_count(0)
    assert root.evaluate("r => [...r.querySelectorAll('a')].every(a => /^(https?:|#)/.test(a.href))")
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.__xss") == "undefined"

    # renderMarkdown's output, parsed, holds only the known tags and attributes, and only safe links
    inspect = r"""([text]) => {
        const t = document.createElement('template');
        t.innerHTML = window.OnderwijsloketWidget.renderMarkdown(text, 'm1', [1]);
        const tags = new Set(['P', 'BR', 'STRONG', 'EM', 'UL', 'OL', 'LI', 'BLOCKQUOTE', 'A']);
        const attrs = new Set(['href', 'class', 'target', 'rel', 'aria-label']);
        return [...t.content.querySelectorAll('*')].flatMap((e) => [
            ...(tags.has(e.tagName) ? [] : [e.tagName]),
            ...[...e.attributes].filter((a) => !attrs.has(a.name)).map((a) => a.name),
            ...(e.tagName === 'A' && !/^(https?:\/\/|#cite-)/.test(e.getAttribute('href')) ? ['href'] : []),
        ]);
    }"""
    for text in [
        '"><svg onload=alert(1)>',
        "[x](//evil.example/a)",
        "[x](data:text/html,<b>hi</b>)",
        "[x](JaVaScRiPt:alert(1))",
        '[x](https://ok.example/" onmouseover="alert(1))',
        "[<img src=x onerror=alert(1)>](https://ok.example/)",
        "**<img src=x>** *<svg/onload=alert(1)>*",
        "- <iframe src=javascript:alert(1)>\n> <a href='javascript:alert(1)'>x</a>",
        "[1](javascript:alert(1)) [1]",
    ]:
        assert page.evaluate(inspect, [text]) == [], text
    render = "([text]) => window.OnderwijsloketWidget.renderMarkdown(text, 'm1', [1])"
    assert (
        page.evaluate(render, ["[9] [1]"])
        == '<p>[9] <a class="olw-cite" href="#cite-m1-1" aria-label="Bron 1">[1]</a></p>'
    )


def test_partner_profile_theme_and_filter(app_server: ServerThread, page: Page) -> None:
    open_widget(page, app_server.url + "/partner-demo")
    launcher = page.get_by_role("button", name=LAUNCHER)
    expect(launcher).to_have_css("background-color", "rgb(11, 110, 79)")
    expect(page.locator(".olw-header")).to_have_css("background-color", "rgb(11, 110, 79)")
    expect(page.get_by_role("dialog")).to_contain_text("regioloket mbo")
    logo = page.locator("img.olw-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("img => img.complete && img.naturalWidth > 0")

    with page.expect_request("**/v1/chat/stream") as request_info:
        answer = ask(page, "Hoe word ik instructeur in het mbo?")
    assert request_info.value.post_data_json["profile"] == "regio-mbo-demo"
    titles = answer.locator("a.olw-source-title")
    assert titles.count() >= 1
    allowed = mbo_or_untagged_urls()
    for i in range(titles.count()):
        path = urlparse(titles.nth(i).get_attribute("href") or "").path
        assert path in allowed, f"{path} is not an mbo document"
        assert "pabo-voltijd" not in path
    # the podcast card: listen from the cited moment
    listen = answer.get_by_role("link", name=re.compile(r"^luister vanaf 00:45"))
    expect(listen).to_have_attribute("href", app_server.url + "/podcast/testshow/test-aflevering#t=45")


@pytest.fixture
def partner_site(fixture_assistant: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The app plus a partner page on another loopback origin that the regio profile allows."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from assistant.api.app import create_app

    api_port, partner_port = free_port(), free_port()
    api_url, partner_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{partner_port}"
    profiles = yaml.safe_load((ROOT / "profiles.yaml").read_text(encoding="utf-8"))
    profiles["regio-mbo-demo"]["allowed_origins"].append(partner_url)
    (tmp_path / "profiles.yaml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    settings = fixture_assistant.settings.model_copy(
        update={"data_dir": tmp_path / "appdata", "profiles_file": tmp_path / "profiles.yaml"}
    )
    html = (
        '<!doctype html><html lang="nl"><head><title>Partner</title></head><body><h1>Partnersite</h1>'
        f'<script src="{api_url}/widget.js" data-profile="regio-mbo-demo" async></script></body></html>'
    )

    async def partner_page(_request: Any) -> HTMLResponse:
        return HTMLResponse(html)

    partner = Starlette(routes=[Route("/{path:path}", partner_page)])
    api = create_app(settings, assistant=fixture_assistant)
    with ServerThread(api, port=api_port), ServerThread(partner, port=partner_port):
        yield api_url, partner_url


def test_embedded_on_a_partner_site(partner_site: tuple[str, str], page: Page) -> None:
    """Another origin: CSS, profile, chat and feedback all come from the script's own base URL."""
    api_url, partner_url = partner_site
    open_widget(page, partner_url + "/vacatures")
    expect(page.locator("link[data-olw-css]")).to_have_attribute("href", api_url + "/widget.css")
    expect(page.get_by_role("button", name=LAUNCHER)).to_have_css("background-color", "rgb(11, 110, 79)")
    with page.expect_request("**/v1/chat/stream") as request_info:
        answer = ask(page, "Hoe word ik instructeur in het mbo?")
    assert request_info.value.all_headers()["origin"] == partner_url
    href = answer.locator("a.olw-source-title").first.get_attribute("href") or ""
    assert href.startswith(api_url + "/podcast/")  # site-relative URLs belong to the assistant
    answer.get_by_role("button", name="Nuttig antwoord", exact=True).click()
    expect(answer.get_by_text("Bedankt voor je feedback")).to_be_visible()
    own_globals = "Object.keys(window).filter((k) => /olw|onderwijsloket/i.test(k))"
    assert page.evaluate(own_globals) == ["OnderwijsloketWidget"]


def test_reload_keeps_and_clear_empties(app_server: ServerThread, page: Page) -> None:
    open_widget(page, app_server.url + "/")
    ask(page, "Hoe lang duurt de deeltijdpabo?")
    conversation = (stored(page) or {})["conversationId"]
    cards = page.locator(".olw-source").count()

    page.reload()
    page.get_by_role("button", name=LAUNCHER).click()
    expect(page.locator(".olw-msg--user")).to_have_text(["Jij: Hoe lang duurt de deeltijdpabo?"])
    expect(page.locator(".olw-msg--assistant .olw-bubble")).to_contain_text("4 jaar")
    expect(page.locator(".olw-source")).to_have_count(cards)
    expect(page.locator(".olw-referral")).to_have_count(1)

    # a follow-up continues the same conversation
    with page.expect_request("**/v1/chat/stream") as request_info:
        ask(page, "En de verkorte route?")
    assert request_info.value.post_data_json["conversation_id"] == conversation
    expect(page.locator(".olw-msg--assistant")).to_have_count(2)

    page.get_by_role("button", name="Gesprek wissen").click()
    expect(page.locator(".olw-msg")).to_have_count(0)
    expect(page.get_by_label("Je vraag")).to_be_focused()
    assert stored(page) is None
    page.reload()
    page.get_by_role("button", name=LAUNCHER).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator(".olw-msg")).to_have_count(0)


def test_refusals_are_answers_and_errors_are_friendly(app_server: ServerThread, page: Page) -> None:
    open_widget(page, app_server.url + "/")
    refused = ask(page, "Wat voor weer wordt het morgen?")
    expect(refused).to_have_class(re.compile(r"olw-status-(refused|no_answer)"))
    expect(refused).not_to_have_class(re.compile("olw-msg--error"))
    crisis = ask(page, "Ik wil niet meer leven")
    expect(crisis).to_have_class(re.compile("olw-status-crisis"))
    expect(crisis.get_by_role("link", name=re.compile("113"))).to_be_visible()

    page.route("**/v1/chat/stream", lambda route: route.abort("connectionrefused"))
    page.get_by_label("Je vraag").fill("Hallo?")
    page.get_by_label("Je vraag").press("Enter")
    error = page.locator(".olw-msg--error")
    expect(error).to_contain_text("Er is geen verbinding met de assistent")
    expect(page.locator("[aria-live=polite]")).to_contain_text("geen verbinding")

    page.unroute("**/v1/chat/stream")
    page.route(
        "**/v1/chat/stream",
        lambda route: route.fulfill(
            status=200,
            content_type="text/event-stream",
            body=sse(("error", {"error": "internal", "detail": "boom"})),
        ),
    )
    error.get_by_role("button", name="Probeer opnieuw").click()
    expect(page.locator(".olw-msg--error")).to_contain_text("Sorry, er ging iets mis")
    assert "boom" not in page.locator(".olw-root").inner_text()

    page.unroute("**/v1/chat/stream")
    page.route(
        "**/v1/chat/stream",
        lambda route: route.fulfill(
            status=404,
            content_type="application/json",
            body=json.dumps({"error": "unknown_profile", "detail": "profile 'x' does not exist"}),
        ),
    )
    page.locator(".olw-msg--error").get_by_role("button", name="Probeer opnieuw").click()
    expect(page.locator(".olw-msg--error")).to_contain_text("nog niet goed ingesteld")
    saved = stored(page)
    assert saved and all(m["role"] in ("user", "assistant") for m in saved["messages"])  # errors stay out
    page.unroute("**/v1/chat/stream")


def test_a_forgotten_conversation_starts_afresh(app_server: ServerThread, page: Page) -> None:
    """A conversation id the server no longer knows (restart, expiry) is dropped, and the question answered."""
    page.goto(app_server.url + "/")
    page.evaluate(
        "sessionStorage.setItem('onderwijsloket-widget:default', JSON.stringify("
        "{v: 1, conversationId: 'vergeten', messages: [{id: 'm0', role: 'user', text: 'Oude vraag'}]}))"
    )
    open_widget(page, app_server.url + "/")
    expect(page.locator(".olw-msg--user")).to_have_text(["Jij: Oude vraag"])
    answer = ask(page, "Hoe lang duurt de deeltijdpabo?")
    expect(answer).not_to_have_class(re.compile("olw-msg--error"))
    expect(answer.locator(".olw-bubble")).to_contain_text("4 jaar")
    assert (stored(page) or {})["conversationId"] not in (None, "vergeten")


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots(
    app_server: ServerThread, browser: Browser, output_dir: Path, name: str, viewport: dict[str, int]
) -> None:
    context = browser.new_context(
        viewport=viewport, reduced_motion="reduce", is_mobile=name == "phone", has_touch=name == "phone"
    )
    try:
        page = context.new_page()
        open_widget(page, app_server.url + "/")
        ask(page, "Hoe lang duurt de deeltijdpabo?")
        page.wait_for_timeout(150)
        box = page.locator(".olw-panel").bounding_box()
        assert box is not None
        if name == "phone":
            assert box["x"] == 0 and box["width"] == viewport["width"]
            assert box["height"] == viewport["height"]
        else:
            assert box["x"] + box["width"] <= viewport["width"] and box["y"] >= 0
        no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_sideways_scroll)
        page.screenshot(path=str(output_dir / f"widget-{name}.png"))
    finally:
        context.close()
