"""Sign-in, sessions, CSRF, tokens, rate limiting, security headers and account admin."""

import time

import pytest
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.services.auth import SESSION_COOKIE
from tests.accounts import ADMIN_EMAIL, PASSWORD, add_user, bearer

PUBLIC = {"/api/health", "/api/auth/login"}


def _anonymous(client) -> TestClient:
    return TestClient(client.app)


def _login(client, email=ADMIN_EMAIL, password=PASSWORD) -> TestClient:
    browser = TestClient(client.app)
    res = browser.post("/api/auth/login", json={"email": email, "password": password})
    assert res.status_code == 200, res.text
    browser.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    return browser


def _fill(path: str) -> str:
    for name in ("project_id", "video_id", "frame_id", "job_id", "model_id", "user_id"):
        path = path.replace("{" + name + "}", "1")
    return (
        path.replace("{token_id}", "1")
        .replace("{version}", "1")
        .replace("{name}", "loss")
        .replace("{iteration}", "1")
        .replace("{k}", "0")
    )


def test_every_api_operation_needs_sign_in(client):
    anonymous = _anonymous(client)
    schema = client.get("/api/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if path in PUBLIC:
            continue
        for method in operations:
            res = anonymous.request(method.upper(), _fill(path))
            assert res.status_code == 401, (method, path, res.status_code)
            assert res.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 50
    assert anonymous.get("/api/openapi.json").status_code == 401
    assert anonymous.get("/api/health").status_code == 200


@pytest.mark.parametrize("page", ["/", "/jobs", "/account", "/projects/1", "/frames/3?x=1"])
def test_pages_send_strangers_to_sign_in(client, page):
    res = _anonymous(client).get(page, follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"].startswith("/login?next=%2F")
    form = _anonymous(client).get(res.headers["location"])
    assert form.status_code == 200 and 'data-testid="login-form"' in form.text


def test_login_sets_a_secure_cookie_and_me_answers(client):
    res = _anonymous(client).post(
        "/api/auth/login", json={"email": " Admin@Example.org ", "password": PASSWORD}
    )
    assert res.status_code == 200
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    browser = _login(client)
    me = browser.get("/api/auth/me").json()
    assert me["user"]["email"] == ADMIN_EMAIL and me["user"]["is_admin"] is True
    assert "password_hash" not in me["user"] and me["csrf_token"]


@pytest.mark.parametrize(
    "email,password", [(ADMIN_EMAIL, "wrong password"), ("nobody@example.org", PASSWORD)]
)
def test_wrong_credentials_are_refused_alike(client, email, password):
    res = _anonymous(client).post("/api/auth/login", json={"email": email, "password": password})
    assert res.status_code == 401
    assert res.json()["detail"] == "Wrong email or password."
    assert "set-cookie" not in res.headers


def test_cookie_changes_need_the_csrf_token(client):
    browser = _login(client)
    token = browser.headers.pop("X-CSRF-Token")
    refused = browser.post("/api/projects", json={"name": "forged"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = browser.post("/api/projects", json={"name": "x"}, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert browser.get("/api/projects").json() == []  # nothing was created; reads need none
    ok = browser.post("/api/projects", json={"name": "real"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 201
    # A Bearer token is not sent by browsers on their own, so it needs no CSRF token.
    assert client.post("/api/projects", json={"name": "script"}).status_code == 201


def test_logout_ends_the_session(client):
    browser = _login(client)
    cookie = browser.cookies.get(SESSION_COOKIE)
    assert browser.post("/api/auth/logout").status_code == 204
    replay = _anonymous(client)
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert replay.get("/api/auth/me").status_code == 401


def test_sessions_expire(settings, dispatcher):
    settings = settings.model_copy(update={"session_hours": 1 / 3600})  # one second
    add_user(settings, ADMIN_EMAIL, is_admin=True)
    with TestClient(create_app(settings, dispatcher=dispatcher)) as anonymous:
        res = anonymous.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
        assert res.status_code == 200 and anonymous.get("/api/auth/me").status_code == 200
        cookie = anonymous.cookies.get(SESSION_COOKIE)
        time.sleep(1.2)
        # The browser drops the cookie (Max-Age); the server refuses it even if replayed.
        assert anonymous.get("/api/auth/me").status_code == 401
        replay = TestClient(anonymous.app)
        replay.cookies.set(SESSION_COOKIE, cookie)
        expired = replay.get("/api/auth/me")
        assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_login_is_rate_limited(client):
    stranger = _anonymous(client)
    for _ in range(5):
        res = stranger.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": "guess1234"})
        assert res.status_code == 401
    blocked = stranger.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0 and "try again" in blocked.json()["detail"]
    # Bearer tokens keep working: the throttle guards passwords only.
    assert client.get("/api/auth/me").status_code == 200


def test_tokens_list_use_and_revoke(client):
    created = client.post("/api/tokens", json={"name": "export script"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("stk_") and created.json()["prefix"] == secret[:10]
    listed = client.get("/api/tokens").json()
    assert "export script" in [t["name"] for t in listed]
    assert all("token" not in t for t in listed)
    script = _anonymous(client)
    script.headers.update(bearer(secret))
    assert script.get("/api/projects").status_code == 200
    assert client.get("/api/tokens").json()[0]["last_used_at"] is not None
    revoked = client.delete(f"/api/tokens/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = script.get("/api/projects")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_someone_elses_token_cannot_be_revoked(client, settings):
    token_id = client.post("/api/tokens", json={"name": "mine"}).json()["id"]
    other = _anonymous(client)
    other.headers.update(bearer(add_user(settings, "other@example.org")))
    assert other.delete(f"/api/tokens/{token_id}").status_code == 404


@pytest.mark.parametrize("header", ["Basic abc", "Bearer ", "Bearer stk_unknown"])
def test_bad_authorization_headers_get_401(client, header):
    res = _anonymous(client).get("/api/projects", headers={"Authorization": header})
    assert res.status_code == 401 and res.json()["detail"]


def test_security_headers(client):
    for res in (client.get("/api/projects"), client.get("/"), client.get("/api/health")):
        assert "script-src 'self'" in res.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in res.headers["content-security-policy"]
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["x-frame-options"] == "DENY"
        assert res.headers["referrer-policy"] == "same-origin"


def test_change_own_password(client):
    browser = _login(client)
    elsewhere = _login(client)
    wrong = browser.post(
        "/api/auth/password", json={"current_password": "nope", "new_password": "n3w password"}
    )
    assert wrong.status_code == 403
    res = browser.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "n3w password"}
    )
    assert res.status_code == 200
    browser.headers["X-CSRF-Token"] = res.json()["csrf_token"]
    assert browser.get("/api/auth/me").status_code == 200  # this browser got a new session
    assert elsewhere.get("/api/auth/me").status_code == 401  # the others were signed out
    _login(client, password="n3w password")


def test_admins_manage_accounts(client, settings):
    created = client.post(
        "/api/users", json={"email": "Ana@Example.org", "password": "s3cret pass", "name": "Ana"}
    )
    assert created.status_code == 201 and created.json()["email"] == "ana@example.org"
    again = client.post("/api/users", json={"email": "ana@example.org", "password": "12345678"})
    assert again.status_code == 409
    short = client.post("/api/users", json={"email": "bo@example.org", "password": "short"})
    assert short.status_code == 422
    ana = _login(client, "ana@example.org", "s3cret pass")
    assert ana.get("/api/users").status_code == 403
    promote = ana.post("/api/users", json={"email": "x@y.z", "password": "12345678"})
    assert promote.status_code == 403
    disabled = client.patch(f"/api/users/{created.json()['id']}", json={"is_active": False})
    assert disabled.status_code == 200
    assert ana.get("/api/auth/me").status_code == 401
    admin_id = client.get("/api/auth/me").json()["user"]["id"]
    last = client.patch(f"/api/users/{admin_id}", json={"is_admin": False})
    assert last.status_code == 409 and "last active administrator" in last.json()["detail"]


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
def test_sign_in_never_sends_people_off_site(client, target):
    form = _anonymous(client).get("/login", params={"next": target}).text
    assert 'data-next="/"' in form
