"""The embedded filesystem broker never hands out a half-written message, nor one twice.

The first test is the one that catches kombu's own transport: it reads a message in the middle
of its write every time (the race test only now and then)."""

import builtins
import os
import threading
import time

import pytest
from kombu import Connection
from kombu.transport.virtual import Empty

from backend.config import Settings
from worker import broker_fs
from worker.celery_app import create_celery

N = 500  # a tight loop of puts against two consumers polling flat out
PAD = "x" * 5000  # big enough that a write is not one instant


def _options(folder) -> dict:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


def _connect(folder) -> Connection:
    options = _options(folder)
    return Connection("filesystem://", transport=broker_fs.Transport, transport_options=options)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "queue").mkdir()
    return tmp_path


def test_the_celery_app_uses_the_atomic_transport(tmp_path):
    app = create_celery(Settings(data_dir=tmp_path, broker_url=""))
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker_fs.Transport)


def test_a_message_is_invisible_until_it_is_whole(folder, monkeypatch):
    consumer, producer = _connect(folder), _connect(folder)
    real_open = builtins.open
    seen_mid_write: list = []

    class Spy:
        """A file whose first write lets the consumer look at the folder first."""

        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            try:  # kombu's own transport hands out the empty file here
                seen_mid_write.append(channel._get("gpu"))
            except Empty:
                seen_mid_write.append("nothing")
            except Exception as exc:  # noqa: BLE001 - a message lost to a torn read
                seen_mid_write.append(repr(exc))
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    def spying_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        return Spy(fh) if "w" in mode and str(path).startswith(str(folder)) else fh

    with consumer, producer:
        # Both opened before the spy, which only watches writes under the broker folder.
        channel, sender = consumer.default_channel, producer.default_channel
        monkeypatch.setattr(builtins, "open", spying_open)
        sender._put("gpu", {"job": 3})
        monkeypatch.undo()
        assert seen_mid_write == ["nothing"]  # the hook ran, and saw no message yet
        assert channel._get("gpu") == {"job": 3}
        with pytest.raises(Empty):
            channel._get("gpu")
    assert os.listdir(folder / "queue") == [] and os.listdir(folder / "processed") == []


def test_racing_producers_and_consumers_lose_and_repeat_nothing(folder):
    got: list[int] = []
    errors: list[str] = []
    done = threading.Event()

    def consume():
        with _connect(folder) as conn:
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
    with _connect(folder) as conn:
        for i in range(N):
            conn.default_channel._put("cpu", {"i": i, "pad": PAD})
    done.set()
    for thread in consumers:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(got) == list(range(N))  # every message once: none lost, none doubled
