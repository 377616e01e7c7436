"""The embedded filesystem broker never hands out a half-written message, nor one twice."""

import os
import threading
import time

import pytest
from kombu import Connection
from kombu.transport.virtual import Empty

from backend.config import Settings
from worker import broker_fs
from worker.celery_app import create_celery

N = 3000  # a tight loop of puts against consumers polling flat out (kombu's own loses ~1)
PAD = "x" * 5000  # big enough that a write is not one instant


def _options(folder) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "queue").mkdir()
    return tmp_path


def test_the_celery_app_uses_the_atomic_transport(tmp_path):
    app = create_celery(Settings(data_dir=tmp_path))
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker_fs.Transport)


def test_a_message_is_invisible_until_it_is_whole(folder, monkeypatch):
    with Connection("filesystem://", transport=broker_fs.Transport,
                    transport_options=_options(folder)) as conn:  # fmt: skip
        channel = conn.default_channel
        rename = os.replace
        seen_while_writing = []

        def look_then_rename(src, dst):
            # The bytes are on disk under the partial name: a consumer must not see them yet.
            try:
                seen_while_writing.append(channel._get("gpu"))
            except Empty:
                pass
            rename(src, dst)

        monkeypatch.setattr(broker_fs.os, "replace", look_then_rename)
        channel._put("gpu", {"job": 3})
        assert seen_while_writing == []
        assert channel._get("gpu") == {"job": 3}
        with pytest.raises(Empty):
            channel._get("gpu")
        assert os.listdir(folder / "queue") == [] and os.listdir(folder / "processed") == []


def test_racing_producers_and_consumers_lose_and_repeat_nothing(folder):
    got: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def consume():
        with Connection("filesystem://", transport=broker_fs.Transport,
                        transport_options=_options(folder)) as conn:  # fmt: skip
            channel = conn.default_channel
            while not (done.is_set() and not os.listdir(folder / "queue")):
                try:
                    got.append(channel._get("cpu")["i"])
                except Empty:
                    time.sleep(0)
                except Exception as exc:  # noqa: BLE001 - a lost message, counted below
                    errors.append(repr(exc))

    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in consumers:
        thread.start()
    with Connection("filesystem://", transport=broker_fs.Transport,
                    transport_options=_options(folder)) as conn:  # fmt: skip
        for i in range(N):
            conn.default_channel._put("cpu", {"i": i, "pad": PAD})
    done.set()
    for thread in consumers:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(got) == list(range(N))  # every message once: none lost, none doubled
