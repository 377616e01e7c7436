"""Validation errors are 422 with readable JSON, also for bodies that are not text."""

from fastapi.routing import iter_route_contexts

BINARY = bytes(range(256))


def _json_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a JSON body."""
    found = []
    for route in iter_route_contexts(app.routes):
        body = getattr(route, "body_field", None)
        extra = getattr(route, "openapi_extra", None) or {}
        if body is not None and "requestBody" not in extra:
            found += [(m, route.path) for m in route.methods]
    return found


def test_a_binary_multipart_body_to_a_json_route_is_a_422_not_a_500(client, project):
    routes = _json_routes(client.app)
    assert ("POST", "/api/projects") in routes and len(routes) > 10
    for method, path in routes:
        filled = path.replace("{project_id}", str(project["id"]))
        for name in ("video_id", "frame_id", "job_id", "model_id", "user_id", "token_id"):
            filled = filled.replace("{" + name + "}", "1")
        res = client.request(method, filled, files={"file": ("x.bin", BINARY)})
        assert res.status_code < 500, (method, path, res.text)
        if res.status_code == 422:
            assert isinstance(res.json()["detail"], list | str)


def test_the_offending_text_input_is_still_shown(client):
    res = client.post("/api/projects", json={"name": 5})
    assert res.status_code == 422
    assert res.json()["detail"][0]["loc"] == ["body", "name"]
