"""Sign-in, sign-out, roles and tokens in the browser."""

import re

import httpx
from playwright.sync_api import Page, expect

from tests.accounts import PASSWORD, add_user
from tests.videos import make_video


def _fresh_page(browser, live_server) -> Page:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    return context.new_page()


def test_sign_in_come_back_create_and_sign_out(browser, live_server):
    page = _fresh_page(browser, live_server)
    page.goto("/jobs?project_id=7")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fjobs%3Fproject_id%3D7$"))
    page.get_by_test_id("login-email").fill(live_server.admin_email)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(re.compile(r"/jobs\?project_id=7$"))
    expect(page.get_by_test_id("nav-account")).to_have_text(live_server.admin_email)

    # A change made by the page carries the CSRF token: creating a project works.
    page.goto("/")
    page.get_by_test_id("project-name").fill("signed in")
    page.get_by_test_id("project-create").click()
    expect(page.get_by_test_id("project-title")).to_have_text("signed in")

    page.get_by_test_id("sign-out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.context.close()


def test_tokens_are_shown_once_and_revocable(page: Page, live_server):
    page.goto("/account")
    page.get_by_test_id("token-name").fill("nightly export")
    page.get_by_test_id("token-create").click()
    secret = page.get_by_test_id("token-value").inner_text()
    assert secret.startswith("stk_")
    expect(page.get_by_test_id("token-row")).to_have_count(2)  # the tests' own, and this one
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{live_server.url}/api/projects", headers=headers).status_code == 200
    page.reload()
    assert secret not in page.content()  # never shown again
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.get_by_test_id("token-row").filter(has_text="nightly export")
    row.get_by_test_id("token-revoke").click()
    expect(row).to_contain_text("revoked")
    assert httpx.get(f"{live_server.url}/api/projects", headers=headers).status_code == 401


def test_owner_adds_an_annotator_who_sees_only_that_project(page: Page, browser, live_server):
    add_user(live_server.settings, "ann@example.org")
    page.goto("/")
    for name in ("private", "shared with ann"):  # creating one opens its page
        page.goto("/")
        page.get_by_test_id("project-name").fill(name)
        page.get_by_test_id("project-create").click()
        expect(page.get_by_test_id("project-title")).to_have_text(name)
    page.get_by_test_id("member-email").fill("ann@example.org")
    page.get_by_test_id("member-role").select_option("annotator")
    page.get_by_test_id("member-add").click()
    expect(page.get_by_test_id("member-item-role")).to_have_text(["owner", "annotator"])

    ann = _fresh_page(browser, live_server)
    ann.goto("/")
    ann.get_by_test_id("login-email").fill("ann@example.org")
    ann.get_by_test_id("login-password").fill(PASSWORD)
    ann.get_by_test_id("login-submit").click()
    expect(ann.get_by_test_id("project-item-name")).to_have_text(["shared with ann"])
    ann.get_by_test_id("project-link").click()
    expect(ann.get_by_test_id("project-role")).to_have_text("You are an annotator here")
    expect(ann.get_by_test_id("nav-train")).to_be_hidden()
    expect(ann.get_by_test_id("member-form")).to_be_hidden()
    ann.context.close()


def test_sign_in_return_path_never_leaves_the_site(browser, live_server):
    page = _fresh_page(browser, live_server)
    for raw in ["/%09/evil.example/a", "/%0A/evil.example", "/\\evil", "//evil", "https:evil"]:
        # Leave the last round's home page first: its scripts, signed out by the cleared
        # cookie, would send the browser to the sign-in page mid-way through the next goto.
        page.goto("about:blank")
        page.context.clear_cookies()
        page.goto(f"/login?next={raw}")
        page.get_by_test_id("login-email").fill(live_server.admin_email)
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        expect(page).to_have_url(f"{live_server.url}/", timeout=10_000)
        expect(page.get_by_test_id("nav-account")).to_have_text(live_server.admin_email)
    page.context.close()


def test_a_crashed_jobs_traceback_is_shown_to_administrators_only(
    page: Page, browser, live_server, tmp_path
):
    owner = live_server.client(add_user(live_server.settings, "olga@example.org"))
    project = owner.post("/api/projects", json={"name": "olga's"}).json()
    clip = make_video(tmp_path / "clip.mp4", width=64, height=48, seconds=0.3)
    with open(clip, "rb") as fh:
        video = owner.post(f"/api/projects/{project['id']}/videos", files={"file": fh}).json()
    # A file where the frames' folder belongs: storing the first frame crashes the worker.
    (live_server.settings.data_path / f"media/projects/{project['id']}/frames").write_bytes(b"")
    job = owner.post(f"/api/videos/{video['id']}/sample", json={"every_n_frames": 1}).json()
    done = live_server.wait_job(job["id"])
    assert done["status"] == "failed" and "unexpected error" in done["error"], done

    page.goto(f"/jobs/{job['id']}")
    expect(page.get_by_test_id("job-error-summary")).to_have_text(done["error"])
    expect(page.get_by_test_id("job-error-details")).to_be_hidden()
    page.get_by_test_id("job-error-toggle").click()
    expect(page.get_by_test_id("job-error-details")).to_contain_text("Traceback")

    olga = _fresh_page(browser, live_server)
    olga.goto(f"/jobs/{job['id']}")
    olga.get_by_test_id("login-email").fill("olga@example.org")
    olga.get_by_test_id("login-password").fill(PASSWORD)
    olga.get_by_test_id("login-submit").click()
    expect(olga.get_by_test_id("job-error-summary")).to_have_text(done["error"])
    expect(olga.get_by_test_id("job-error-toggle")).to_be_hidden()
    assert "Traceback" not in olga.content()
    olga.context.close()
    owner.close()
