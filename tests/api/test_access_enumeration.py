"""Every route, as a stranger, a member of another project and a viewer, with hostile extras.

The object in the path decides the project: naming another project (or another object) in the
query, twice, as a JSON key or as a form field never changes the answer. Strangers get 404,
too weak a role 403, an unparseable id 422. Routes come from the app itself, so a new route is
covered (or the test fails) without anyone adding it here.
"""

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from backend.api import access as api_access
from backend.api import jobs as jobs_api
from backend.app import create_app
from backend.services.access import RANK
from tests.accounts import PASSWORD, add_user, bearer
from tests.api.test_frames import _png
from tests.videos import make_video

PNG = {"Content-Type": "image/png", "If-Match": '"0"'}
PARAM_RE = re.compile(r"{(\w+)}")


def _member(owner: TestClient, pid: int, email: str, role: str) -> None:
    res = owner.put(f"/api/projects/{pid}/members", json={"email": email, "role": role})
    assert res.status_code == 200, res.text


def _estate(client, settings, email: str, video) -> dict:
    """A user who owns a project with a video, a frame, a mask, a job and a model in it."""
    me = TestClient(client.app)
    me.headers.update(bearer(add_user(settings, email)))
    pid = me.post("/api/projects", json={"name": f"{email}'s"}).json()["id"]
    with open(video, "rb") as fh:
        vid = me.post(f"/api/projects/{pid}/videos", files={"file": ("c.mp4", fh)}).json()["id"]
    frame = me.post(f"/api/projects/{pid}/images", files={"files": ("f.png", _png(40, 30))})
    fid = frame.json()[0]["id"]
    saved = me.put(f"/api/frames/{fid}/mask", content=_png(40, 30), headers=PNG)
    assert saved.status_code in (200, 422), saved.text
    job = me.post(f"/api/projects/{pid}/exports", json={}).json()["id"]
    model = me.post(
        "/api/models", files={"file": ("m.pt", b"x")}, data={"project_id": str(pid)}
    ).json()["id"]
    token = me.get("/api/tokens").json()[0]["id"]
    user = me.get("/api/auth/me").json()["user"]["id"]
    ids = {"project_id": pid, "video_id": vid, "frame_id": fid, "job_id": job, "model_id": model}
    return {"client": me, "ids": ids, "token_id": token, "user_id": user, "email": email}


@pytest.fixture
def world(client, settings, tmp_path):
    """Olga's project is the target; Sam owns another one, Vera views Olga's and owns her own,
    Nobody belongs to no project."""
    video = make_video(tmp_path / "clip.mp4", seconds=0.3, width=64, height=48)
    olga = _estate(client, settings, "olga@example.org", video)
    sam = _estate(client, settings, "sam@example.org", video)
    vera = _estate(client, settings, "vera@example.org", video)
    _member(olga["client"], olga["ids"]["project_id"], "vera@example.org", "viewer")
    nobody = TestClient(client.app)
    nobody.headers.update(bearer(add_user(settings, "nobody@example.org")))
    return {"olga": olga, "sam": sam, "vera": vera, "nobody": {"client": nobody, "ids": None}}


def _routes(app) -> list[tuple[str, str, dict]]:
    """(method, path, openapi_extra) of every route of the app, pages included."""
    found = []
    for route in iter_route_contexts(app.routes):
        if not hasattr(route, "dependant"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, route.path, route.openapi_extra or {}))
    return found


def _fill(path: str, olga: dict) -> str:
    values = {
        **olga["ids"],
        "user_id": olga["user_id"],
        "token_id": olga["token_id"],
        "version": 1,
        "iteration": 0,
        "k": 0,
        "name": "losses",
        "what": "video",
    }
    for name in PARAM_RE.findall(path):
        assert name in values, f"{path}: no test value for {{{name}}}; add one here"
        path = path.replace("{" + name + "}", str(values[name]))
    return path


def _extras(own: dict | None, target: dict) -> list[dict]:
    """Hostile additions: other projects and objects named in the query, body and form."""
    ids = own or target
    pid = str(ids["project_id"])
    others = {name: str(value) for name, value in ids.items()}
    return [
        {"params": [("project_id", "x")]},
        {"params": [("project_id", pid)]},
        {"params": [("project_id", pid), ("project_id", pid)]},
        {"params": [("project_id", "x"), ("project_id", pid)]},
        {"params": list(others.items())},
        {"json": {name: int(value) for name, value in others.items()}},
        {"data": others, "files": {"file": ("m.pt", b"x"), "files": ("f.png", _png(40, 30))}},
    ]


def _call(user: TestClient, method: str, path: str, extra: dict | None = None):
    extra = extra or {}
    return user.request(method, path, **extra)


def _needed(method: str, declared: dict) -> str:
    return declared.get(api_access.ROLE_KEY) or ("viewer" if method == "GET" else "owner")


def test_every_route_declares_its_scope_and_the_openapi_document_is_covered(client):
    routes = _routes(client.app)
    kinds = {declared.get(api_access.SCOPE_KEY) for _m, _p, declared in routes}
    assert kinds <= api_access.KINDS and None not in kinds
    document = client.get("/api/openapi.json").json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations <= {(m, p) for m, p, _d in routes}
    for path, item in document["paths"].items():
        for operation in item.values():
            assert operation[api_access.SCOPE_KEY] in api_access.KINDS, path
    pages = {p for m, p, d in routes if m == "GET" and not p.startswith("/api/")}
    assert {"/", "/projects/{project_id}", "/frames/{frame_id}", "/jobs/{job_id}"} <= pages


def test_path_scoped_routes_ignore_every_hostile_extra(client, world):
    olga = world["olga"]
    checked = 0
    for method, raw, declared in _routes(client.app):
        kind = declared.get(api_access.SCOPE_KEY)
        if kind not in api_access.access.SCOPES:
            continue
        path = _fill(raw, olga)
        need = _needed(method, declared)
        reads = RANK[need] <= RANK["viewer"]
        # The owner's answer is what a viewer must get for reads (never run a change here).
        owner_answer = _call(olga["client"], method, path).status_code if reads else None
        for name in ("nobody", "sam", "vera"):
            caller = world[name]
            plain = _call(caller["client"], method, path)
            if name == "vera" and reads:
                assert plain.status_code == owner_answer, (name, method, path, plain.text)
                expected = owner_answer
            else:
                expected = 403 if name == "vera" else 404
                assert plain.status_code == expected, (name, method, path, plain.text)
            for extra in _extras(caller["ids"], olga["ids"]):
                res = _call(caller["client"], method, path, extra)
                assert res.status_code == expected, (name, method, path, extra, res.text)
                checked += 1
        # An id that is not a number is refused before anything runs.
        bad = raw.replace("{" + kind + "}", "x")
        res = _call(world["sam"]["client"], method, _fill(bad, olga))
        assert res.status_code == 422 and kind in res.json()["detail"], (method, bad, res.text)
    assert checked > 1000


def test_annotators_and_reviewers_are_refused_every_route_above_their_role(client, settings, world):
    olga = world["olga"]
    assert list(RANK) == ["viewer", "annotator", "reviewer", "owner"]
    members = {}
    for role in ("annotator", "reviewer"):
        email = f"{role}@example.org"
        members[role] = TestClient(client.app)
        members[role].headers.update(bearer(add_user(settings, email)))
        _member(olga["client"], olga["ids"]["project_id"], email, role)
    refused = set()
    for method, raw, declared in _routes(client.app):
        if declared.get(api_access.SCOPE_KEY) not in api_access.access.SCOPES:
            continue
        need = _needed(method, declared)
        for role, user in members.items():
            if RANK[role] < RANK[need]:
                res = _call(user, method, _fill(raw, olga))
                assert res.status_code == 403, (role, method, raw, res.text)
                assert f"role in this project is {role}" in res.json()["detail"]
                refused.add((role, method, raw))
    assert ("reviewer", "DELETE", "/api/projects/{project_id}") in refused
    assert ("annotator", "POST", "/api/projects/{project_id}/assignments") in refused


def test_listings_read_project_id_from_the_query_only_once_and_checked(client, world):
    olga, vera = world["olga"], world["vera"]
    pid = olga["ids"]["project_id"]
    listings = [
        (m, p) for m, p, d in _routes(client.app) if d.get(api_access.SCOPE_KEY) == "listing"
    ]
    assert {("GET", "/api/jobs"), ("GET", "/api/models"), ("GET", "/api/projects")} <= set(listings)
    for method, path in listings:
        for name in ("nobody", "sam"):
            user = world[name]["client"]
            res = user.request(method, path, params={"project_id": pid})
            assert res.status_code == 404, (name, path, res.text)
        for params in ([("project_id", "x")], [("project_id", pid), ("project_id", pid)]):
            res = vera["client"].request(method, path, params=params)
            assert res.status_code == 422, (path, params, res.text)
        assert vera["client"].request(method, path, params={"project_id": pid}).status_code == 200
    jobs = vera["client"].get("/api/jobs", params={"project_id": pid}).json()
    assert jobs and {job["project_id"] for job in jobs} == {pid}
    assert {p["id"] for p in world["sam"]["client"].get("/api/projects").json()} == {
        world["sam"]["ids"]["project_id"]
    }


def test_admin_routes_refuse_everyone_else(client, world):
    admin_routes = [
        (m, p) for m, p, d in _routes(client.app) if d.get(api_access.SCOPE_KEY) == "admin"
    ]
    assert ("GET", "/api/users") in admin_routes
    for method, raw in admin_routes:
        path = _fill(raw, world["olga"])
        for name in ("nobody", "sam", "vera"):
            caller = world[name]
            for extra in [None, *_extras(caller["ids"], world["olga"]["ids"])]:
                res = _call(caller["client"], method, path, extra)
                assert res.status_code == 403, (name, method, path, extra, res.text)


def test_account_routes_answer_the_same_with_extras(client, world):
    olga = world["olga"]
    for method, raw, declared in _routes(client.app):
        if declared.get(api_access.SCOPE_KEY) != "account" or raw == "/api/auth/logout":
            continue
        path = _fill(raw, olga)
        for name in ("nobody", "sam"):
            caller = world[name]
            plain = _call(caller["client"], method, path).status_code
            assert plain < 500 and plain not in (401, 403), (method, path)
            for extra in _extras(caller["ids"], olga["ids"])[:5]:
                res = _call(caller["client"], method, path, extra)
                assert res.status_code == plain, (name, method, path, extra, res.text)
    # Someone else's token is not yours to revoke, whatever you name.
    token = olga["token_id"]
    assert world["sam"]["client"].delete(f"/api/tokens/{token}").status_code == 404


def test_model_upload_target_is_the_form_field_checked_before_storing(client, world):
    sam, vera, olga = world["sam"], world["vera"], world["olga"]
    pid, own = olga["ids"]["project_id"], sam["ids"]["project_id"]
    before = len(client.get("/api/models").json())

    def upload(user, fields, params=None):
        files = {"file": ("m.pt", b"x")}
        return user["client"].post("/api/models", files=files, data=fields, params=params)

    assert upload(sam, {"project_id": str(pid)}).status_code == 404
    assert upload(sam, {"project_id": str(pid)}, params={"project_id": own}).status_code == 404
    assert upload(vera, {"project_id": str(pid)}).status_code == 403
    assert upload(sam, {"project_id": "x"}).status_code == 422
    twice = sam["client"].post(
        "/api/models",
        files=[
            ("file", ("m.pt", b"x")),
            ("project_id", (None, str(own))),
            ("project_id", (None, str(pid))),
        ],
    )
    assert twice.status_code == 422 and "more than once" in twice.json()["detail"]
    assert upload(sam, {}).status_code == 403  # a shared model is an administrator's
    assert len(client.get("/api/models").json()) == before
    assert upload(sam, {"project_id": str(own)}).status_code == 202


def test_cookie_sessions_are_held_to_the_same_scope(client, world):
    browser = TestClient(client.app)
    res = browser.post("/api/auth/login", json={"email": "sam@example.org", "password": PASSWORD})
    browser.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    olga, own = world["olga"]["ids"], str(world["sam"]["ids"]["project_id"])
    for method, path in [
        ("GET", f"/api/models/{olga['model_id']}/download"),
        ("GET", f"/api/exports/{olga['job_id']}/download"),
        ("GET", f"/api/frames/{olga['frame_id']}/image"),
        ("POST", f"/api/videos/{olga['video_id']}/sample"),
        ("POST", f"/api/jobs/{olga['job_id']}/retry"),
        ("POST", f"/api/models/{olga['model_id']}/onnx"),
        ("GET", f"/projects/{olga['project_id']}"),
    ]:
        for params in (None, {"project_id": "x"}, {"project_id": own}):
            res = browser.request(method, path, params=params, json={})
            assert res.status_code == 404, (method, path, params, res.text)


def test_an_app_with_an_undeclared_route_refuses_to_build(settings, dispatcher):
    @jobs_api.router.get("/undeclared/{job_id}")
    def undeclared(job_id: int) -> dict:
        return {}

    try:
        with pytest.raises(RuntimeError, match="declares no access scope"):
            create_app(settings, dispatcher=dispatcher)
    finally:
        jobs_api.router.routes.pop()
    create_app(settings, dispatcher=dispatcher)  # and builds again without it


@pytest.mark.parametrize(
    "extra, guarded, message",
    [
        ({}, True, "declares no access scope"),
        ({"x-segtune-scope": "video_id"}, True, "not in its path"),
        ({"x-segtune-scope": "public"}, True, "public routes skip"),
        ({"x-segtune-scope": "account"}, False, "public routes skip"),
    ],
)
def test_check_routes_refuses_wrong_declarations(extra, guarded, message):
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    router = APIRouter()

    @router.get("/things/{job_id}", openapi_extra=extra)
    def thing(job_id: int) -> dict:
        return {}

    deps = [api_access.CurrentUser] if guarded else []
    app.include_router(router, dependencies=deps)
    with pytest.raises(RuntimeError, match=message):
        api_access.check_routes(app)
