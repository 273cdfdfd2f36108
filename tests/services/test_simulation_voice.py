"""The month simulation with the voice channel: a campaign works the tasks the policy allows
it first each day (real runner, simulated borrowers), the agents the rest."""

from __future__ import annotations

from datetime import date

from followup_book import make_book
from sqlalchemy import Engine, func, select

from huifang.domain.compliance import NoHolidays
from huifang.services.followup_simulation import VoiceChannel, simulate
from huifang.store.campaign_models import CampaignCall
from huifang.store.db import transaction
from huifang.store.followup_models import Agent, ContactAttempt, Visit
from huifang.voice.campaign_dialer import SimulatedDialer


def test_simulation_with_the_voice_channel(engine: Engine) -> None:
    make_book(engine)
    voice = VoiceChannel(lambda clock: SimulatedDialer(clock, seed=5), lines=2)
    report = simulate(engine, date(2026, 3, 23), 2, seed=5, calendar=NoHolidays(), voice=voice)
    calls = report.total("voice_calls")
    assert calls > 0
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(CampaignCall)) == calls
        by_channel = dict(
            s.execute(
                select(ContactAttempt.channel, func.count())
                .where(ContactAttempt.status == "made")
                .group_by(ContactAttempt.channel)
            ).all()
        )
        assert by_channel["voice-agent"] == calls
        voice_visits = s.scalar(
            select(func.count()).select_from(Visit).where(Visit.channel == "voice-agent")
        )
        bot = s.scalar(select(Agent.id).where(Agent.username == "voice-bot"))
        agent_calls_by_bot = s.scalar(
            select(func.count())
            .select_from(ContactAttempt)
            .where(ContactAttempt.channel == "agent-call", ContactAttempt.agent_id == bot)
        )
    assert voice_visits == report.total("voice_completed")
    # the voice line never works the agents' queue (it is inactive for routing and claims)
    assert bot is not None and agent_calls_by_bot == 0
