"""The built website in a real browser (Debian's Chromium driven by Playwright), like a reader uses it."""
import functools
import http.server
import threading
from pathlib import Path

import pytest

from tests import CHROMIUM, SCREENSHOTS, chromium_page, source_of, toc_entries
from tests.book.test_site import colab_url

pytestmark = [pytest.mark.site,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/install installs it)")]


@pytest.fixture(scope="module")
def base_url(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def page(base_url):
    with chromium_page() as page:
        yield page


def first_chapter() -> dict:
    return next(e for e in toc_entries() if e["part"] == "Chapters")


def test_navigate_from_home_to_a_chapter_with_its_colab_link(page, base_url):
    chapter = first_chapter()
    page.goto(f"{base_url}/index.html")
    link = page.locator(f"nav.bd-links a[href$='{Path(chapter['file']).name}.html']").first
    title = link.inner_text()
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(chapter["file"] + ".html"), f"clicking '{title}' led to {page.url}"
    assert page.locator("h1").first.inner_text().strip(), "the chapter page has no title"
    page.screenshot(path=SCREENSHOTS / "chapter.png", full_page=False)
    colab = page.locator("a[href^='https://colab.research.google.com']")
    assert colab.count() == 1, "the chapter page should have exactly one Colab launch link"
    assert colab.get_attribute("href") == colab_url(source_of(chapter["file"]))


def test_the_one_search_box_finds_gradienttape(page, base_url):
    page.goto(f"{base_url}/{first_chapter()['file']}.html")
    boxes = page.locator(".search-button-field")
    visible = [boxes.nth(i) for i in range(boxes.count()) if boxes.nth(i).is_visible()]
    assert len(visible) == 1, f"a reader should see one search box, not {len(visible)}"
    visible[0].click()
    page.keyboard.type("GradientTape")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search.html?q=GradientTape*")
    results = page.locator("#search-results ul.search li a")
    results.first.wait_for(timeout=15000)
    hits = [results.nth(i).get_attribute("href") for i in range(results.count())]
    page.screenshot(path=SCREENSHOTS / "search.png", full_page=False)
    chapters = [h for h in hits if "/book/0" in "/" + h and "00-how-to-use" not in h]
    assert chapters, f"searching GradientTape found no chapter, only {hits}"


def test_korean_glossary_renders_with_a_korean_font(page, base_url):
    glossary = next((e for e in toc_entries() if "glossary" in e["file"]), None)
    if glossary is None:
        pytest.skip("no glossary page in _toc.yml")
    page.goto(f"{base_url}/{glossary['file']}.html")
    found = page.evaluate("""() => {
        const cell = [...document.querySelectorAll('td, p')].find(e => /[\\uac00-\\ud7a3]/.test(e.textContent));
        if (cell) cell.setAttribute('data-korean', '');
        return cell ? cell.textContent : null;
    }""")
    assert found, "the glossary page shows no Korean text"
    page.screenshot(path=SCREENSHOTS / "glossary.png", full_page=False)
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-korean]"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    families = [font["familyName"] for font in fonts]
    assert any(k in name for name in families for k in ("CJK", "KR", "Korean", "Nanum")), (
        f"Korean text '{found[:20]}' is drawn with {families}: install a Korean font (fonts-noto-cjk)")
