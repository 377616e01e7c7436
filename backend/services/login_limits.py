"""Failed-login throttling: a sliding window per account and per client address."""

import threading
import time
from collections import defaultdict, deque

from backend.errors import TooManyAttempts

# One address may be a whole office behind NAT, so it gets more tries than one account.
ADDRESS_FACTOR = 4


class LoginLimiter:
    """Counts failures in the last `window_s` seconds; over the limit, logins are refused."""

    def __init__(self, attempts: int, window_s: float, clock=time.monotonic):
        self.attempts, self.window_s, self.clock = attempts, window_s, clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _limits(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (f"email:{email.strip().lower()}", self.attempts),
            (f"address:{address}", self.attempts * ADDRESS_FACTOR),
        ]

    def check(self, email: str, address: str) -> None:
        """TooManyAttempts (with retry_after seconds) when either limit is used up."""
        now = self.clock()
        with self._lock:
            for key, limit in self._limits(email, address):
                times = self._failures.get(key)
                while times and times[0] <= now - self.window_s:
                    times.popleft()
                if times is not None and len(times) >= limit:
                    wait = int(times[0] + self.window_s - now) + 1
                    raise TooManyAttempts(
                        f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
                    )

    def failed(self, email: str, address: str) -> None:
        """Record a failed attempt."""
        now = self.clock()
        with self._lock:
            for key, _ in self._limits(email, address):
                self._failures[key].append(now)

    def succeeded(self, email: str) -> None:
        """Forget the account's failures after a successful sign-in."""
        with self._lock:
            self._failures.pop(f"email:{email.strip().lower()}", None)
