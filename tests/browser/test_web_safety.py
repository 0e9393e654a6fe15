"""Safe by construction and usable by people (issue 10 §8, §9): a hostile corpus of filenames,
messages and authors is shown as text with no script run; the page works with the keyboard
alone and reads on a narrow window."""

import os
import re
import shlex

from playwright.sync_api import Page, expect

from tests.browser.conftest import HOSTILE_AUTHORS, Server, open_page
from tests.browser.harness import upload_as_tooltool
from tests.browser.test_web_pages import unique

# Filenames may hold anything but "/", "\" and control characters, up to 255 characters.
HOSTILE_NAMES = [
    "<img src=x onerror=\"window.__pwned='img'\">",
    "<svg onload=window.__pwned='svg'>.tar.xz",
    "\"'><b onmouseover=window.__pwned='b'>bold",
    "javascript:window.__pwned='href'",
    "\u202egpj.exe",
    "mixed \u200f\u05e2\u05d1\u05e8\u05d9\u05ea name.zip",
    "{{constructor.constructor('window.__pwned=1')()}}",
    "it's $(touch pwned) `id`.sh",
    "L" * 200,
]
HOSTILE_MESSAGES = [
    "</script><script>window.__pwned='script'</script> Bug 123456",
    "<a href=\"javascript:window.__pwned='link'\">click me</a> bug 77",
    "\u202eBug 99 reversed \u200f\u05e9\u05dc\u05d5\u05dd",
    "M" * 4000,
]
# What uploader data may never make of the page: elements, handlers, links elsewhere.
NO_MARKUP_FROM_DATA = """() => {
  const main = document.querySelector('main');
  const made = main.querySelectorAll('img, svg, script, iframe, object, embed, b, form');
  const handlers = [...main.querySelectorAll('*')]
    .filter((el) => [...el.attributes].some((a) => a.name.startsWith('on')));
  const hrefs = [...main.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'));
  const pwned = window.__pwned === undefined ? null : String(window.__pwned);
  return { made: made.length, handlers: handlers.length, hrefs, pwned };
}"""
SAFE_HREF = re.compile(
    r"^(/\?(q|file|batch|view)=[^\"'<>]*|/sha512/[0-9a-f]{128}|https://bugzilla\.mozilla\.org/show_bug\.cgi\?id=\d+)$"
)


def assert_nothing_ran(page: Page) -> None:
    found = page.evaluate(NO_MARKUP_FROM_DATA)
    assert found["pwned"] is None, f"a script from the corpus ran: {found['pwned']}"
    assert found["made"] == 0, "markup from the corpus became elements"
    assert found["handlers"] == 0, "an event handler attribute reached the page"
    unsafe = [href for href in found["hrefs"] if not SAFE_HREF.match(href)]
    assert unsafe == [], f"links to elsewhere: {unsafe}"


def isolated_texts(page: Page, selector: str) -> list[str]:
    """The texts of the elements matching `selector`, each checked to sit in a <bdi> (so that
    right-to-left marks cannot reorder the page around it)."""
    return list(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].map((el) => {
                if (!el.closest('bdi')) throw new Error('not isolated: ' + el.outerHTML.slice(0, 80));
                return el.textContent;
            })""",
            selector,
        )
    )


def test_hostile_corpus_is_shown_as_text_and_runs_nothing(page: Page, server: Server) -> None:
    tag = unique("hostile")
    names = [f"{tag} {name}"[:255] for name in HOSTILE_NAMES]
    batches = []
    for number, token in enumerate(HOSTILE_AUTHORS.values()):
        files = {name: os.urandom(100 + i) + bytes([number]) for i, name in enumerate(names)}
        message = f"{tag} {HOSTILE_MESSAGES[number]}"
        batches.append(upload_as_tooltool(server.url, files, message, bearer=token))
    long_message = f"{tag} {HOSTILE_MESSAGES[3]}"
    upload_as_tooltool(
        server.url, {f"{tag}-long": os.urandom(10)}, long_message, bearer=HOSTILE_AUTHORS[next(iter(HOSTILE_AUTHORS))]
    )

    open_page(page, f"{server.url}/?q={tag}")
    expect(page.locator("#batch-results li.batch")).to_have_count(3)
    shown_names = {text for text in isolated_texts(page, "#file-results td.names bdi")}
    assert shown_names == {*names, f"{tag}-long"}
    messages = isolated_texts(page, "#batch-results .message")
    assert sorted(messages) == sorted([long_message, *(f"{tag} {m}" for m in HOSTILE_MESSAGES[:2])])
    authors = isolated_texts(page, "#batch-results .author bdi")
    assert sorted(set(authors)) == sorted(f"bearer:{author}" for author in HOSTILE_AUTHORS)
    # Bug links are built from the number only.
    bug_links = page.locator("#batch-results a.bug")
    assert sorted(bug_links.all_text_contents()) == ["Bug 123456", "bug 77"]
    for toggle in page.locator("#batch-results button.toggle").all():
        toggle.click()
    shown_in_batches = isolated_texts(page, "#batch-results .batch-files a bdi")
    assert set(shown_in_batches) == {*names, f"{tag}-long"}
    assert_nothing_ran(page)

    for name in names:
        digest = batches[0]["files"][name]["digest"]
        open_page(page, f"{server.url}/?file={digest}")
        expect(page.locator("#file-facts")).to_contain_text(digest)
        assert name in isolated_texts(page, "#file-facts bdi")
        command = page.locator("#curl-command").text_content() or ""
        assert shlex.split(command)[3] == name  # quoted for the shell, whatever the name holds
        page.locator("#file-batches button.toggle").first.click()
        assert_nothing_ran(page)

    open_page(page, f"{server.url}/?batch={batches[1]['id']}")
    assert isolated_texts(page, "#batch .message") == [f"{tag} {HOSTILE_MESSAGES[1]}"]
    assert_nothing_ran(page)


def test_the_page_works_with_the_keyboard_alone(page: Page, server: Server) -> None:
    tag = unique("keys")
    upload_as_tooltool(
        server.url, {f"{tag}.bin": os.urandom(10)}, f"Bug 5: {tag}", bearer=next(iter(HOSTILE_AUTHORS.values()))
    )
    open_page(page, server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "search-input"
    page.keyboard.type(tag)
    page.keyboard.press("Enter")
    expect(page.locator("#file-results tbody tr")).to_have_count(1)
    assert page.evaluate("() => document.activeElement.id") == "view-title"  # focus moves to the results

    for _ in range(30):  # Tab on to the batch's "Show files" button
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('toggle')"):
            break
    else:
        raise AssertionError("the Show files button cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#batch-results button.toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#batch-results ul.batch-files")).to_be_visible()
    page.keyboard.press("Tab")  # the file's link, then Enter opens its page
    page.keyboard.press("Enter")
    expect(page.locator("#file-facts")).to_be_visible()


def test_every_control_has_a_name_for_screen_readers(page: Page, server: Server) -> None:
    for view in ("/", "/?view=sign-in", "/?q=anything"):
        open_page(page, server.url + view)
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                .filter((el) => !el.labels?.length && !el.getAttribute('aria-label') && !el.textContent.trim())
                .map((el) => el.outerHTML)"""
        )
        assert unnamed == [], view


def test_the_page_reads_on_a_narrow_window(page: Page, server: Server) -> None:
    tag = unique("narrow")
    batch = upload_as_tooltool(
        server.url,
        {f"{tag}-{'x' * 200}.tar.xz": os.urandom(10)},
        f"Bug 6: {tag} {'y' * 300}",
        bearer=next(iter(HOSTILE_AUTHORS.values())),
    )
    digest = next(iter(batch["files"].values()))["digest"]
    page.set_viewport_size({"width": 360, "height": 740})
    for view in (f"/?q={tag}", f"/?file={digest}", f"/?batch={batch['id']}", "/?view=sign-in"):
        open_page(page, server.url + view)
        page.wait_for_selector("#view-title")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"{view}: the page is {widths[0]} px wide in a {widths[1]} px window"


def test_errors_are_words_and_loading_ends(page: Page, server: Server) -> None:
    open_page(page, f"{server.url}/?file=not-a-digest")
    expect(page.get_by_role("alert")).to_have_text("Invalid sha512 digest")
    expect(page.locator(".loading")).to_have_count(0)
    open_page(page, f"{server.url}/?file={'0' * 128}")
    expect(page.get_by_role("alert")).to_have_text("The requested file was not found.")
    open_page(page, f"{server.url}/?batch=1")
    expect(page.get_by_role("alert")).to_have_text("The requested upload batch was not found.")
    page.route("**/file/search*", lambda route: route.abort("connectionrefused"))
    open_page(page, f"{server.url}/?q=anything")
    expect(page.get_by_role("alert")).to_contain_text("The server could not be reached")
    expect(page.locator(".loading")).to_have_count(0)
