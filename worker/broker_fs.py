"""Celery's filesystem broker with messages that appear whole and are taken by one consumer.

kombu's own filesystem transport creates a message file, then writes it: a worker listing the
folder in between takes the empty file, fails to decode it and the job's message is gone (its
row stays queued for ever; 4 in 2000 messages in a tight loop here). It also moves taken files
to the system temp folder, a copy across file systems, so two workers can both take one file.
Here a message is written under a name no consumer matches and renamed into place, and a
consumer takes it by an atomic rename into the processed folder beside the queue.
"""

import contextlib
import os
import time
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.virtual import Empty
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

PARTIAL = ".part"  # a message being written; consumers match names ending in "<queue>.msg"


class Channel(filesystem.Channel):
    """A filesystem channel whose put and get are atomic renames."""

    @cached_property
    def processed_folder(self) -> str:
        """Where taken messages go: beside the queue folder unless set, so a rename suffices."""
        folder = self.transport_options.get("processed_folder") or os.path.join(
            os.path.dirname(os.path.abspath(self.data_folder_in)), "processed"
        )
        os.makedirs(folder, exist_ok=True)
        return folder

    def _put(self, queue, payload, **kwargs):
        """Write the message beside the queue, flush it, then rename it into the queue."""
        # Wall-clock nanoseconds, zero-padded: names sort in sending order, across reboots too
        # (kombu's unpadded monotonic milliseconds restart at boot and change width).
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            with open(final + PARTIAL, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
                fh.flush()
                os.fsync(fh.fileno())  # the bytes reach the disk before the name does
            os.replace(final + PARTIAL, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(final + PARTIAL)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        """Take the oldest whole message of the queue; another consumer's rename wins ties."""
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self.processed_folder, filename)
            try:
                os.rename(os.path.join(self.data_folder_in, filename), taken)
            except FileNotFoundError:
                continue  # another worker took it first
            except OSError as exc:
                raise ChannelError(f"Cannot take file {filename!r} from the queue.") from exc
            try:
                with open(taken, "rb") as fh:
                    payload = fh.read()
                if not self.store_processed:
                    os.remove(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the atomic channel."""

    Channel = Channel
