"""Request bodies are capped while they stream, before sign-in: JSON, uploads and mask PNGs.

Most requests here are fed to the app chunk by chunk (httpx's ASGI transport pulls the body
lazily, unlike TestClient), so a test sees how much of a body the app read before refusing it.
"""

import asyncio
import io
import itertools
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from backend.api import auth, datasets, frames, masks, projects, seg_models, videos
from backend.api.limits import JSON, MULTIPART, PNG, body_kind
from backend.app import create_app
from tests.accounts import ADMIN_EMAIL, add_user, bearer
from tests.api.test_datasets import GOOD, _zip
from tests.api.test_frames import _png
from tests.conftest import RecordingDispatcher
from tests.videos import make_video

MiB = 2**20
JSON_TYPE = {"Content-Type": "application/json"}
UPLOAD_SETTING = "SEGTUNE_MAX_UPLOAD_MB"
FORM_TYPE = {"Content-Type": "multipart/form-data; boundary=limits"}


@pytest.fixture
def app(settings):
    """The app without a test client; `_send` feeds it requests."""
    application = create_app(settings, dispatcher=RecordingDispatcher())
    application.state.test_token = add_user(settings, ADMIN_EMAIL, is_admin=True)
    yield application
    application.state.engine.dispose()


def _send(app, method, path, chunks, headers=None, signed_in=False):
    """Send a body chunk by chunk; returns the answer and how many body bytes the app pulled."""
    pulled = 0

    async def body():
        nonlocal pulled
        for chunk in chunks:
            pulled += len(chunk)
            yield chunk

    async def request():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, content=body(), headers=all_headers)

    all_headers = {**(headers or {}), **(bearer(app.state.test_token) if signed_in else {})}
    # A thread of its own: Playwright's session-wide browser may own this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, request()).result(), pulled


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return b"--limits\r\nContent-Disposition: %s\r\n\r\n%s\r\n" % (disposition.encode(), value)


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--limits--\r\n"


def _temp_files(app) -> list:
    return app.state.storage.temp_files()


def test_json_at_the_cap_is_accepted_and_one_byte_more_is_413(client, settings):
    cap = settings.max_json_bytes
    head, tail = b'{"name": "padded"', b"}"
    body = head + b" " * (cap - len(head) - len(tail)) + tail
    assert len(body) == cap
    assert client.post("/api/projects", content=body, headers=JSON_TYPE).status_code == 201
    chunked = iter([body[: cap // 2].replace(b"padded", b"second"), body[cap // 2 :]])
    assert client.post("/api/projects", content=chunked, headers=JSON_TYPE).status_code == 201
    # Trailing white space is valid JSON: only the size is wrong.
    res = client.post("/api/projects", content=body + b" ", headers=JSON_TYPE)
    assert res.status_code == 413
    assert res.json() == {
        "detail": "The request body is larger than the 1 MB limit (SEGTUNE_MAX_JSON_KB)."
    }
    assert res.headers["x-content-type-options"] == "nosniff"  # the usual headers still come
    assert sorted(p["name"] for p in client.get("/api/projects").json()) == ["padded", "second"]


def test_chunked_json_without_credentials_is_refused_after_the_cap_unread(app):
    small, _ = _send(app, "POST", "/api/projects", [b'{"name": "x"}'], JSON_TYPE)
    assert small.status_code == 401
    chunk = b" " * (64 * 1024)
    body = itertools.chain([b'{"name": "x"'], itertools.repeat(chunk, 300 * 16), [b"}"])  # 300 MB
    res, pulled = _send(app, "POST", "/api/projects", body, JSON_TYPE)
    assert res.status_code == 413 and "SEGTUNE_MAX_JSON_KB" in res.json()["detail"]
    assert pulled <= app.state.settings.max_json_bytes + len(chunk)


@pytest.mark.parametrize(
    ("method", "path", "declared", "content_type", "signed_in", "needle"),
    [
        ("POST", "/api/projects", MiB + 1, "application/json", False, "SEGTUNE_MAX_JSON_KB"),
        # A route's cap follows what it reads, not what the client says it sends.
        ("POST", "/api/projects", 5 * MiB, FORM_TYPE["Content-Type"], False, "MAX_JSON_KB"),
        ("POST", "/api/projects", 5 * MiB, "image/png", True, "SEGTUNE_MAX_JSON_KB"),
        # Above every cap: refused before routing, so before sign-in on an upload route too.
        ("POST", "/api/models", 3 * 2**30, FORM_TYPE["Content-Type"], False, "MAX_UPLOAD_MB"),
    ],
)
def test_declared_length_over_the_cap_is_refused_before_a_byte_is_read(
    app, method, path, declared, content_type, signed_in, needle
):
    headers = {"Content-Type": content_type, "Content-Length": str(declared)}
    body = itertools.repeat(b"\0" * MiB, declared // MiB + 1)
    res, pulled = _send(app, method, path, body, headers, signed_in)
    assert res.status_code == 413 and needle in res.json()["detail"]
    assert pulled == 0


def test_a_mask_png_over_64_mb_is_refused_before_a_byte_is_read(app):
    res, _ = _send(app, "POST", "/api/projects", [b'{"name": "p"}'], JSON_TYPE, signed_in=True)
    body, headers = _multipart({"files": ("f.png", _png())})
    path = f"/api/projects/{res.json()['id']}/images"
    frame = _send(app, "POST", path, [body], headers, signed_in=True)[0].json()[0]
    headers = {"Content-Type": "image/png", "Content-Length": str(64 * MiB + 1)}
    chunks = itertools.repeat(b"\0" * MiB, 65)
    res, pulled = _send(app, "PUT", f"/api/frames/{frame['id']}/mask", chunks, headers, True)
    assert res.status_code == 413 and res.json()["detail"] == "A mask PNG may be at most 64 MB."
    assert pulled == 0


def test_a_route_without_a_body_reads_none(app):
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(100 * MiB)}
    body = itertools.repeat(b"\0" * MiB, 100)
    res, pulled = _send(app, "POST", "/api/models/1/onnx", body, headers)
    assert res.status_code == 401 and pulled == 0


def test_200_mb_of_small_form_fields_to_models_hits_the_field_count_cap(app):
    chunk = b"".join(_part(f"f{i}", b"v") for i in range(1000))
    body = itertools.repeat(chunk, 200 * MiB // len(chunk))
    res, pulled = _send(app, "POST", "/api/models", body, FORM_TYPE, signed_in=True)
    assert res.status_code == 413
    assert res.json()["detail"] == "The form has more than 1000 fields (SEGTUNE_MAX_FORM_FIELDS)."
    assert pulled <= 2 * len(chunk)
    assert _temp_files(app) == []


def test_200_mb_of_form_fields_count_against_max_upload_mb(app):
    app.state.settings.max_upload_mb = 1
    chunk = b"".join(_part(f"f{i}", b"v" * 4096) for i in range(16))
    body = itertools.repeat(chunk, 200 * MiB // len(chunk))
    # A video upload keeps no text fields, yet they count: 1 MB of them is the limit.
    res, pulled = _send(app, "POST", "/api/projects/1/videos", body, FORM_TYPE, signed_in=True)
    assert res.status_code == 413
    assert res.json()["detail"] == f"The upload is larger than the 1 MB limit ({UPLOAD_SETTING})."
    assert pulled <= MiB + 2 * len(chunk)
    assert _temp_files(app) == []


def test_text_fields_and_the_checkpoint_share_max_upload_mb(app):
    app.state.settings.max_upload_mb = 1
    checkpoint = _part("file", b"\0" * (MiB - 1000), "model.pth")
    fits = _form(checkpoint, _part("name", b"n" * 900))
    res, _ = _send(app, "POST", "/api/models", [fits], FORM_TYPE, signed_in=True)
    assert res.status_code == 202, res.text
    over = _form(checkpoint, _part("name", b"n" * 1100))
    res, _ = _send(app, "POST", "/api/models", [over], FORM_TYPE, signed_in=True)
    assert res.status_code == 413 and "SEGTUNE_MAX_UPLOAD_MB" in res.json()["detail"]
    assert len(_temp_files(app)) == 0


def test_text_fields_held_in_memory_are_capped_together(app):
    app.state.settings.max_form_fields = 10**6
    body = (_part(f"f{i}", b"v" * 60_000) for i in range(100))
    res, pulled = _send(app, "POST", "/api/models", body, FORM_TYPE, signed_in=True)
    assert res.status_code == 413 and "more than 1 MB together" in res.json()["detail"]
    assert pulled < 2 * MiB


def test_part_headers_count_against_the_envelope(app):
    app.state.settings.max_upload_mb = 1
    # 4 KB of headers (python-multipart's most per line) and no data per part: few parts and
    # no content, but the envelope allowed (1 KB per part allowed, 1000 parts) runs out.
    part = _part("other", b"", "n" * 4000)
    body = itertools.repeat(part, 600)
    res, pulled = _send(app, "POST", "/api/models", body, FORM_TYPE, signed_in=True)
    assert res.status_code == 413 and "SEGTUNE_MAX_UPLOAD_MB" in res.json()["detail"]
    assert pulled <= MiB + 1000 * 1024 + len(part)


def test_each_route_declares_the_body_it_streams(app):
    # Any other declared body would be held to the JSON cap.
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            assert set(content) <= {JSON, MULTIPART, PNG}, (method, path)
    kinds = {}
    routers = [m.router for m in (auth, datasets, frames, masks, projects, seg_models, videos)]
    for router in [*routers, auth.public]:
        for route in router.routes:
            kinds.update({(method, route.path): body_kind(route) for method in route.methods})
    assert kinds["PUT", "/api/frames/{frame_id}/mask"] == PNG
    for path in ("/api/models", "/api/projects/{project_id}/images"):
        assert kinds["POST", path] == MULTIPART
    assert kinds["POST", "/api/projects/{project_id}/videos"] == MULTIPART
    assert kinds["POST", "/api/projects/{project_id}/imports"] == MULTIPART
    assert kinds["POST", "/api/projects"] == JSON
    assert kinds["POST", "/api/auth/login"] == JSON


def _multipart(files: dict, data: dict | None = None) -> tuple[bytes, dict]:
    request = httpx.Request("POST", "http://test", files=files, data=data)
    return request.read(), {"Content-Type": request.headers["Content-Type"]}


def _chunks(body: bytes, size: int = 64 * 1024):
    return iter([body[i : i + size] for i in range(0, len(body), size)])


def test_ordinary_uploads_work_with_and_without_a_content_length(client, project, tmp_path):
    pid = project["id"]
    video = make_video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    labels = np.zeros((30, 40), np.uint8)
    mask = io.BytesIO()
    Image.fromarray(labels, mode="L").save(mask, format="PNG")
    dataset = _zip(GOOD)
    # Each upload is sent twice: the second copy is kept on purpose, not refused as a duplicate.
    uploads = [
        (f"/api/projects/{pid}/images?duplicates=keep", {"files": ("f.png", _png())}, None, 201),
        (f"/api/projects/{pid}/videos?duplicates=keep", {"file": ("clip.mp4", video)}, None, 201),
        (f"/api/projects/{pid}/imports", {"file": ("d.zip", dataset)}, None, 202),
        ("/api/models", {"file": ("m.pth", b"\0" * 5000)}, {"preset": "cityscapes19"}, 202),
    ]
    for path, files, data, status in uploads:
        body, headers = _multipart(files, data)
        res = client.post(path, content=body, headers=headers)
        assert res.status_code == status, (path, res.text)
        res = client.post(path, content=_chunks(body), headers=headers)
        assert res.status_code == status, (path, res.text)
    frame = client.get(f"/api/projects/{pid}/frames").json()[0]
    png = {"Content-Type": "image/png"}
    url = f"/api/frames/{frame['id']}/mask"
    res = client.put(url, content=mask.getvalue(), headers={**png, "If-Match": '"0"'})
    assert res.status_code == 200 and res.json()["version"] == 1
    res = client.put(url, content=_chunks(mask.getvalue(), 50), headers={**png, "If-Match": '"1"'})
    assert res.status_code == 200 and res.json()["version"] == 2
