"""Dataset import and export from the project page: preview, mapping, progress, download."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests import http
from tests.api.test_datasets import _image, _labels, _mask, _zip
from tests.browser.test_upload_and_sample import create_project

SHOTS = Path("/tmp/shots/imex")


def _camvid(path: Path) -> dict[str, np.ndarray]:
    """A small CamVid-layout zip (train, val, test); returns each image's source labels."""
    entries, labels = {}, {}
    for i, split in enumerate(["train", "val", "test"]):
        values = _labels(i, [2, 6, 8, 11], size=(32, 24))
        entries[f"CamVid/{split}/s_{i}.png"] = _image(i, size=(32, 24))
        entries[f"CamVid/{split}annot/s_{i}.png"] = _mask(values)
        labels[f"CamVid/{split}/s_{i}.png"] = values
    path.write_bytes(_zip(entries))
    return labels


def _row(dialog, value: str):
    return dialog.locator(f'[data-testid="import-value-row"][data-value="{value}"]')


def test_import_with_preview_then_export_and_download(page: Page, live_server, tmp_path: Path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    project_id = create_project(page, "Imported streets")
    archive = tmp_path / "camvid.zip"
    source = _camvid(archive)

    page.get_by_test_id("project-import").click()
    dialog = page.get_by_test_id("import-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("import-submit")).to_be_disabled()

    # A hostile archive is refused by name at the preview, and nothing can be imported.
    evil = tmp_path / "evil.zip"
    evil.write_bytes(_zip({"images/a.png": _image(1), "../escape.png": _image(2)}))
    dialog.get_by_test_id("import-file").set_input_files(str(evil))
    dialog.get_by_test_id("import-preview-button").click()
    expect(dialog.get_by_test_id("import-error")).to_contain_text(
        "'../escape.png' points outside the archive"
    )
    expect(dialog.get_by_test_id("import-preview")).to_be_hidden()
    expect(dialog.get_by_test_id("import-submit")).to_be_disabled()

    dialog.get_by_test_id("import-file").set_input_files(str(archive))
    expect(dialog.get_by_test_id("import-error")).to_be_hidden()

    # Without a mapping, the CamVid ids other than 2 have no class: named, and import is off.
    dialog.get_by_test_id("import-preview-button").click()
    expect(dialog.get_by_test_id("import-preview")).to_be_visible()
    expect(dialog.get_by_test_id("import-summary")).to_contain_text("camvid layout · 3 frames")
    expect(dialog.get_by_test_id("import-unmapped")).to_contain_text("6, 8, 11")
    expect(dialog.get_by_test_id("import-submit")).to_be_disabled()

    # The CamVid preset: every value has a class; then 2 is changed to car by hand.
    expect(dialog.locator('option[value="camvid-default"]')).to_have_count(1)
    dialog.get_by_test_id("import-mapping").select_option("camvid-default")
    expect(dialog.get_by_test_id("import-preview")).to_be_hidden()
    dialog.get_by_test_id("import-preview-button").click()
    expect(dialog.get_by_test_id("import-value-row")).to_have_count(4)
    expect(dialog.get_by_test_id("import-unmapped")).to_be_hidden()
    expected = {"2": "0", "6": "2", "8": "1", "11": "255"}
    for value, target in expected.items():
        expect(_row(dialog, value).get_by_test_id("import-target")).to_have_value(target)
    expect(dialog.get_by_test_id("import-sample-note")).to_have_text("Values from all 3 masks.")
    _row(dialog, "2").get_by_test_id("import-target").select_option("1")
    expect(dialog.get_by_test_id("import-mapping")).to_have_value("custom")
    custom = json.loads(dialog.get_by_test_id("import-mapping-json").input_value())
    assert custom["2"] == 1 and custom["8"] == 1 and custom["default"] == "background"
    expect(dialog.get_by_test_id("import-submit")).to_be_enabled()
    dialog.screenshot(path=str(SHOTS / "import-preview.png"))

    dialog.get_by_test_id("import-submit").click()
    card = dialog.get_by_test_id("job-card")
    expect(card.get_by_test_id("job-status")).to_have_text("succeeded", timeout=60_000)
    expect(dialog.get_by_test_id("import-done")).to_have_text(
        "Imported 3 frames (3 with masks) from camvid.zip."
    )
    dialog.screenshot(path=str(SHOTS / "import-done.png"))
    dialog.get_by_test_id("import-close").click()
    expect(page.get_by_test_id("frame-card")).to_have_count(3)
    listed = page.get_by_test_id("job-list").get_by_test_id("job-card")
    expect(listed).to_have_count(1)
    expect(listed.locator(".job-title")).to_have_text("Import of camvid.zip")
    page.screenshot(path=str(SHOTS / "project-after-import.png"))
    expect(page.get_by_test_id("count-split-train")).to_have_attribute("data-count", "1")
    frames = http.get(f"{live_server.url}/api/projects/{project_id}/frames").json()
    lut = np.zeros(256, np.uint8)
    lut[[2, 6, 8, 11]] = [1, 2, 1, 255]  # the edited mapping reached the server
    for frame in frames:
        data = http.get(f"{live_server.url}/api/frames/{frame['id']}/mask").content
        stored = np.asarray(Image.open(io.BytesIO(data)))
        assert np.array_equal(stored, lut[source[frame["source_name"]]])

    # Export the train split as Cityscapes with COCO; the link downloads over the cookie.
    page.get_by_test_id("project-export").click()
    export = page.get_by_test_id("export-dialog")
    export.get_by_test_id("export-split").select_option("train")
    export.get_by_test_id("export-layout").select_option("cityscapes")
    export.get_by_test_id("export-coco").check()
    export.get_by_test_id("export-submit").click()
    link = export.get_by_test_id("export-download")
    expect(link).to_be_visible(timeout=60_000)
    expect(link).to_contain_text("(1 frame,")
    export.screenshot(path=str(SHOTS / "export-ready.png"))
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "Imported_streets-train-cityscapes.zip"
    with zipfile.ZipFile(download.path()) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert {"manifest.json", "coco.json"} <= names
        (mask_name,) = [n for n in names if n.endswith("_gtFine_labelIds.png")]
        assert mask_name.startswith("gtFine/train/images/")
        assert [f["split"] for f in manifest["frames"]] == ["train"]
        exported = np.asarray(Image.open(io.BytesIO(zf.read(mask_name))))
    assert np.array_equal(exported, lut[source["CamVid/train/s_0.png"]])
