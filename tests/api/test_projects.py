"""Projects and classes through the API."""


def test_create_with_default_classes(client):
    res = client.post("/api/projects", json={"name": "Baltimore"})
    assert res.status_code == 201
    body = res.json()
    assert [c["name"] for c in body["classes"]] == ["background", "car", "traffic sign"]
    assert [c["index"] for c in body["classes"]] == [0, 1, 2]
    assert client.get(f"/api/projects/{body['id']}").json() == body
    assert [p["id"] for p in client.get("/api/projects").json()] == [body["id"]]


def test_custom_classes_and_edit(client):
    classes = [{"name": "road", "color": "#808080"}, {"name": "car", "color": "#FF0000"}]
    body = client.post("/api/projects", json={"name": "p", "classes": classes}).json()
    assert body["classes"][1] == {"index": 1, "name": "car", "color": "#ff0000"}
    edited = client.patch(
        f"/api/projects/{body['id']}",
        json={"classes": [*classes, {"name": "sign", "color": "#ffff00"}]},
    ).json()
    assert [c["name"] for c in edited["classes"]] == ["road", "car", "sign"]


def test_class_limits(client):
    too_many = [{"name": f"c{i}", "color": "#000000"} for i in range(255)]
    assert client.post("/api/projects", json={"name": "p", "classes": too_many}).status_code == 422
    at_limit = too_many[:254]
    assert client.post("/api/projects", json={"name": "p", "classes": at_limit}).status_code == 201
    dup = [{"name": "car", "color": "#000000"}, {"name": "Car", "color": "#000000"}]
    res = client.post("/api/projects", json={"name": "p", "classes": dup})
    assert res.status_code == 422 and "twice" in res.json()["detail"]
    bad_color = [{"name": "car", "color": "red"}]
    assert client.post("/api/projects", json={"name": "p", "classes": bad_color}).status_code == 422


def test_unknown_project_is_404(client):
    res = client.get("/api/projects/999")
    assert res.status_code == 404 and "999" in res.json()["detail"]


def test_health(client):
    assert client.get("/api/health").json() == {"status": "ok"}
