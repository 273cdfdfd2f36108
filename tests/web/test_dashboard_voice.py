"""The manager's dashboard and /api/v1/dashboard show the voice agent's figures (calls,
connection, completion and handover rates, handle time, cost per completed contact) for the
caller's branches, next to the cost per completed contact of agent calls."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from web_helpers import HOME, login_client

from huifang.domain.campaigns import CampaignSpec
from huifang.domain.compliance import NoHolidays
from huifang.services import campaigns as cs
from huifang.services import followup
from huifang.services.followup_attempts import Guard
from huifang.voice.campaign_dialer import BorrowerModel, SimulatedDialer
from huifang.web.app import create_app

TZ = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.parametrize(
    "book", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def test_voice_channel_figures_on_the_dashboard(book) -> None:  # type: ignore[no-untyped-def]
    followup.generate_tasks(book.engine, date(2026, 11, 1))
    spec = CampaignSpec("看板外呼", time(9), time(20, 30), 4, 3, 60, branches=frozenset({HOME}))
    campaign = cs.create_campaign(book.engine, spec).id
    day = datetime.now(TZ).date()
    clock = cs.SimClock(datetime.combine(day, time(10), TZ))
    model = BorrowerModel(answer={"low": 0.7, "medium": 0.7, "high": 0.7})
    report = asyncio.run(
        cs.run_campaign(
            book.engine,
            campaign,
            SimulatedDialer(clock, seed=3, model=model),
            clock=clock,
            guard=Guard(calendar=NoHolidays()),
            once=True,
        )
    )
    assert report.dials > 0
    app = create_app(book.engine)
    manager, _ = login_client(app, "manager")
    data = manager.get("/api/v1/dashboard").json()
    voice = data["voice"]
    assert voice["calls"] == report.dials and voice["connected"] == report.connected
    assert voice["completed"] == report.completed
    assert Decimal(voice["cost"]) == report.cost
    if report.connected:
        assert Decimal(voice["connection_rate"]) == (
            Decimal(report.connected) / Decimal(report.dials)
        ).quantize(Decimal("0.0001"))
    costs = {c["channel"]: c for c in data["channel_costs"]}
    assert costs["voice-agent"]["attempts"] == report.dials
    assert costs["voice-agent"]["completed"] == report.completed
    page = manager.get("/dashboard")
    assert 'id="voice-channel"' in page.text and 'id="channel-costs"' in page.text
    assert "智能外呼" in page.text
    assert "Voice agent" in manager.get("/dashboard?lang=en").text
