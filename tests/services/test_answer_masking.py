"""Personal answers are marked in the script (``personal:`` on an ask), not in a fixed list:
a manager's new script with a personal question is masked in QA, in voice-call transcripts
and in the borrower 360's bot calls; removing the mark unmasks the contacts made with that
version; adding one masks older contacts too (both databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from followup_book import make_book
from sqlalchemy import Engine

from huifang.domain import scripts as sc
from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.script_files import ScriptFileError, check_script_text, parse_script
from huifang.security import audit
from huifang.services import configs, qa, voice_calls
from huifang.services.answer_masking import (
    INBOUND_IDENTITY,
    MaskBook,
    mask_agent_line,
    mask_value,
)
from huifang.services.followup import generate_tasks, list_tasks
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt
from huifang.store.db import transaction
from huifang.store.followup_models import ContactAttempt
from huifang.store.voice_models import CallTranscriptTurn
from huifang.voice import faq_dialogue

SH = ZoneInfo("Asia/Shanghai")
GUARD = Guard(calendar=NoHolidays())
ADMIN = audit.Actor("admin", "admin")
EMPLOYER = "深圳前海微众科技有限公司"
ANSWERS = {"job_status": "changed", "new_employer": EMPLOYER, "new_phone": "13900001111"}


def _household(version: int, *, employer_mark: str | None, remarks_mark: str | None = None) -> str:
    """The routine script copied as a new script `household_check`, with `new_employer` (and
    `remarks`) marked personal as asked."""
    text = configs.packaged_text(configs.SCRIPT, "routine") or ""
    text = text.replace("id: routine", "id: household_check", 1)
    text = text.replace("version: 1", f"version: {version}", 1)
    for step, mark in (("new_employer", employer_mark), ("remarks", remarks_mark)):
        head = f"  - ask: {step}\n    type: free_text\n"
        assert head in text
        if mark is not None:
            text = text.replace(head, f"{head}    personal: {mark}\n", 1)
    return text


def _save(engine: Engine, text: str) -> None:
    configs.save_version(engine, configs.SCRIPT, None, text, "测试 / test", ADMIN, activate=True)


def _contact(engine: Engine, task: int, version: int, at: datetime, channel: Channel) -> int:
    result = record_attempt(
        engine,
        task,
        AttemptInput(
            channel,
            PartyRole.BORROWER,
            at,
            Outcome.RIGHT_PARTY_CONTACT,
            ended_at=at + timedelta(minutes=3),
            script_id="household_check",
            script_version=version,
            answers={**ANSWERS, "remarks": "周末在家"},
        ),
        guard=GUARD,
        complete=False,
    )
    assert result.allowed, result.refusals
    with transaction(engine) as s:  # what the borrower said at each step, as a bot call stores
        for seq, (step, text) in enumerate(ANSWERS.items()):
            s.add(
                CallTranscriptTurn(
                    attempt_id=result.attempt_id, seq=seq, speaker="borrower", text=text,
                    step_id=step,
                )
            )  # fmt: skip
    return result.attempt_id


def test_the_loader_reads_the_mark_and_refuses_an_unknown_one() -> None:
    script = parse_script(_household(1, employer_mark="true"))
    marks = dict(sc.personal_answers(script))
    assert marks["new_employer"] is sc.Personal.SECRET  # `true` hides the whole value
    assert marks["new_phone"] is sc.Personal.PHONE and marks["new_address"] is sc.Personal.ADDRESS
    assert marks["id_last4"] is sc.Personal.SECRET
    with pytest.raises(ScriptFileError) as bad:
        parse_script(_household(1, employer_mark="maybe"))
    assert "personal" in str(bad.value) and bad.value.problems[0].line is not None
    # a phone mask on a yes/no answer is refused by the validator, with its line
    text = _household(1, employer_mark=None).replace(
        "  - ask: phone_changed\n    type: yes_no\n",
        "  - ask: phone_changed\n    type: yes_no\n    personal: phone\n",
    )
    _script, problems = check_script_text(text)
    assert [p.code for p in problems] == ["bad_personal"] and problems[0].line


def test_shipped_scripts_mark_the_id_tail_and_new_contact_details() -> None:
    for script in configs.scripts(None).values():
        marks = sc.personal_answers(script)
        for ask in script.asks():
            if ask.id in ("id_last4", "new_phone", "new_address"):
                assert ask.personal is not None, (script.id, ask.id)
                assert ask.id in marks


def test_mask_value() -> None:
    assert mask_value(sc.Personal.SECRET, "123X") == "****"
    assert mask_value(sc.Personal.PHONE, "13900001111") == "139****1111"
    assert mask_value(sc.Personal.PHONE, "call me") == "******"
    assert mask_value(sc.Personal.ADDRESS, "广东省深圳市南山区科技园1号") == "广东省深******"
    assert mask_value(sc.Personal.SECRET, None) is None and mask_value(sc.Personal.SECRET, "") == ""


def test_a_new_scripts_personal_step_is_masked_and_removing_the_mark_unmasks(
    engine: Engine,
) -> None:
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    tasks = {(t.contract_no, t.purpose): t.id for t in list_tasks(engine)}
    task = tasks[("L-LOW", "first-visit")]

    _save(engine, _household(1, employer_mark="true"))
    marked = _contact(engine, task, 1, datetime(2026, 3, 24, 10, tzinfo=SH), Channel.AGENT_CALL)
    d = qa.contact(engine, marked, "aud")
    assert d.answers["new_employer"] == "****" and d.answers["job_status"] == "changed"
    assert d.answers["new_phone"] == "139****1111" and d.answers["remarks"] == "周末在家"
    assert {t.step: t.text for t in d.voice_turns}["new_employer"] == "****"
    turns = voice_calls.transcripts(engine, [marked])[marked]
    assert {t.step_id: t.text for t in turns}["new_employer"] == "****"

    # v2 drops the mark: contacts made with v2 show the employer; v1's contact stays masked
    _save(engine, _household(2, employer_mark=None))
    plain = _contact(engine, task, 2, datetime(2026, 3, 24, 11, tzinfo=SH), Channel.VOICE_AGENT)
    assert qa.contact(engine, plain, "aud").answers["new_employer"] == EMPLOYER
    both = voice_calls.transcripts(engine, [plain, marked])
    assert {t.step_id: t.text for t in both[plain]}["new_employer"] == EMPLOYER
    assert {t.step_id: t.text for t in both[marked]}["new_employer"] == "****"
    bot = voice_calls.voice_calls_of_loans(engine, [qa_loan(engine, plain)])
    assert [c["answers"]["new_employer"] for c in bot] == [EMPLOYER]
    assert bot[0]["answers"]["new_phone"] == "139****1111"

    # v3 marks the remarks: older contacts (v2's included) are masked by it too
    _save(engine, _household(3, employer_mark=None, remarks_mark="true"))
    assert qa.contact(engine, plain, "aud").answers["remarks"] == "****"
    assert qa.contact(engine, plain, "aud").answers["new_employer"] == EMPLOYER


def test_a_contact_without_a_script_is_masked_by_every_script_in_force(engine: Engine) -> None:
    mask = MaskBook(engine).for_contact(None, None)
    assert mask.value("new_phone", "13900001111") == "139****1111"
    assert mask.value("id_last4", "123X") == "****"
    assert mask.value("job_status", "lost") == "lost"
    gone = MaskBook(engine).for_contact("no_such_script", 7)
    assert gone.value("new_address", "广东省深圳市南山区科技园1号") == "广东省深******"
    # an inbound call to the FAQ assistant has no script: its identity replies are hidden
    assert {faq_dialogue.ID_STEP, faq_dialogue.BIRTH_STEP} <= set(INBOUND_IDENTITY)
    assert mask.value(faq_dialogue.BIRTH_STEP, "1990年5月1日") == "****"


def qa_loan(engine: Engine, attempt_id: int) -> int:
    """The loan of an attempt (for the 360's list of bot calls)."""
    with transaction(engine) as s:
        row = s.get(ContactAttempt, attempt_id)
        assert row is not None
        return row.loan_id


def test_mask_agent_line() -> None:
    secret = sc.Personal.SECRET
    said = "您说的是“123X”，对吗？请说对或不对，或按1确认、按2重说。"
    assert mask_agent_line(secret, said) == "您说的是****，对吗？请说对或不对，或按1确认、按2重说。"
    assert mask_agent_line(secret, "You said May 1, 1990, is that right?") == (
        "You said ****, is that right?"
    )
    assert mask_agent_line(secret, "号码是1234吗") == "号码是****吗"
    assert mask_agent_line(secret, "请说身份证后4位。") == "请说身份证后4位。"  # the question
    phone = "您说的是“13900001111”，对吗？"
    assert mask_agent_line(sc.Personal.PHONE, phone) == "您说的是“139****1111”，对吗？"
    assert mask_agent_line(sc.Personal.PHONE, "尾号1111的号码，对吗？") == "尾号1111的号码，对吗？"
    address = "您说的是“广东省深圳市南山区科技园1号”，对吗？"
    assert mask_agent_line(sc.Personal.ADDRESS, address) == "您说的是“广东省深******”，对吗？"


def test_an_agent_turn_that_repeats_a_personal_answer_is_masked_in_qa_and_transcripts(
    engine: Engine,
) -> None:
    """Calls stored before read-backs of personal answers were stopped hold the ID tail, the
    new phone and address in agent turns: every view masks them, the questions stay."""
    make_book(engine)
    generate_tasks(engine, date(2026, 3, 20), now=datetime(2026, 3, 20, tzinfo=UTC))
    tasks = {(t.contract_no, t.purpose): t.id for t in list_tasks(engine)}
    _save(engine, _household(1, employer_mark=None))
    attempt = _contact(
        engine,
        tasks[("L-LOW", "first-visit")],
        1,
        datetime(2026, 3, 24, 10, tzinfo=SH),
        Channel.VOICE_AGENT,
    )
    agent_turns = [
        ("id_last4", "请说您身份证号码的最后四位。"),
        ("id_last4", "您说的是“4321”，对吗？请说对或不对，或按1确认、按2重说。"),
        ("new_phone", "您说的是“13900001111”，对吗？请说对或不对，或按1确认、按2重说。"),
        ("new_address", "您说的是“广东省深圳市南山区科技园1号”，对吗？"),
        ("job_status", "您说的是“换了工作”，对吗？"),
    ]
    with transaction(engine) as s:
        for seq, (step, text) in enumerate(agent_turns, start=100):
            s.add(
                CallTranscriptTurn(
                    attempt_id=attempt, seq=seq, speaker="agent", text=text, step_id=step
                )
            )
    expected = [
        "请说您身份证号码的最后四位。",
        "您说的是****，对吗？请说对或不对，或按1确认、按2重说。",
        "您说的是“139****1111”，对吗？请说对或不对，或按1确认、按2重说。",
        "您说的是“广东省深******”，对吗？",
        "您说的是“换了工作”，对吗？",  # not a personal step: as said
    ]
    stored = [t.text for t in voice_calls.transcripts(engine, [attempt])[attempt]]
    assert [t for t in stored if "您说的是" in t or "最后四位" in t] == expected
    assert not any("4321" in t or "13900001111" in t or "科技园" in t for t in stored)
    shown = [t.text for t in qa.contact(engine, attempt, "aud").voice_turns]
    assert [t for t in shown if "您说的是" in t or "最后四位" in t] == expected
    bot = voice_calls.voice_calls_of_loans(engine, [qa_loan(engine, attempt)])
    assert not any("4321" in t.text for c in bot for t in c["transcript"])
