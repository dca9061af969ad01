"""The Space in a real headless Chromium: load, browse, open a gene, run Try, see the outputs; screenshot.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium``. Without them the test is skipped
locally (with the reason), and fails in CI (``CI=true``), where .ci/run installs them.
Runs once per data source of ``conftest.CASES``. Every screenshot (``space-CASE-browse.png``,
``space-CASE-gene-page.png``, ``space-CASE-try.png``) is saved under the test's tmp dir and its path printed
(``pytest -rP`` shows it); set ``GENEHUB_SCREENSHOTS=DIR`` to also copy them to DIR.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _space import SpaceCase

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
         # containers often mount a 64 MB /dev/shm, too small for Chromium's renderer: use /tmp instead
         "--disable-dev-shm-usage",
         # never slow the page's timers down on a busy machine (Puppeteer's defaults, for the same reason)
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows"]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium==4.51.0)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install -y chromium chromium-driver; package {package})"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"The browser test must run in CI: {reason}.")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


_START = [0.0]


def _phase(what: str) -> None:
    """Print how long the test has run when it reaches ``what`` (pytest shows it when the test fails)."""
    print(f"{time.perf_counter() - _START[0]:6.1f} s  {what}")


def _wait(driver: Any, condition: Any, timeout: float = 120) -> Any:
    """Wait for ``condition``; on a timeout, fail with what the page shows (its message box) and a screenshot."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        shot = Path(os.environ.get("GENEHUB_SCREENSHOTS") or tempfile.gettempdir()) / "space-timeout.png"
        driver.save_screenshot(str(shot))
        where = getattr(getattr(condition, "__code__", None), "co_firstlineno", "?")
        pytest.fail(f"Waited {timeout:.0f} s for the condition on line {where}; the page's message "
                    f"box says {_text(driver, '#message')!r}; screenshot {shot}.")


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, css))


def _screenshot(driver: Any, tmp_path: Path, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under the test's tmp dir (and ``GENEHUB_SCREENSHOTS`` when set); print where.

    ``full_page``: grow the window to the page's height first, so a long page (a gene's) is seen whole.
    """
    size = driver.get_window_size()
    if full_page:
        height = driver.execute_script("return Math.max(document.body.scrollHeight, "
                                       "document.documentElement.scrollHeight)")
        driver.set_window_size(size["width"], min(int(height) + 120, 8000))
        time.sleep(0.5)  # let the page lay itself out at the new size
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if full_page:
        driver.set_window_size(size["width"], size["height"])
    keep = os.environ.get("GENEHUB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    print(f"screenshot: {path}")
    return path


def _value(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(e.get_attribute("value") or "" for e in driver.find_elements(By.CSS_SELECTOR, css))


def _shown(driver: Any, by: str, selector: str) -> Any:
    return next((e for e in driver.find_elements(by, selector) if e.is_displayed()), None)


def test_browse_open_a_gene_page_and_try_in_chromium(browser: Any, tmp_path: Path,
                                                     live_space: tuple[SpaceCase, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    case, url = live_space
    entry = case.data.catalog.get(case.routed)
    _START[0] = time.perf_counter()
    _phase(f"threads alive: {sorted(t.name for t in threading.enumerate())}; Space at {url}")
    browser.get(url)
    _phase("page loaded")
    # Browse: every gene, with its signature status
    # The page opens with the genes listed; its load event (fresh lists, then the first gene's page) must
    # finish before searching, or the list it sends could replace the search's. Chromium compiles first.
    # (the last step of that event puts the first gene's banner in the message box)
    _wait(browser, lambda d: case.routed in _text(d, "#genes") and "Signature:" in _text(d, "#message"), timeout=180)
    _phase("genes listed, first gene page loaded")
    table = _text(browser, "#genes")
    assert all(e.gene_id in table for e in case.data.catalog.entries()) and "verified" in table
    # search narrows the table
    others = [e.gene_id for e in case.data.catalog.entries() if case.routed not in e.gene_id]
    _shown(browser, By.CSS_SELECTOR, "#query textarea, #query input").send_keys(case.routed, Keys.ENTER)
    _wait(browser, lambda d: not any(g in _text(d, "#genes") for g in others))
    _phase("search narrowed the table")
    _screenshot(browser, tmp_path, f"space-{case.name}-browse")
    # open its page by clicking its row
    _wait(browser, lambda d: _shown(d, By.XPATH, f"//*[@id='genes']//*[normalize-space(text())='{case.routed}']")
          ).click()
    name = f"{entry.gene.name} {entry.gene.version}"
    _wait(browser, lambda d: name in _text(d, "#gene-header") and "✓" in _text(d, "#gallery"))
    _phase("gene page opened")
    header = _text(browser, "#gene-header")
    assert entry.gene.summary[:30] in header and all(w in header for w in ("size", "created", "downloads", "Tags"))
    banner = " ".join(_text(browser, "#message").split())
    assert banner.startswith(f"{case.routed} ({name}): Signature: verified.")  # names the gene it describes
    assert "adapter_model.safetensors" in _text(browser, "#files") and entry.gene.version in _text(browser, "#versions")
    assert f"genehub pull {case.routed}@" in _text(browser, "#pull") and "--host" in _text(browser, "#pull")
    assert "PeftModel.from_pretrained" in _text(browser, "#use")
    assert "Signature: verified" in _text(browser, "#card") and browser.find_elements(By.CSS_SELECTOR, "#lineage svg rect")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#homology img, #homology canvas, #homology svg"))
    shot = _screenshot(browser, tmp_path, f"space-{case.name}-gene-page", full_page=True)
    assert shot.stat().st_size > 50_000
    # Try it: the button picks the gene and a host it fits
    browser.find_element(By.CSS_SELECTOR, "#to-try").click()
    prompt = _wait(browser, lambda d: _shown(d, By.CSS_SELECTOR, "#prompt textarea"))
    _wait(browser, lambda d: case.host in _value(d, "#host input"))
    _phase("Try tab shown with a host")
    assert "trains the router" in _text(browser, "#setup-note")
    prompt.send_keys(case.prompt)
    browser.find_element(By.CSS_SELECTOR, "#run").click()
    # The first Try trains the router (seconds, more on a busy machine): a generous wait.
    _wait(browser, lambda d: _value(d, "#composed-out textarea") == case.answer, timeout=180)
    _phase("Try answered")
    base = _value(browser, "#base-out textarea")
    assert base and base != case.answer
    latency = " ".join(_text(browser, "#latency").split())
    assert "Router:" in latency and "ms" in latency and f"Expected: {case.answer}" in latency
    _wait(browser, lambda d: re.search(r"\d+(\.\d+)?%", _text(d, "#router")))  # the router's bars show numbers
    shot = _screenshot(browser, tmp_path, f"space-{case.name}-try")
    assert shot.stat().st_size > 10_000
    # an empty prompt is a readable message, not a stack trace
    prompt = _shown(browser, By.CSS_SELECTOR, "#prompt textarea")
    prompt.send_keys(Keys.CONTROL, "a")
    prompt.send_keys(Keys.BACKSPACE)  # like a visitor (clear() fires no input event for Gradio)
    browser.find_element(By.CSS_SELECTOR, "#run").click()
    _wait(browser, lambda d: "prompt is empty" in _text(d, "#message"))
    _phase("empty prompt refused")
    assert "Traceback" not in browser.page_source
