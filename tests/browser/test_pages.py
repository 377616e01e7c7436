"""Every page looks like one app: the same top bar, project links and fields; and the small
fixes of the first walkthrough (class shares after "copy previous", the show-mask key, the job
page's device, upload errors naming the file once, interval formatting)."""

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from backend.services.reports.stats import fmt
from tests import http
from tests.labeled import labeled_project, random_checkpoint, register_base

SHOTS = Path(os.environ.get("SEGTUNE_SCREENSHOT_DIR", "/tmp/shots/firststart"))
FIELD_STYLE = ["fontFamily", "fontSize", "borderTopWidth", "borderTopLeftRadius", "paddingLeft"]
# The top bar without the page's own "you are here" mark.
TOPBAR = """() => {
  const bar = document.querySelector('[data-testid=topbar]').cloneNode(true);
  bar.querySelectorAll('[aria-current]').forEach((a) => a.removeAttribute('aria-current'));
  return bar.outerHTML.replace(/\\s+/g, ' ');
}"""
PROJECT_NAV = """() => [...document.querySelectorAll('[data-testid=project-nav] a')]
  .map((a) => `${a.textContent.trim()} ${a.getAttribute('href')}`)"""
# Form fields; the frame cards' split picker is a deliberately small control inside the grid.
FIELDS = """(props) => [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => e.offsetParent !== null && !e.classList.contains('split-select')
    && !['checkbox', 'radio', 'range', 'file', 'hidden'].includes(e.type))
  .map((e) => { const s = getComputedStyle(e); return props.map((p) => s[p]).join(' | '); })"""


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _share(count: int, total: int) -> str:
    """The painter's share format."""
    if not count:
        return ""
    share = 100 * count / total
    return "<0.1%" if share < 0.1 else f"{share:.1f}%" if share < 10 else f"{share:.0f}%"


def test_every_page_has_the_same_top_bar_project_links_and_fields(
    page: Page, live_server, browser, tmp_path
):
    url = live_server.url
    project_id = labeled_project(url, name="Main Street")
    register_base(live_server, random_checkpoint(tmp_path / "base.pt"))
    job_id = http.get(f"{url}/api/jobs").json()[0]["id"]  # the registration, a model job
    frame_id = http.get(f"{url}/api/projects/{project_id}/frames").json()[0]["id"]
    pages = {
        "projects": "/",
        "project": f"/projects/{project_id}",
        "models": f"/projects/{project_id}/models",
        "launch": f"/projects/{project_id}/train",
        "compare": f"/projects/{project_id}/compare",
        "jobs": "/jobs",
        "job": f"/jobs/{job_id}",
        "account": "/account",
        "painter": f"/frames/{frame_id}",
    }
    bars, navs, fields = {}, {}, {}
    for name, path in pages.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        bars[name] = page.evaluate(TOPBAR)
        if page.locator("[data-testid=project-nav]").count():
            navs[name] = page.evaluate(PROJECT_NAV)
        fields[name] = set(page.evaluate(FIELDS, FIELD_STYLE))
        _shot(page, name)
    assert len(set(bars.values())) == 1, bars
    assert set(navs) == {"project", "models", "launch", "compare"}
    assert all(nav == navs["project"] for nav in navs.values()), navs
    assert [link.split(" ")[0] for link in navs["project"]] == [
        "Overview",
        "Models",
        "Compare",
        "Jobs",
        "Fine-tune…",
    ]
    # One look for every typed-in field: the sign-in form's too.
    signed_out = browser.new_context(base_url=url, viewport={"width": 1400, "height": 1000})
    login = signed_out.new_page()
    login.goto("/login")
    fields["login"] = set(login.evaluate(FIELDS, FIELD_STYLE))
    assert login.locator("[data-testid=nav-jobs]").count() == 0  # no links that need a sign-in
    _shot(login, "login")
    signed_out.close()
    looks = set().union(*fields.values())
    assert len(looks) == 1, fields
    assert fields["login"] and fields["account"]

    # The job page: a model job names the device it ran on, not a queue's name.
    page.goto(f"/jobs/{job_id}")
    facts = page.get_by_test_id("job-facts")
    expect(facts).to_contain_text("Ran on")
    expect(facts).not_to_contain_text("Queue")
    device = http.get(f"{url}/api/jobs/{job_id}").json()["device"]
    assert device and (device == "CPU" or device.startswith("GPU ("))
    expect(facts).to_contain_text(device)
    # A project's job: the crumbs name the project.
    export = http.post(f"{url}/api/projects/{project_id}/exports", json={})
    assert export.status_code == 202, export.text
    live_server.wait_job(export.json()["id"])
    page.goto(f"/jobs/{export.json()['id']}")
    expect(page.get_by_test_id("job-project-link")).to_have_text("Main Street")
    expect(page.locator(".crumbs")).not_to_contain_text(f"Project {project_id}")
    expect(facts).to_contain_text("a worker's CPU")
    _shot(page, "job-export")
    page.goto(f"/jobs?project_id={project_id}")
    expect(page.locator("main")).not_to_contain_text("later, training")


def test_painter_shares_follow_copy_previous_and_the_mask_key_reads_as_a_letter(
    page: Page, live_server
):
    url = live_server.url
    project_id = labeled_project(url, name="shares")
    frames = http.get(f"{url}/api/projects/{project_id}/frames").json()
    second = frames[1]
    page.goto(f"/frames/{second['id']}")
    page.wait_for_function("() => window.segtunePainter && window.segtunePainter.labelMap")
    previous = page.evaluate(
        "() => JSON.parse(document.getElementById('painter-data').textContent).neighbours.previous"
    )
    assert previous is not None
    # Start this frame from a blank (all unlabeled) mask, saved, so "copy" changes everything.
    blank = io.BytesIO()
    Image.fromarray(np.full((second["height"], second["width"]), 255, np.uint8)).save(blank, "PNG")
    version = http.get(f"{url}/api/frames/{second['id']}").json()["mask_version"]
    res = http.put(
        f"{url}/api/frames/{second['id']}/mask",
        content=blank.getvalue(),
        headers={"If-Match": f'"{version}"', "Content-Type": "image/png"},
    )
    assert res.status_code == 200, res.text
    page.reload()
    page.wait_for_function("() => window.segtunePainter && window.segtunePainter.labelMap")
    expect(page.get_by_test_id("unlabeled-share")).to_have_text("Unlabeled: 100%")
    # No save may answer: the shares must come from the painter itself, at once.
    page.route(
        "**/api/frames/*/mask",
        lambda route: route.abort() if route.request.method == "PUT" else route.continue_(),
    )
    page.get_by_test_id("copy-previous").click()
    mask = np.asarray(Image.open(io.BytesIO(http.get(f"{url}/api/frames/{previous}/mask").content)))
    total = mask.size
    for index in (1, 2):
        option = page.locator(f"[data-testid=class-option][data-class-index='{index}']")
        expected = _share(int((mask == index).sum()), total)
        assert expected
        expect(option.locator(".pt-class-share")).to_have_text(expected, timeout=900)
    unlabeled = _share(int((mask == 255).sum()), total)
    expect(page.get_by_test_id("unlabeled-share")).to_have_text(f"Unlabeled: {unlabeled}")
    _shot(page, "painter-after-copy")
    page.get_by_test_id("undo").click()
    expect(page.get_by_test_id("unlabeled-share")).to_have_text("Unlabeled: 100%")
    page.unroute("**/api/frames/*/mask")

    # The show-mask key is drawn in a face where the letter O is wider than the digit 0.
    widths = page.evaluate(
        """() => {
      const key = document.querySelector('[data-testid=overlay-key]');
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = getComputedStyle(key).font;
      return [key.textContent, ctx.measureText('O').width, ctx.measureText('0').width,
              getComputedStyle(key).fontFamily];
    }"""
    )
    letter, wide, narrow, family = widths
    assert letter == "O" and "mono" not in family.lower(), widths
    assert wide > 1.1 * narrow, widths
    page.get_by_test_id("painter").locator("details summary", has_text="Keyboard shortcuts").click()
    _shot(page, "painter-shortcuts")


def test_an_oversize_image_is_named_once_and_intervals_never_read_minus_zero(
    page: Page, live_server, tmp_path
):
    url = live_server.url
    project = http.post(f"{url}/api/projects", json={"name": "huge frames"}).json()
    side = int(live_server.settings.max_frame_pixels**0.5) + 1
    huge = tmp_path / "huge street.png"
    Image.new("1", (side, side)).save(huge)  # one bit a pixel: a small file, a huge frame
    page.goto(f"/projects/{project['id']}")
    page.get_by_test_id("upload-input").set_input_files(str(huge))
    item = page.get_by_test_id("upload-item").first
    expect(item).to_have_attribute("data-state", "error")
    error = item.get_by_test_id("upload-error")
    expect(error).to_contain_text("over the frame size limit")
    assert item.inner_text().count("huge street.png") == 1, item.inner_text()
    _shot(page, "upload-oversize")

    # The report's figures: the page's formatter and the server's agree, with no "−0.000".
    values = [0.5, -0.0042, 0.0004, -0.0004, 0.0, -0.0, 0.12345, 0.0625, -0.0625, 0.9995]
    shown = page.evaluate(
        """async (values) => {
      const { fmt } = await import('/static/js/report.js');
      return values.flatMap((v) => [fmt(v), fmt(v, true)]);
    }""",
        values,
    )
    assert shown == [text for v in values for text in (fmt(v), fmt(v, True))]
    assert "\u2212<0.001" in shown and not any(t in ("\u22120.000", "+0.000") for t in shown)
