"""The call screen's storage: the script runner's state of a call in progress.

`call_runs` keeps one row per (task, agent) call being worked in the browser: the script
and the runner state (`domain.scripts.state_to_dict`), so every HTMX answer is applied on
the server to the state it left, any web process can serve the next request, and a
reloaded page resumes where the agent was. The row is closed (`closed_at`) when the
outcome is recorded, and names the attempt that recorded it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from huifang.store.models import Base, Id

TZ = DateTime(timezone=True)


class CallRun(Base):
    """A script run of one agent on one follow-up task (通话中的话术进度)."""

    __tablename__ = "call_runs"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("followup_tasks.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("followup_agents.id"))
    script_id: Mapped[str] = mapped_column(String(64))
    script_version: Mapped[int]
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("followup_attempts.id"))

    __table_args__ = (Index("ix_call_runs_task_agent", "task_id", "agent_id"),)
