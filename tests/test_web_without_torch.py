"""The web process must never import torch (its image has none)."""

import subprocess
import sys

SCRIPT = """
import sys
from backend.app import create_app
from backend.config import Settings
import backend.cli, backend.api.training, backend.api.seg_models
app = create_app(Settings(data_dir=sys.argv[1]))
from fastapi.testclient import TestClient
with TestClient(app) as client:
    assert client.get('/api/openapi.json').status_code == 401
    assert client.get('/login').status_code == 200
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxruntime', 'cv2'))
print(','.join(heavy))
"""


def test_web_app_imports_no_torch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
