"""Invariants that simultaneous changes must not break: a project keeps an owner, the site keeps
an active administrator."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from backend.db import make_engine, make_sessionmaker, session_scope
from backend.errors import Conflict
from backend.models import Membership, User
from backend.services import members, users
from backend.services.projects import create_project

ROUNDS = 30


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _race(sessions, *changes) -> list[str]:
    """Start every change at the same moment, each in its own session and thread."""
    barrier = threading.Barrier(len(changes))

    def run(change) -> str:
        with sessions() as session:
            barrier.wait()
            try:
                change(session)
            except Conflict:
                session.rollback()
                return "refused"
            # A route commits a little after the service returns (the response is built first);
            # the pause widens that gap so that a check made outside the lock is caught out.
            time.sleep(0.01)
            session.commit()
            return "done"

    with ThreadPoolExecutor(len(changes)) as pool:
        return sorted(pool.map(run, changes))


def _accounts(sessions, *emails, is_admin=False) -> list[User]:
    with session_scope(sessions) as session:
        # A made-up hash: these accounts never sign in, and argon2 is slow on purpose.
        made = [
            users.create_user(session, e, "", is_admin=is_admin, password_hash="x") for e in emails
        ]
    return made


def _owners(sessions, project_id: int) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Membership)
        return session.scalar(
            query.where(Membership.project_id == project_id, Membership.role == "owner")
        )


def _make_owners(sessions, project_id: int, people: list[User]) -> None:
    with session_scope(sessions) as session:
        for person in people:
            members.set_member(session, project_id, person.email, "owner")


def _demote(project_id: int, person: User):
    return lambda session: members.set_member(session, project_id, person.email, "annotator")


def _remove(project_id: int, person: User):
    return lambda session: members.remove_member(session, project_id, person.id)


def test_two_owners_demoting_or_removing_each_other_leave_one_owner(sessions):
    ana, ben = _accounts(sessions, "ana@example.org", "ben@example.org")
    with session_scope(sessions) as session:
        project_id = create_project(session, "shared").id
    kinds = [(_demote, _demote), (_remove, _remove), (_demote, _remove)]
    for i in range(ROUNDS):
        _make_owners(sessions, project_id, [ana, ben])
        first, second = kinds[i % len(kinds)]
        outcome = _race(sessions, first(project_id, ben), second(project_id, ana))
        assert outcome == ["done", "refused"], f"round {i}"
        assert _owners(sessions, project_id) == 1, f"round {i}"


def _active_admins(sessions) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(User)
        return session.scalar(query.where(User.is_admin.is_(True), User.is_active.is_(True)))


def test_two_admins_demoting_or_disabling_each_other_leave_one_admin(sessions):
    ana, ben = _accounts(sessions, "ana@example.org", "ben@example.org", is_admin=True)
    kinds = [{"is_admin": False}, {"is_active": False}]
    for i in range(ROUNDS):
        with session_scope(sessions) as session:
            for person in (ana, ben):
                users.update_user(session, person.id, is_admin=True, is_active=True)
        first, second = kinds[i % 2], kinds[(i // 2) % 2]
        outcome = _race(
            sessions,
            lambda session, f=first: users.update_user(session, ben.id, **f),
            lambda session, s=second: users.update_user(session, ana.id, **s),
        )
        assert outcome == ["done", "refused"], f"round {i}"
        assert _active_admins(sessions) == 1, f"round {i}"
