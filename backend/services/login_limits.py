"""Failed-login throttling: a sliding window per account and per client address.

Failures are rows in the database, so all web processes and restarts share the count.
"""

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.errors import TooManyAttempts
from backend.models import LoginFailure
from backend.models.base import utcnow

# One address may be a whole office behind NAT, so it gets more tries than one account.
ADDRESS_FACTOR = 4


class LoginLimiter:
    """Counts failures in the last `window_s` seconds; over the limit, logins are refused."""

    def __init__(self, attempts: int, window_s: float, clock=utcnow):
        self.attempts, self.window, self.clock = attempts, timedelta(seconds=window_s), clock

    @staticmethod
    def _account(email: str) -> str:
        return f"email:{email.strip().lower()}"[:300]

    def _limits(self, email: str, address: str) -> list[tuple[str, int]]:
        return [
            (self._account(email), self.attempts),
            (f"address:{address}"[:300], self.attempts * ADDRESS_FACTOR),
        ]

    def check(self, session: Session, email: str, address: str) -> None:
        """TooManyAttempts (with retry_after seconds) when either limit is used up."""
        now = self.clock()
        for key, limit in self._limits(email, address):
            query = select(func.count(), func.min(LoginFailure.at)).where(
                LoginFailure.key == key, LoginFailure.at > now - self.window
            )
            count, oldest = session.execute(query).one()
            if count >= limit:
                wait = int((oldest + self.window - now).total_seconds()) + 1
                raise TooManyAttempts(
                    f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
                )

    def failed(self, session: Session, email: str, address: str) -> None:
        """Record a failed attempt and commit it (the request itself fails afterwards)."""
        now = self.clock()
        session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.window))
        session.add_all(LoginFailure(key=key, at=now) for key, _ in self._limits(email, address))
        session.commit()

    def succeeded(self, session: Session, email: str) -> None:
        """Forget the account's failures after a successful sign-in."""
        session.execute(delete(LoginFailure).where(LoginFailure.key == self._account(email)))
