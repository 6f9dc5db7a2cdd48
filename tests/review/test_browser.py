"""The review page in a real headless Chromium (Debian's `chromium`), served by uvicorn as `labelfix review` serves it."""

from __future__ import annotations

import threading
from contextlib import closing

import pytest

from helpers import review_queue
from labelfix import store
from labelfix.review import create_app


def _chromium() -> str | None:
    import os
    import shutil

    return os.environ.get("LABELFIX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(run_dir):
    """The review app served by uvicorn on a free local port, as `labelfix review` serves it."""
    yield from _serve(run_dir)


@pytest.fixture
def served_multilabel(multilabel_run_dir):
    yield from _serve(multilabel_run_dir)


def _serve(run_dir):
    import socket

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(run_dir, reviewer="browser"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    """Headless Chromium through playwright (skipped without one, unless LABELFIX_REQUIRE_BROWSER is set)."""
    import os

    browser_path = _chromium()
    if browser_path is None:
        if os.environ.get("LABELFIX_REQUIRE_BROWSER"):
            pytest.fail("no chromium found and LABELFIX_REQUIRE_BROWSER is set (CI installs Debian's chromium)")
        pytest.skip("no chromium on PATH: install Debian's `chromium` (or set LABELFIX_CHROMIUM) to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency: pip install -e '.[test]'")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def test_relabel_from_the_keyboard_in_chromium_survives_a_reload(served, run_dir, browser):
    """End to end in a real headless Chromium (Debian's `chromium`): keys decide, a reload shows the decision."""
    _, classes = review_queue(run_dir)
    page = browser.new_page()
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served + "?status=all&issue_type=label&page_size=500")
    first = page.locator(".card").first
    item = first.get_attribute("data-item")
    assert page.evaluate("document.activeElement.dataset.item") == item  # the first card has the focus
    page.keyboard.press("3")  # relabel to the third class
    page.wait_for_selector(f'.card[data-item="{item}"][data-action="relabel"]')
    second = page.locator(".card").nth(1).get_attribute("data-item")
    assert page.evaluate("document.activeElement.dataset.item") == second  # focus moved on to the next image
    page.keyboard.press("k")  # keep the second image's label
    page.wait_for_selector(f'.card[data-item="{second}"][data-action="keep"]')
    page.keyboard.press("Control+z")  # undo my last action: the keep
    page.wait_for_selector(f'.card[data-item="{second}"][data-action=""]')
    third = page.locator(".card").nth(2).get_attribute("data-item")
    other_tab = browser.new_page()
    other_tab.goto(served + "?status=all&issue_type=label&page_size=500")
    other_tab.locator(f'.card[data-item="{third}"] button[data-do="remove"]').click()
    other_tab.wait_for_selector(f'.card[data-item="{third}"][data-action="remove"]')
    page.evaluate("refresh()")  # what the page does every 5 s and when it gets the focus back
    page.wait_for_selector(f'.card[data-item="{third}"][data-action="remove"]')
    other_tab.locator(f'.card[data-item="{third}"] button[data-do="undo"]').click()
    other_tab.wait_for_selector(f'.card[data-item="{third}"][data-action=""]')
    page.evaluate("refresh()")
    page.wait_for_selector(f'.card[data-item="{third}"][data-action=""]')

    page.reload()
    card = page.locator(f'.card[data-item="{item}"]')
    assert card.get_attribute("data-action") == "relabel"
    assert card.locator(".decision").inner_text() == f"→ {classes[2]}"
    assert page.locator(f'.card[data-item="{second}"]').get_attribute("data-action") == ""
    assert "1 of" in page.locator("#progress-text").inner_text()
    page.locator(f'.card[data-item="{item}"]').focus()
    page.keyboard.press("e")
    page.wait_for_selector("#evidence:not([hidden]) .neighbors figure")
    assert dialogs == [] and errors == []  # the file named like an <img onerror> tag ran nothing
    db = store.open_store(run_dir)
    assert store.current_decisions(db)[["item_id", "action", "label", "reviewer"]].values.tolist() == [
        [int(item), "relabel", classes[2], "browser"]
    ]


def test_every_image_can_be_browsed_by_label_score_and_decided(served, run_dir, browser):
    """Beyond the images needing review: every image of the run, lowest label score first, and a decision on one
    the scan did not flag."""
    with closing(store.open_store(run_dir)) as db:
        everything = store.review_queue(db, everything=True)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served)
    page.select_option("select[name=scope]", "all")
    page.select_option("select[name=sort]", "label_score")
    page.select_option("select[name=status]", "all")
    page.select_option("select[name=page_size]", "192")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**scope=all**")
    cards = page.locator(".card")
    assert cards.count() == len(everything)
    scores = [float(text) for text in page.locator(".card .score").all_inner_texts()]
    assert scores == sorted(scores) and len(scores) == everything["label_score"].notna().sum()
    unflagged = everything[~everything["needs_review"]].sort_values("label_score")["item_id"].iloc[-1]
    page.locator(f'.card[data-item="{unflagged}"]').focus()
    page.keyboard.press("x")
    page.wait_for_selector(f'.card[data-item="{unflagged}"][data-action="remove"]')
    assert errors == []
    with closing(store.open_store(run_dir)) as db:
        assert store.current_decisions(db)[["item_id", "action"]].values.tolist() == [[unflagged, "remove"]]


def test_label_sets_toggle_class_by_class_from_the_keyboard(served_multilabel, multilabel_run_dir, browser):
    """A multi-label run: number keys switch classes on and off in the focused image's set, each change saved at
    once; `a` accepts the suggested set; Ctrl+Z takes back the last switch; a reload shows the sets."""
    import json

    with closing(store.open_store(multilabel_run_dir)) as db:
        queue, classes = store.review_queue(db), store.read_classes(db)
    first_id = int(queue["item_id"].iloc[0])
    given = set(queue["given_labels"].iloc[0])
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(served_multilabel + "?status=all&page_size=500")
    assert "switch a class on/off" in page.locator(".keys").inner_text()
    card = page.locator(f'.card[data-item="{first_id}"]')
    card.focus()
    page.keyboard.press("1")  # switch the first class
    first_switch = sorted(given ^ {classes[0]})
    page.wait_for_selector(f'.card[data-item="{first_id}"][data-action="relabel"]')
    assert page.evaluate("document.activeElement.dataset.item") == str(first_id)  # the focus stays for more switches
    page.keyboard.press("2")
    both = sorted(given ^ {classes[0], classes[1]})
    page.wait_for_function(f"document.querySelector('.card[data-item=\"{first_id}\"]').dataset.label === "
                           f"{json.dumps(json.dumps(both))}")
    page.keyboard.press("Control+z")  # back to the first switch
    page.wait_for_function(f"document.querySelector('.card[data-item=\"{first_id}\"]').dataset.label === "
                           f"{json.dumps(json.dumps(first_switch))}")
    second_id = int(queue["item_id"].iloc[1])
    page.locator(f'.card[data-item="{second_id}"]').focus()
    page.keyboard.press("a")  # the suggested set
    page.wait_for_selector(f'.card[data-item="{second_id}"][data-action="accept"]')

    page.reload()
    shown = page.locator(f'.card[data-item="{first_id}"] .decision').inner_text()
    assert shown == "→ " + (" + ".join(first_switch) or "(no label)")
    assert errors == []
    with closing(store.open_store(multilabel_run_dir)) as db:
        decided = {int(row.item_id): (row.action, json.loads(row.label)) for row in store.current_decisions(db).itertuples()}
    assert decided[first_id] == ("relabel", first_switch)
    assert decided[second_id] == ("accept", sorted(queue["suggested_labels"].iloc[1]))
