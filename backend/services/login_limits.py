"""Sign-in throttling: a sliding window of attempts per account and per client address.

Each attempt is reserved (a row) before its password is checked, so that guesses sent at once
cannot all slip past the count; a success takes its reservation back. The rows are in the
database, so all web processes and restarts share the count.
"""

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.db import lock_names
from backend.errors import TooManyAttempts
from backend.models import LoginFailure
from backend.models.base import utcnow

# One address may be a whole office behind NAT, so it gets more tries than one account.
ADDRESS_FACTOR = 4


class LoginLimiter:
    """Counts attempts in the last `window_s` seconds; over the limit, sign-ins are refused."""

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

    def reserve(self, session: Session, email: str, address: str) -> list[int]:
        """Count an attempt before its password is checked, and commit that.

        Raises TooManyAttempts (with retry_after seconds) when either limit is used up. The
        count and the new rows are one transaction, serialised per account and address, so
        concurrent attempts are counted one after the other. Returns the rows' ids: left in
        place, they count as a failure.
        """
        now, limits = self.clock(), self._limits(email, address)
        lock_names(session, [key for key, _ in limits])
        for key, limit in limits:
            query = select(func.count(), func.min(LoginFailure.at)).where(
                LoginFailure.key == key, LoginFailure.at > now - self.window
            )
            count, oldest = session.execute(query).one()
            if count >= limit:
                session.rollback()  # lets the next attempt in at once
                wait = int((oldest + self.window - now).total_seconds()) + 1
                raise TooManyAttempts(
                    f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait
                )
        rows = [LoginFailure(key=key, at=now) for key, _ in limits]
        session.add_all(rows)
        # Sweep expired rows; on PostgreSQL, skip those another sweep is deleting right now
        # instead of waiting for it (or deadlocking with it).
        expired = select(LoginFailure.id).where(LoginFailure.at <= now - self.window)
        stale = expired.with_for_update(skip_locked=True).scalar_subquery()
        session.execute(delete(LoginFailure).where(LoginFailure.id.in_(stale)))
        session.commit()
        return [row.id for row in rows]

    def succeeded(self, session: Session, email: str, attempt: list[int]) -> None:
        """Forget the account's failures and this attempt's reservation after a sign-in."""
        account = LoginFailure.key == self._account(email)
        session.execute(delete(LoginFailure).where(account | LoginFailure.id.in_(attempt)))
