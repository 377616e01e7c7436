"""Pages: the sign-in form's return path stays on this site."""

import pytest

from backend.api.pages import _local_path

OFF_SITE = [
    "/%09/evil.example/a",  # a tab, dropped by browsers: "//evil.example/a"
    "/\t/evil.example/a",
    "/%0A/evil.example",
    "/\n/evil.example",
    "/%0D%0A/evil.example",
    "/\\evil",
    "/%5Cevil",
    "//evil",
    "/%2F/evil",
    "%2F%2Fevil",
    "/%252F/evil",  # encoded twice
    "https:evil",
    "https://evil.example",
    "javascript:alert(1)",
    " /jobs",
    "/jobs x",
    "/jobs\u2028",
    "/jobs\x7f",
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_or_odd_return_paths_fall_back_to_the_start_page(target):
    assert _local_path(target) == "/"


@pytest.mark.parametrize(
    "target", ["/", "/jobs?project_id=7", "/projects/3/models", "/frames/12#mask", "/caf%C3%A9"]
)
def test_paths_on_this_site_are_kept(target):
    assert _local_path(target) == target


@pytest.mark.parametrize("target", OFF_SITE[:6])
def test_the_form_carries_only_the_fallback(client, target):
    from fastapi.testclient import TestClient

    form = TestClient(client.app).get("/login", params={"next": target}).text
    assert 'data-next="/"' in form


def test_the_job_page_names_its_project_and_where_it_runs(client, project):
    from backend.db import session_scope
    from backend.models import Job

    with session_scope(client.app.state.sessions) as session:
        job = Job(kind="train", params={}, project_id=project["id"], queue="gpu")
        session.add(job)
        session.flush()
        job_id = job.id
    page = client.get(f"/jobs/{job_id}").text
    link = f'<a href="/projects/{project["id"]}" data-testid="job-project-link">streets</a>'
    assert link in page
    assert f"Project {project['id']}" not in page
    jobs_page = client.get("/jobs").text
    assert "later, training" not in jobs_page and "fine-tunes" in jobs_page


def test_the_report_page_names_its_project_and_has_the_project_links(client, project):
    from backend.db import session_scope
    from backend.models import Job

    with session_scope(client.app.state.sessions) as session:
        job = Job(kind="train", params={}, project_id=project["id"], queue="gpu")
        session.add(job)
        session.flush()
        job_id = job.id
    page = client.get(f"/jobs/{job_id}/report").text
    assert 'data-testid="report-project-link">streets</a>' in page
    assert f"Project {project['id']}" not in page
    assert page.count('data-testid="project-nav"') == 1
