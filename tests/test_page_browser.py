"""The ask page in a real browser: Debian's headless Chromium, driven by Playwright, against
pytest-django's live server, with scripted answer providers plugged in through settings.RAGSITE_LLM.

Most tests go through the real /query/stream (real PDFs, real ingest and search). A few give the
page a reply the real server cannot be made to send on demand (a connection that drops, an
unreachable server), through Playwright's request interception; they say so."""

import asyncio
import io
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from documents import ingest, services
from documents.models import Document
from documents.search.services import index_rebuild_request
from querying.llm import LLMError, LLMProvider
from tests.pdfs import text_pdf

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("RAGSITE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

PUMP_MANUAL = {
    "pump_manual.pdf": [
        "Installation. Mount the circulation pump on a level surface and connect the inlet first.",
        "Warranty. The pump warranty lasts two years from the date of purchase. Keep the receipt.",
    ],
    "boiler_guide.pdf": [
        "Boiler guide. The boiler pressure should stay between one and two bar when the system is cold.",
    ],
}
QUESTION = "How long does the pump warranty last?"
HOSTILE = '<script>window.__xss="script"</script> <img src=x onerror="window.__xss=\'img\'">'


# ------------------------------------------------------------------ answer providers for the tests

class StreamLog:
    """What the scripted provider's last stream did, as seen from the server side."""

    def __init__(self):
        self.yielded = 0
        self.started = threading.Event()
        self.closed_early = threading.Event()  # the generator was closed before its last token


stream_log = StreamLog()


class ScriptedProvider(LLMProvider):
    """Streams `tokens` (or the words of `text`), `delay` seconds apart, `repeat` times over;
    raises LLMError(`fail_message`) instead of token number `fail_after` when that is set."""

    name = "test:scripted"

    def __init__(self, text="", tokens=None, delay=0.0, repeat=1, fail_after=None, fail_message=""):
        self.tokens = list(tokens) if tokens is not None else re.findall(r"\S+\s*", text)
        self.delay, self.repeat = delay, repeat
        self.fail_after, self.fail_message = fail_after, fail_message

    async def stream(self, prompt, usage):
        stream_log.started.set()
        try:
            for i, token in enumerate(self.tokens * self.repeat):
                if i == self.fail_after:
                    raise LLMError(self.fail_message, retryable=True, code="provider_unavailable")
                if i and self.delay:
                    await asyncio.sleep(self.delay)
                stream_log.yielded += 1
                yield token
        except (GeneratorExit, asyncio.CancelledError):  # closed while it yielded, or while it waited
            stream_log.closed_early.set()
            raise


@pytest.fixture
def use_provider(settings):
    """Point settings.RAGSITE_LLM at ScriptedProvider with these options (the live server runs in
    a thread of this process, so it sees the override)."""
    global stream_log
    stream_log = StreamLog()

    def use(**options):
        settings.RAGSITE_LLM = {"BACKEND": f"{__name__}.ScriptedProvider", "OPTIONS": options}

    return use


# ------------------------------------------------------------------ corpus, browser, page

@pytest.fixture
def make_corpus(live_server):  # live_server brings transactional_db: its thread must see the rows
    def make(files, titles=None):
        documents = {}
        for filename, pages in files.items():
            document = services.document_create(
                file=io.BytesIO(text_pdf(pages)), filename=filename, title=(titles or {}).get(filename, ""),
                enqueue=False,
            )
            outcome = ingest.document_ingest(document_id=document.pk, rebuild_index=False)
            assert outcome.status == "ready", outcome
            document.refresh_from_db()
            documents[filename] = document
        index_rebuild_request(in_process=True)
        return documents

    return make


@pytest.fixture(scope="module", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread, which makes Django refuse
    the tests' own ORM calls (creating documents); they are plain blocking calls all the same.
    Allowed for this module only, so other modules keep Django's guard."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright):
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set RAGSITE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: its absence there is a broken build, not a skip
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Records every change of the answer's state and length, with a timestamp, from the first paint:
# the tests read the history instead of racing the page.
TRACE_SCRIPT = """
window.__trace = [];
new MutationObserver(() => {
  const state = document.getElementById("answer-state");
  const text = document.getElementById("answer-text");
  if (!state || !text || !state.dataset.state || state.dataset.state === "idle") return;
  const entry = {t: performance.now(), state: state.dataset.state, length: text.textContent.length};
  const last = window.__trace[window.__trace.length - 1];
  if (!last || last.state !== entry.state || last.length !== entry.length) window.__trace.push(entry);
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true,
                      attributeFilter: ["data-state"]});
"""


def open_page(browser, live_server, **context_options):
    context = browser.new_context(base_url=live_server.url, **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.problems = []
    page.on("pageerror", lambda exc: page.problems.append(f"script error: {exc}"))
    page.on("dialog", lambda dialog: (page.problems.append(f"dialog opened: {dialog.message}"), dialog.dismiss()))
    page.add_init_script(TRACE_SCRIPT)
    return page


@pytest.fixture
def page(request, browser, live_server):
    failures_before = request.session.testsfailed
    page = open_page(browser, live_server, viewport={"width": 1100, "height": 900})
    yield page
    if request.session.testsfailed > failures_before:  # keep what the page looked like when it failed
        screenshot(page, f"failed-{request.node.name}.png")
    page.context.close()
    assert page.problems == []


def ask(page, question):
    page.goto("/")
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")


def wait_for_state(page, state, timeout=15_000):
    expect(page.locator("#answer-state")).to_have_attribute("data-state", state, timeout=timeout)


def squash(text):
    return " ".join(text.split())


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


# ------------------------------------------------------------------ through the real endpoint

def test_tokens_appear_as_they_arrive_and_the_state_goes_retrieving_answering_done(
    page, make_corpus, use_provider, settings
):
    make_corpus(PUMP_MANUAL)
    answer = "The pump warranty lasts two years from the date of purchase [1]. Keep the receipt [1]."
    use_provider(text=answer, delay=0.12)
    settings.RAGSITE_SSE_HEARTBEAT_SECONDS = 0.05  # heartbeat comments between the tokens

    with page.expect_response("**/query/stream") as response:
        ask(page, QUESTION)
    wait_for_state(page, "done")
    assert b"\n: ping\n" in response.value.body()

    trace = page.evaluate("window.__trace")
    states = [entry["state"] for entry in trace]
    assert sorted(set(states), key=states.index) == ["retrieving", "answering", "done"]
    growing = [entry for entry in trace if entry["state"] == "answering" and entry["length"]]
    # The text grew in many steps before the stream ended, over the time the provider took.
    assert len({entry["length"] for entry in growing}) >= 8
    done_at = next(entry["t"] for entry in trace if entry["state"] == "done")
    assert done_at - growing[0]["t"] > 1000
    assert growing[0]["length"] < len(answer)
    expect(page.locator("#answer-text")).to_have_text(answer)
    expect(page.locator("#answer-mode")).to_have_text("test:scripted")
    expect(page.locator("#answer-text")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#stop-button")).to_be_disabled()


def test_sources_show_title_page_score_highlighted_passage_and_open_the_pdf_at_that_page(
    page, make_corpus, use_provider
):
    documents = make_corpus(PUMP_MANUAL)
    use_provider(text="The pump warranty lasts two years [1].")

    ask(page, QUESTION)
    wait_for_state(page, "done")

    source = page.locator("#source-list > li").filter(has_text="two years").first
    expect(source.locator(".source-title")).to_have_text("pump manual")
    expect(source.locator(".source-page")).to_have_text("page 2")
    expect(source.locator(".source-score")).to_have_text(re.compile(r"^score -?\d+\.\d{3}$"))
    marked = {text.lower() for text in source.locator(".passage mark").all_text_contents()}
    assert {"pump", "warranty"} <= marked
    assert "how" not in marked and "does" not in marked  # question words, not every word

    link = source.get_by_role("link", name=re.compile("Open the PDF at page 2"))
    href = link.get_attribute("href")
    stored = documents["pump_manual.pdf"]
    assert href.endswith(f"{stored.file.url}#page=2")
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    pdf = page.request.get(href.split("#")[0])
    assert pdf.ok and pdf.body() == stored.file.open("rb").read()
    with page.expect_popup() as popup:
        link.click()
    assert popup.value.url.endswith("#page=2")
    popup.value.close()

    # "[1]" in the answer is a link to source 1, and following it puts the focus there.
    citation = page.locator("#answer-text a", has_text="1")
    expect(citation).to_have_attribute("href", "#source-1")
    citation.click()
    expect(page.locator("#source-1")).to_be_focused()
    screenshot(page, "ask-answered.png")


def test_the_default_extractive_mode_answers_with_citations_that_lead_to_the_passage(page, make_corpus, settings):
    make_corpus(PUMP_MANUAL)
    # What a fresh install answers with (set here so an LLM_BACKEND in the environment cannot change it).
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}

    ask(page, QUESTION)
    wait_for_state(page, "done")

    expect(page.locator("#answer-mode")).to_have_text(re.compile(r"^extractive"))
    expect(page.locator("#answer-text")).to_contain_text("two years")
    cited = page.locator("#answer-text .cite a").first.get_attribute("href")
    expect(page.locator(cited)).to_contain_text("The pump warranty lasts two years")


GHOSTSCRIPT = {"color-paper.pdf": [
    "Color management in Ghostscript. Ghostscript switched to ICC[1] based color management in release 9.0, "
    "which PostScript[12] documents rely on. The earlier releases used device colour spaces throughout."
]}


@pytest.mark.parametrize("mode", ["extractive", "llm"])
def test_only_the_answers_own_citations_are_links_not_a_documents_footnote_marks(page, make_corpus, settings,
                                                                                use_provider, mode):
    """Issue: quoting "ICC[1]" and "PostScript[2]" from a paper's footnote marks made them links to
    sources 1 and 2. Only the marks the answerer made are links, in both answer modes."""
    make_corpus(GHOSTSCRIPT)
    if mode == "extractive":
        settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}
    else:
        use_provider(text="It switched to ICC[1] based color management in release 9.0 [1].")

    ask(page, "In which release did Ghostscript switch to ICC based color management?")
    wait_for_state(page, "done")

    expect(page.locator("#answer-text")).to_contain_text("ICC[1] based color management")
    expect(page.locator("#answer-text")).to_contain_text(re.compile(r"\[1\]\.?$"))
    # What each link follows: the answer's own marks come after its text and a space; the paper's
    # footnote marks, glued to "ICC" and "PostScript", stay text.
    before = page.evaluate("""() => Array.from(document.querySelectorAll('#answer-text .cite')).map(
        cite => (cite.previousSibling ? cite.previousSibling.textContent : '').slice(-10))""")
    assert before and all(text.endswith(" ") and "ICC" not in text and "Script" not in text for text in before), before
    assert set(page.locator("#answer-text a").evaluate_all("links => links.map(a => a.getAttribute('href'))")) == {
        "#source-1"}


def test_a_refusal_shows_the_passages_as_the_closest_found_not_as_sources(page, make_corpus, settings):
    make_corpus(PUMP_MANUAL)
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}

    ask(page, "Who painted the Mona Lisa?")
    wait_for_state(page, "done")
    expect(page.locator("#answer-text")).to_have_text(
        "I could not find this in the documents. None of the passages found mentions “Mona Lisa”."
    )
    expect(page.locator("#sources-heading")).to_have_text("Closest passages (none of them answers the question)")

    ask(page, QUESTION)  # an answer after a refusal has sources again
    wait_for_state(page, "done")
    expect(page.locator("#sources-heading")).to_have_text("Sources")


def test_stop_ends_a_slow_stream_and_the_server_closes_the_provider_stream(page, make_corpus, use_provider):
    make_corpus(PUMP_MANUAL)
    use_provider(text="two years of warranty, ", delay=0.1, repeat=200)  # 600 tokens: a minute unless stopped

    ask(page, QUESTION)
    expect(page.locator("#answer-text")).to_contain_text("warranty, two years", timeout=10_000)
    page.get_by_role("button", name="Stop").click()

    wait_for_state(page, "stopped")
    assert stream_log.closed_early.wait(5), "the server never closed the provider's stream"
    assert stream_log.yielded < 100
    shown = page.locator("#answer-text").text_content()
    page.wait_for_timeout(400)
    assert page.locator("#answer-text").text_content() == shown  # nothing more arrives
    expect(page.locator("#answer-notice")).to_have_text("Stopped. The answer above is incomplete.")
    expect(page.locator("#answer-error")).to_be_hidden()
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    expect(page.locator("#question")).to_be_focused()


def test_a_provider_error_mid_stream_shows_its_message_and_the_page_stays_usable(page, make_corpus, use_provider):
    make_corpus(PUMP_MANUAL)
    use_provider(text="The pump warranty lasts two years", fail_after=3,
                 fail_message="The model provider is overloaded; try again in a minute.")

    ask(page, QUESTION)
    wait_for_state(page, "error")

    expect(page.locator("#answer-error")).to_have_text("The model provider is overloaded; try again in a minute.")
    expect(page.locator("#answer-state")).to_have_text("Error")
    expect(page.locator("#answer-text")).to_have_text("The pump warranty ")  # what came before the failure
    assert "{" not in page.locator("#answer-section").inner_text()

    use_provider(text="Two years [1].")
    page.locator("#ask-button").click()
    wait_for_state(page, "done")
    expect(page.locator("#answer-text")).to_have_text("Two years [1].")
    expect(page.locator("#answer-error")).to_be_hidden()


def test_hostile_passages_titles_and_tokens_show_literally_and_run_nothing(page, make_corpus, use_provider):
    make_corpus(
        {"boiler_notes.pdf": [f"Boiler valve notice.\n{HOSTILE}\nThe boiler safety valve opens at three bar."]},
        titles={"boiler_notes.pdf": '<img src=x onerror="window.__xss=\'title\'">Boiler notes'},
    )
    use_provider(tokens=["The valve opens at three bar [1]. ", HOSTILE, " <b>bold?</b>"])

    ask(page, "At what pressure does the boiler safety valve open?")
    wait_for_state(page, "done")

    answer_section = page.locator("#answer-section")
    assert HOSTILE in page.locator("#answer-text").text_content()
    assert squash(HOSTILE) in squash(page.locator(".passage").first.text_content())
    expect(page.locator(".source-title").first).to_have_text('<img src=x onerror="window.__xss=\'title\'">Boiler notes')
    assert answer_section.locator("img, script, b").count() == 0
    assert page.evaluate("window.__xss") is None
    # The document filter lists the same title, escaped by the template.
    expect(page.locator(".doc-list label").first).to_contain_text("<img src=x onerror=")
    assert page.locator(".doc-list img").count() == 0


def test_a_question_the_server_rejects_shows_its_reason_as_a_sentence(page, live_server):
    page.goto("/")
    page.locator("#top-k").fill("50")
    page.locator("#question").fill(QUESTION)
    page.get_by_role("button", name="Ask").click()

    wait_for_state(page, "error")
    expect(page.locator("#answer-error")).to_have_text("Passages: Ensure this value is less than or equal to 20.")
    expect(page.get_by_role("button", name="Ask")).to_be_enabled()
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()


def test_csrf_protection_is_on_and_a_bad_token_gets_a_readable_message(page, make_corpus, use_provider):
    make_corpus(PUMP_MANUAL)
    use_provider(text="Two years [1].")
    page.goto("/")
    page.evaluate("document.querySelector('meta[name=csrf-token]').content = 'x'.repeat(32)")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")

    wait_for_state(page, "error")
    expect(page.locator("#answer-error")).to_contain_text("reload the page and ask again")
    assert not stream_log.started.is_set()

    page.reload()  # a fresh page carries a good token again
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    wait_for_state(page, "done")
    assert stream_log.started.is_set()


def test_the_document_filter_limits_the_sources(page, make_corpus, use_provider):
    make_corpus(PUMP_MANUAL)
    use_provider(text="Here is what the boiler guide says [1].")
    page.goto("/")

    page.locator("#doc-filter summary").click()
    page.get_by_label("boiler guide").check()
    expect(page.locator("#doc-filter-summary")).to_have_text("1 of 2")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    wait_for_state(page, "done")

    titles = page.locator(".source-title").all_text_contents()
    assert titles and set(titles) == {"boiler guide"}


def test_the_collection_picker_narrows_the_question_and_lists_only_what_the_visitor_reads(
    page, make_corpus, use_provider
):
    from documents.models import Collection

    make_corpus(PUMP_MANUAL)
    heating = Collection.objects.create(slug="heating", name="Heating", visibility=Collection.Visibility.PUBLIC)
    Collection.objects.create(slug="hr", name="HR only", visibility=Collection.Visibility.GROUPS)
    Document.objects.filter(title="boiler guide").update(collection=heating)
    use_provider(text="Here is what the passages say [1].")
    page.goto("/")

    options = page.locator("#collections option").all_text_contents()
    assert "Heating" in options and "HR only" not in options  # an anonymous visitor reads no groups' collection
    page.locator("#collections").select_option("heating")
    page.locator("#question").fill(QUESTION)
    page.locator("#question").press("Enter")
    wait_for_state(page, "done")

    titles = page.locator(".source-title").all_text_contents()
    assert titles and set(titles) == {"boiler guide"}


def test_a_long_document_list_can_be_searched_and_cleared(page, live_server):
    for n in range(12):  # rows only: the page lists ready documents, it does not read them
        Document.objects.create(
            title=f"Manual {n:02d}" if n != 7 else "Heat pump handbook", original_filename=f"m{n}.pdf",
            sha256=f"{n:064x}", status=Document.Status.READY, file=f"documents/m{n}.pdf",
        )
    page.goto("/")
    page.locator("#doc-filter summary").click()

    page.get_by_label("Find a document").fill("heat PUMP")
    page.keyboard.press("Enter")  # finding is not asking
    visible = page.locator(".doc-list li:visible")
    expect(visible).to_have_count(1)
    visible.get_by_role("checkbox").check()
    expect(page.locator("#doc-filter-summary")).to_have_text("1 of 12")
    expect(page.locator("#answer-section")).to_be_hidden()

    page.get_by_role("button", name="Clear selection").click()
    expect(page.locator("#doc-filter-summary")).to_have_text("all 12")


def test_phone_sized_screen_and_keyboard_only(browser, live_server, make_corpus, use_provider):
    make_corpus(PUMP_MANUAL)
    use_provider(text="two years, ", delay=0.1, repeat=200)
    page = open_page(browser, live_server, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)
    page.goto("/")

    question = page.locator("#question")
    expect(question).to_be_focused()
    page.keyboard.type("How long")
    page.keyboard.press("Shift+Enter")  # a new line, not a question
    page.keyboard.type("is the pump warranty?")
    assert question.input_value() == "How long\nis the pump warranty?"
    expect(page.locator("#answer-section")).to_be_hidden()

    page.keyboard.press("Enter")
    expect(page.locator("#answer-text")).to_contain_text("two years", timeout=10_000)
    page.keyboard.press("Escape")
    wait_for_state(page, "stopped")
    assert stream_log.closed_early.wait(5)
    expect(question).to_be_focused()

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scrolling"
    box = page.get_by_role("button", name="Ask").bounding_box()
    assert box["height"] >= 40 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "ask-phone.png")
    page.context.close()
    assert page.problems == []


def test_an_empty_question_is_not_sent(page, live_server):
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/query/stream" in request.url else None)
    page.goto("/")
    page.locator("#question").fill("   ")
    page.locator("#question").press("Enter")

    expect(page.locator("#form-message")).to_have_text("Type a question first.")
    expect(page.locator("#question")).to_be_focused()
    assert sent == []


# ------------------------------------------------------------------ replies the real server cannot be made to send

def test_a_stream_that_ends_without_done_says_the_connection_was_lost(page, live_server):
    # Intercepted: a connection that drops mid-answer (a proxy timing out, a server restart).
    body = 'id: 1\ndata: {"meta": {"mode": "extractive", "reranked": false}}\n\nid: 2\ndata: {"token": "The pump "}\n\n'
    page.route("**/query/stream", lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body))

    ask(page, QUESTION)

    wait_for_state(page, "error")
    expect(page.locator("#answer-error")).to_contain_text("connection closed before the answer was finished")
    expect(page.locator("#answer-text")).to_have_text("The pump ")
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()


def test_an_unreachable_server_says_so(page, live_server):
    # Intercepted: the network fails before any reply.
    page.route("**/query/stream", lambda route: route.abort("connectionrefused"))

    ask(page, QUESTION)

    wait_for_state(page, "error")
    expect(page.locator("#answer-error")).to_have_text(
        "Could not reach the server. Check the connection and ask again."
    )


def test_crlf_events_heartbeats_and_unknown_keys_are_read(page, live_server):
    # Intercepted: a server (or proxy) that writes \r\n, comments and fields this page does not know.
    body = (
        ": ping\r\n\r\n"
        'id: 1\r\nevent: message\r\ndata: {"meta": {"mode": "openai:gpt-test", "reranked": true}, "x": 1}\r\n\r\n'
        ": ping\r\n\r\n"
        'id: 2\r\ndata: {"token": "Two years [2]", "logprob": -0.1}\r\n\r\n'
        'id: 3\r\ndata: {"sources": [{"n": 2, "chunk_id": 9, "document_id": 1, "title": "pump manual", "page": 2,'
        ' "text": "The warranty lasts two years.", "score": 0.5, "url": "javascript:alert(1)", "extra": true}]}\r\n\r\n'
        'id: 4\r\ndata: {"done": true, "timings": {}, "usage": {}}\r\n\r\n'
    )
    page.route("**/query/stream", lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body))

    ask(page, QUESTION)

    wait_for_state(page, "done")
    expect(page.locator("#answer-mode")).to_have_text("openai:gpt-test · reranked")
    expect(page.locator("#answer-text")).to_have_text("Two years [2]")
    expect(page.locator("#answer-text a")).to_have_attribute("href", "#source-2")  # cited by its "n"
    expect(page.locator("#source-2 .source-page")).to_have_text("page 2")
    assert page.locator("#source-2 a.pdf-link").count() == 0  # a javascript: URL is not linked


def test_the_parser_reads_events_split_at_any_byte(page, live_server):
    page.goto("/")
    result = page.evaluate(
        """() => {
        const stream = ': ping\\n\\nid: 1\\r\\ndata: {"token": "a\\u00e9"}\\r\\n\\r\\n'
          + 'data: {"token":\\ndata: "b"}\\n\\n' + 'data: not json\\n\\n' + 'id: 3\\rdata: {"done": true}\\r\\r';
        const runs = [];
        for (let cut = 0; cut <= stream.length; cut++) {
          for (let cut2 = cut; cut2 <= stream.length; cut2 += 7) {
            const events = [];
            const parser = window.RagsiteAsk.createSseParser((payload, id) => events.push([payload, id]));
            parser.push(stream.slice(0, cut));
            parser.push(stream.slice(cut, cut2));
            parser.push(stream.slice(cut2));
            parser.end();
            runs.push(JSON.stringify(events));
          }
        }
        return [...new Set(runs)];
        }"""
    )
    assert result == ['[[{"token":"aé"},"1"],[{"token":"b"},"1"],[{"done":true},"3"]]']


def test_the_thread_keeps_earlier_turns_survives_a_reload_and_starts_over(page, make_corpus, settings):
    documents = make_corpus(PUMP_MANUAL)
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}

    ask(page, QUESTION)
    wait_for_state(page, "done")
    expect(page).to_have_url(re.compile(r"\?c=\d+$"))
    first_url = page.url
    expect(page.locator("#answer-search")).to_be_hidden()  # a first question is searched as asked

    # A follow-up that says nothing of the pump: searched with what the conversation is about.
    page.locator("#question").fill("How long does it last?")
    page.locator("#question").press("Enter")
    wait_for_state(page, "done")
    expect(page.locator("#thread .turn")).to_have_count(1)
    expect(page.locator("#thread .turn-question")).to_have_text(QUESTION)
    expect(page.locator("#answer-search")).to_contain_text("warranty")
    expect(page.locator("#answer-text")).to_contain_text("two years")
    assert page.url == first_url  # the same conversation

    # A reload restores the whole thread, each earlier answer with its own sources.
    page.reload()
    expect(page.locator("#thread .turn")).to_have_count(2)
    expect(page.locator("#thread .turn-question").nth(1)).to_have_text("How long does it last?")
    expect(page.locator("#thread .turn .answer-search").nth(1)).to_contain_text("warranty")
    page.locator("#thread .turn-sources summary").first.click()
    cited = page.locator("#thread .turn-answer .cite a").first.get_attribute("href")
    expect(page.locator(cited)).to_contain_text("The pump warranty lasts two years")
    expect(page.locator("#past-conversations-list a")).to_have_count(1)

    # "New conversation" starts over: the next question stands alone, in a conversation of its own.
    page.locator("#new-conversation").click()
    expect(page.locator("#thread")).to_be_hidden()
    assert "c=" not in page.url
    page.locator("#question").fill("What pressure should the boiler have?")
    page.locator("#question").press("Enter")
    wait_for_state(page, "done")
    expect(page.locator("#thread")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"\?c=\d+$"))
    assert page.url != first_url
    expect(page.locator("#past-conversations-list a")).to_have_count(2)

    # Back to the first one from the list; its PDF deleted since, its answers stay, marked so.
    services.document_delete(document=documents["pump_manual.pdf"], in_process=True)
    page.locator("#past-conversations").locator("summary").click()
    page.locator("#past-conversations-list a", has_text=QUESTION).click()
    expect(page).to_have_url(first_url)
    expect(page.locator("#thread .turn")).to_have_count(2)
    expect(page.locator("#thread .turn-answer").first).to_contain_text("two years")
    expect(page.locator("#thread .turn").first.locator(".source-removed").first).to_have_text("document removed")
    assert page.locator("#thread .turn").first.locator(".source.is-removed .pdf-link").count() == 0


# ------------------------------------------------------------------ citations of other formats


def ingest_other(files: dict[str, bytes]) -> dict:
    """Word, HTML, Markdown or text documents, ingested and searchable (tests/documents_other.py)."""
    documents = {}
    for filename, data in files.items():
        document = services.document_create(file=io.BytesIO(data), filename=filename, enqueue=False)
        assert ingest.document_ingest(document_id=document.pk, rebuild_index=False).status == "ready"
        document.refresh_from_db()
        documents[filename] = document
    index_rebuild_request(in_process=True)
    return documents


def open_citation(page, question: str, passage: str, section: str):
    """Ask, check the source holding `passage` names its section, and open its citation: the new tab."""
    ask(page, question)
    wait_for_state(page, "done")
    source = page.locator("#source-list > li").filter(has_text=passage).first
    expect(source.locator(".source-section")).to_have_text(section)
    link = source.get_by_role("link", name=re.compile("Open the document at this section"))
    with page.expect_popup() as popup:
        link.click()
    popup.value.wait_for_load_state()
    return popup.value


def test_a_citation_of_an_html_source_opens_the_sanitised_page_at_its_section_and_runs_nothing(
    page, live_server, use_provider
):
    from tests import documents_other as other

    ingest_other({"tricks.html": other.HOSTILE_HTML})
    use_provider(text="The valve opens at 3 bar [1].")

    opened = open_citation(page, "At what pressure does the valve open?", "3 bar", "§ Tricks › Second part")
    assert opened.url.endswith("#second")
    # The browser went to the cited heading (the :target), and nothing the page carries ran.
    assert opened.evaluate("document.querySelector(':target') && document.querySelector(':target').id") == "second"
    assert opened.evaluate("window.ran === undefined")
    screenshot(opened, "citation-html.png")
    opened.close()


def test_a_citation_of_a_markdown_source_opens_the_text_view_at_the_passage_marked(page, live_server, use_provider):
    from tests import documents_other as other

    ingest_other({"guide.md": other.MARKDOWN})
    use_provider(text="Descale it every month [1].")

    opened = open_citation(page, "How often should I descale the kettle?", "vinegar", "§ Kettle guide › Descaling")
    target = opened.locator(":target")
    expect(target).to_have_count(1)
    assert target.evaluate("element => element.tagName") == "MARK"
    expect(target).to_contain_text("Descale the kettle every month with white vinegar.")
    screenshot(opened, "citation-markdown.png")
    opened.close()
