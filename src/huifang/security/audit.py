"""The audit log: append-only and tamper-evident.

Each entry stores `prev_hash` (the hash of the entry before it; 64 zeros for the first)
and `hash` = SHA-256 over the previous hash and a canonical serialization of its own
fields. Changing, inserting or deleting any entry breaks the chain from that point on, and
`verify_chain` names the first broken entry. The database refuses UPDATE and DELETE on the
table (triggers in migration 0004); the chain catches what a privileged user could still do.

Appends are serialized: PostgreSQL takes a transaction-scoped advisory lock before reading
the last hash, SQLite's write transactions (BEGIN IMMEDIATE) are serialized already.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from huifang.store.db import session_factory, transaction
from huifang.store.security_models import AuditEntry

GENESIS = "0" * 64
_LOCK_KEY = 7_243_011_905  # pg_advisory_xact_lock key of the audit chain


@dataclass(frozen=True)
class Actor:
    """Who did it and from where (the web request's user and client address)."""

    username: str | None
    role: str | None
    ip: str | None = None


SYSTEM = Actor("system", None, None)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:  # SQLite gives back what it stored: UTC without offset
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 of the previous hash and the entry's canonical JSON (sorted keys, UTF-8)."""
    doc = dict(fields)
    doc["at"] = _utc(doc["at"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "\n" + payload).encode("utf-8")).hexdigest()


def _fields(e: AuditEntry) -> dict[str, Any]:
    return {
        "at": e.at,
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "branch_code": e.branch_code,
        "ip": e.ip,
        "detail": e.detail or {},
    }


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | int | None = None,
    branch_code: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's transaction (so a change and its audit entry
    commit or roll back together)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    prev = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    # Microseconds are kept: both databases store them, so the hash reproduces on read.
    entry = AuditEntry(
        at=_utc(at or datetime.now(UTC)),
        actor=actor.username,
        role=actor.role,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        branch_code=branch_code,
        ip=actor.ip,
        detail=detail or {},
        prev_hash=prev or GENESIS,
    )
    entry.hash = entry_hash(entry.prev_hash, _fields(entry))
    session.add(entry)
    session.flush()
    return entry


def record_now(engine: Engine, actor: Actor, action: str, **kwargs: Any) -> None:
    """Append one entry in its own transaction (for reads and failed logins)."""
    with transaction(engine) as s:
        record(s, actor, action, **kwargs)


@dataclass(frozen=True)
class ChainReport:
    entries: int
    ok: bool
    first_bad_id: int | None = None
    problem: str | None = None


def _entries(engine: Engine, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        with session_factory(engine)() as s:
            rows = list(
                s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.id > last)
                    .order_by(AuditEntry.id)
                    .limit(batch)
                )
            )
        if not rows:
            return
        yield from rows
        last = rows[-1].id


def verify_chain(engine: Engine) -> ChainReport:
    """Recompute every hash in order; report the first entry that does not match."""
    prev = GENESIS
    n = 0
    for e in _entries(engine):
        n += 1
        if e.prev_hash != prev:
            return ChainReport(n, False, e.id, "前一条哈希不符 (条目被删除或插入) / chain broken")
        if entry_hash(prev, _fields(e)) != e.hash:
            return ChainReport(n, False, e.id, "内容与哈希不符 (条目被修改) / entry altered")
        prev = e.hash
    return ChainReport(n, True)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str | None
    role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    branch_code: str | None
    ip: str | None
    detail: dict[str, Any]


def search(
    engine: Engine,
    *,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    branches: Collection[str] | None = None,
    limit: int = 200,
) -> list[AuditRow]:
    """The newest entries first, filtered by who, what and which object; `branches`
    limits to entries about those branches (None: all entries)."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if action:
        q = q.where(AuditEntry.action.startswith(action, autoescape=True))
    if target_type:
        q = q.where(AuditEntry.target_type == target_type)
    if target_id:
        q = q.where(AuditEntry.target_id == target_id)
    if branches is not None:
        q = q.where(AuditEntry.branch_code.in_(sorted(branches)))
    with session_factory(engine)() as s:
        return [
            AuditRow(
                e.id,
                _utc(e.at),
                e.actor,
                e.role,
                e.action,
                e.target_type,
                e.target_id,
                e.branch_code,
                e.ip,
                e.detail or {},
            )
            for e in s.scalars(q)
        ]
