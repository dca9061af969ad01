"""The Space in a real headless Chromium: load, browse, open a gene, run Try, see the outputs; screenshot.

Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium``. Without them the test is skipped
locally (with the reason), and fails in CI (``CI=true``), where .ci/run installs them.
Set ``GENEHUB_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _space import gene_shelf, launch_space

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


def _screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("GENEHUB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def _value(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return " ".join(e.get_attribute("value") or "" for e in driver.find_elements(By.CSS_SELECTOR, css))


def _shown(driver: Any, by: str, selector: str) -> Any:
    return next((e for e in driver.find_elements(by, selector) if e.is_displayed()), None)


def test_browse_inspect_and_try_in_chromium(browser: Any, tmp_path: Path, tmp_path_factory, tiny_zoo) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _START[0] = time.perf_counter()
    _phase(f"threads alive: {sorted(t.name for t in threading.enumerate())}")
    demo, url, _ = launch_space(tmp_path / "space", gene_shelf(tmp_path_factory, tiny_zoo))
    _phase(f"Space launched at {url}")
    try:
        browser.get(url)
        _phase("page loaded")
        # Browse: every gene, with its signature status
        # The first event lists and verifies the registry's genes; Chromium compiles Gradio's scripts first.
        _wait(browser, lambda d: "zoo/tampered-sort" in _text(d, "#genes"), timeout=180)
        _phase("genes listed")
        table = _text(browser, "#genes")
        assert all(word in table for word in ("zoo/sort-gene", "verified", "untrusted", "invalid"))
        # search narrows the table
        _shown(browser, By.CSS_SELECTOR, "#query textarea, #query input").send_keys("upper", Keys.ENTER)
        _wait(browser, lambda d: "zoo/sort-gene" not in _text(d, "#genes") and "zoo/upper-gene" in _text(d, "#genes"))
        _phase("search narrowed the table")
        _screenshot(browser, tmp_path, "space-browse")
        # open a gene by clicking its row
        _wait(browser, lambda d: _shown(d, By.XPATH, "//*[@id='genes']//*[normalize-space(text())='zoo/upper-gene']")
              ).click()
        _wait(browser, lambda d: "upper-gene 0.1.0" in _text(d, "#card"))
        _phase("gene opened")
        assert "Signature: verified" in _text(browser, "#card")
        assert browser.find_elements(By.CSS_SELECTOR, "#lineage svg rect")
        assert "genehub pull zoo/upper-gene@" in _text(browser, "#pull")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#homology img, #homology canvas, #homology svg"))
        _screenshot(browser, tmp_path, "space-inspect")
        # Try it: the button picks the gene and a fitting host
        browser.find_element(By.CSS_SELECTOR, "#to-try").click()
        prompt = _wait(browser, lambda d: _shown(d, By.CSS_SELECTOR, "#prompt textarea"))
        _wait(browser, lambda d: "genehub-zoo/tiny-host" in _value(d, "#host input"))
        _phase("Try tab shown with a host")
        prompt.send_keys("upper xyz:")
        browser.find_element(By.CSS_SELECTOR, "#run").click()
        # The first Try trains the router (seconds, more on a busy machine): a generous wait.
        _wait(browser, lambda d: _value(d, "#composed-out textarea") == "XYZ", timeout=180)
        _phase("Try answered")
        base = _value(browser, "#base-out textarea")
        assert base and base != "XYZ"
        assert "Router:" in _text(browser, "#latency") and "ms" in _text(browser, "#latency")
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#router svg, #router canvas"))
        shot = _screenshot(browser, tmp_path, "space-try")
        assert shot.stat().st_size > 10_000
        # an empty prompt is a readable message, not a stack trace
        prompt = _shown(browser, By.CSS_SELECTOR, "#prompt textarea")
        prompt.send_keys(Keys.CONTROL, "a")
        prompt.send_keys(Keys.BACKSPACE)  # like a visitor (clear() fires no input event for Gradio)
        browser.find_element(By.CSS_SELECTOR, "#run").click()
        _wait(browser, lambda d: "prompt is empty" in _text(d, "#message"))
        _phase("empty prompt refused")
        assert "Traceback" not in browser.page_source
    finally:
        demo.close()
