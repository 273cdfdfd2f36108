"""The policy and script editor (head-office managers) and the auditor's QA and refusals
pages and API, over the seeded demo book on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from voice_helpers import stored_voice_call
from web_helpers import OTHER, PASSWORD, login_client

from huifang.domain import qa as qa_rules
from huifang.domain.compliance import Channel, NoHolidays, Outcome, PartyRole
from huifang.security import audit
from huifang.security.accounts import create_user
from huifang.services import configs, followup
from huifang.services.followup_attempts import AttemptInput, Guard, record_attempt
from huifang.web.app import create_app

MONDAY_10 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
EXTERNAL_RECORDING = "https://pbx.example.com/rec/0001.wav"


@pytest.fixture(scope="module")
def app(book: Any) -> Any:
    create_user(book.engine, "mgr_all", PASSWORD, "manager", all_branches=True)
    return create_app(book.engine)


def _htmx(csrf: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRF-Token": csrf}


def test_the_editor_validates_saves_activates_and_rolls_back(app: Any, book: Any) -> None:
    scoped, _ = login_client(app, "manager")
    assert scoped.get("/config").status_code == 403
    assert scoped.get("/api/v1/config").status_code == 403
    client, csrf = login_client(app, "mgr_all")
    page = client.get("/config")
    assert page.status_code == 200 and "routine" in page.text and "回访策略" in page.text
    editor = client.get("/config/script/routine")
    assert editor.status_code == 200 and "version: 2" in editor.text  # the draft, raised
    assert client.get("/config/script/nosuch").status_code == 404
    draft = configs.next_draft(configs.packaged_text(configs.SCRIPT, "routine") or "", 1)

    # HTMX validation: the YAML error with its line, in Chinese (and English on request)
    bad = client.post(
        "/config/script/routine/validate",
        data={"content": draft.replace("steps:", "steps: [", 1)},
        headers=_htmx(csrf),
    )
    assert bad.status_code == 200 and "第 " in bad.text and "YAML 语法错误" in bad.text
    english = client.post(
        "/config/script/routine/validate?lang=en",
        data={"content": draft.replace("{borrower_name}", "{plate}", 1)},
        headers=_htmx(csrf),
    )
    assert "line " in english.text and "unknown_variable" in english.text
    client.get("/config?lang=zh")  # back to Chinese (the language is kept in a cookie)
    good = client.post(
        "/config/script/routine/validate", data={"content": draft}, headers=_htmx(csrf)
    )
    assert 'id="config-valid"' in good.text

    # saving: refused with the problems, then saved and activated
    refused = client.post(
        "/config/script/routine/versions",
        data={"content": draft, "comment": "", "activate": "1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert refused.status_code == 200 and "修改说明" in refused.text
    saved = client.post(
        "/config/script/routine/versions",
        data={"content": draft, "comment": "问候语调整", "activate": "1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    after = client.get(saved.headers["location"])
    assert 'id="active-version">v2<' in after.text and "问候语调整" in after.text
    assert configs.scripts(book.engine)["routine"].version == 2

    # the API: the document, validation, a save that does not raise the version, diff
    doc = client.get("/api/v1/config/script/routine").json()
    assert doc["document"]["active_version"] == 2 and len(doc["versions"]) == 1
    assert "version: 3" in doc["draft"]
    v2_id = doc["versions"][0]["id"]
    checked = client.post(
        "/api/v1/config/script/routine/validate",
        json={"content": draft},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert not checked["ok"] and checked["problems"][0]["code"] == "version_not_raised"
    conflict = client.post(
        "/api/v1/config/script/routine/versions",
        json={"content": draft, "comment": "again"},
        headers={"X-CSRF-Token": csrf},
    )
    assert conflict.status_code == 409 and conflict.json()["problems"]
    broken = client.post(
        "/api/v1/config/followup_policy/followup/versions",
        json={"content": "version: 2\nname: x\npurposes: 3\n", "comment": "x"},
        headers={"X-CSRF-Token": csrf},
    )
    assert broken.status_code == 422 and broken.json()["problems"][0]["line"] == 3
    diff = client.get(f"/api/v1/config/script/routine/diff?new={v2_id}").json()
    assert "-version: 1" in diff["lines"] and "+version: 2" in diff["lines"]
    assert client.get(f"/config/script/routine/diff?new={v2_id}").status_code == 200
    got = client.get(f"/api/v1/config/script/routine/versions/{v2_id}").json()
    assert got["content"] == draft and got["active"]
    assert client.get(f"/api/v1/config/script/first_visit/versions/{v2_id}").status_code == 404

    # roll back to the packaged file, then activate v2 again from the page
    restored = client.post(
        "/api/v1/config/script/routine/activate",
        json={"version_id": None},
        headers={"X-CSRF-Token": csrf},
    )
    assert restored.status_code == 200 and restored.json()["active_id"] is None
    assert configs.scripts(book.engine)["routine"].version == 1
    again = client.post(
        "/config/script/routine/activate",
        data={"version_id": str(v2_id), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303 and configs.scripts(book.engine)["routine"].version == 2
    configs.activate(book.engine, configs.SCRIPT, "routine", None, audit.SYSTEM)
    actions = [e.action for e in audit.search(book.engine, actor="mgr_all", action="config.")]
    assert actions.count("config.save") == 1 and actions.count("config.activate") == 3


def _attempts(book: Any) -> dict[str, int]:
    followup.generate_tasks(book.engine, date(2026, 11, 1))
    guard = Guard(calendar=NoHolidays())
    out: dict[str, int] = {}
    for code in ("SZ01", OTHER):
        task = followup.list_tasks(book.engine, branch=code, status="open", limit=1)[0]
        out[code] = record_attempt(
            book.engine,
            task.id,
            AttemptInput(
                Channel.AGENT_CALL,
                PartyRole.BORROWER,
                MONDAY_10,
                Outcome.RIGHT_PARTY_CONTACT,
                ended_at=MONDAY_10 + timedelta(minutes=4),
                answers={"new_address": "广东省深圳市南山区科技园1号"},
                recording_ref=EXTERNAL_RECORDING,
            ),
            guard=guard,
            complete=False,
        ).attempt_id
        late = MONDAY_10 + timedelta(hours=13)  # 23:00 in Shanghai
        refused = record_attempt(
            book.engine,
            task.id,
            AttemptInput(Channel.AGENT_CALL, PartyRole.BORROWER, late, Outcome.NO_ANSWER),
            guard=guard,
        )
        assert not refused.allowed
        out[f"refused-{code}"] = refused.attempt_id
    return out


def test_the_auditor_samples_reads_and_scores_contacts(app: Any, book: Any) -> None:
    ids = _attempts(book)
    agent, _ = login_client(app, "agent")
    assert agent.get("/qa").status_code == 403
    client, csrf = login_client(app, "auditor")
    period = "start=2026-11-01&end=2026-11-30"
    page = client.get(f"/qa?{period}")
    assert page.status_code == 200 and f"/qa/attempts/{ids['SZ01']}" in page.text
    assert f"/qa/attempts/{ids[OTHER]}" not in page.text
    assert client.get(f"/qa?{period}&branch={OTHER}").status_code == 403
    assert client.get(f"/qa/attempts/{ids[OTHER]}").status_code == 403
    contact = client.get(f"/qa/attempts/{ids['SZ01']}")
    assert contact.status_code == 200 and "广东省深******" in contact.text
    assert "科技园" not in contact.text and 'id="qa-form"' in contact.text
    # a recording reference from outside is shown as text, never played by the browser
    assert "<audio" not in contact.text and 'id="qa-recording-ref"' in contact.text
    assert f'src="{EXTERNAL_RECORDING}"' not in contact.text
    as_json = client.get(f"/api/v1/qa/attempts/{ids['SZ01']}").json()
    assert as_json["recording_url"] is None and as_json["recording_ref"] == EXTERNAL_RECORDING
    reads = audit.search(book.engine, actor="auditor", action="read.contact")
    assert reads and reads[0].target_id == str(ids["SZ01"])

    form = {f"score_{c.code}": str(c.max_score) for c in qa_rules.CRITERIA}
    wrong = client.post(
        f"/qa/attempts/{ids['SZ01']}/review",
        data={**form, "score_politeness": "7", "comment": ""},
        headers=_htmx(csrf),
    )
    assert 'id="qa-error"' in wrong.text and "礼貌用语" in wrong.text
    ok = client.post(
        f"/qa/attempts/{ids['SZ01']}/review",
        data={**form, "comment": "流程规范"},
        headers=_htmx(csrf),
    )
    assert 'id="qa-saved"' in ok.text and f"{qa_rules.MAX_TOTAL}/{qa_rules.MAX_TOTAL}" in ok.text
    # ...and the table of every review is refreshed out of band
    assert 'id="qa-reviews" class="scores" hx-swap-oob="true"' in ok.text and "流程规范" in ok.text
    assert "hx-swap-oob" not in wrong.text
    put = client.put(
        f"/api/v1/qa/attempts/{ids['SZ01']}/review",
        json={"scores": {c.code: 0 for c in qa_rules.CRITERIA}, "comment": "重评"},
        headers={"X-CSRF-Token": csrf},
    )
    assert put.status_code == 200 and put.json()["total"] == 0
    bad = client.put(
        f"/api/v1/qa/attempts/{ids['SZ01']}/review",
        json={"scores": {"politeness": 1}, "comment": ""},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 422 and "缺少评分" in bad.json()["error"]["zh"]
    sample = client.get(f"/api/v1/qa/sample?{period}&seed=3").json()
    assert ids["SZ01"] in [r["attempt_id"] for r in sample["sample"]]
    assert sample["summary"][-1]["agent"] == qa_rules.ALL_AGENTS
    assert sample["summary"][-1]["average_total"] == "0.00"
    detail = client.get(f"/api/v1/qa/attempts/{ids['SZ01']}").json()
    assert detail["reviews"][0]["comment"] == "重评"

    # compliance refusals: the auditor's own branches, by reason
    refusals = client.get(f"/refusals?{period}&code=contact.outside_hours")
    assert refusals.status_code == 200 and "contact.outside_hours" in refusals.text
    api = client.get(f"/api/v1/refusals?{period}").json()
    assert ids["refused-SZ01"] in [r["attempt_id"] for r in api["rows"]]
    assert ids[f"refused-{OTHER}"] not in [r["attempt_id"] for r in api["rows"]]
    assert client.get(f"/api/v1/refusals?{period}&code=nope").status_code == 422
    for far in ("end=9999-12-31&start=9999-12-01", "start=0001-01-01&end=0001-01-05"):
        assert client.get(f"/api/v1/refusals?{far}").status_code == 422, far
        assert client.get(f"/api/v1/qa/sample?{far}").status_code == 422, far
    everywhere, _ = login_client(app, "auditor_all")
    rows = everywhere.get(f"/api/v1/refusals?{period}").json()["rows"]
    assert {ids["refused-SZ01"], ids[f"refused-{OTHER}"]} <= {r["attempt_id"] for r in rows}


def test_a_voice_agent_call_is_reviewed_with_its_recording_and_turns(  # type: ignore[no-untyped-def]
    app: Any, book: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIFANG_RECORDINGS_DIR", str(tmp_path / "rec"))
    followup.generate_tasks(book.engine, date(2026, 11, 1))
    task = next(
        t.id
        for t in followup.list_tasks(book.engine, branch="SZ01", status="open", limit=50)
        if t.purpose == "first-visit"
    )
    attempt = stored_voice_call(book.engine, task, tmp_path / "rec")
    client, _ = login_client(app, "auditor")
    page = client.get(f"/qa/attempts/{attempt}")
    src = f"/api/v1/voice-calls/{attempt}/recording"
    assert page.status_code == 200 and f'<audio controls preload="none" src="{src}"' in page.text
    assert 'id="qa-voice-transcript"' in page.text and "喂？" in page.text
    audio = client.get(src)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    detail = client.get(f"/api/v1/qa/attempts/{attempt}").json()
    assert detail["recording_url"] == src
    assert [t["speaker"] for t in detail["voice_turns"]] == ["agent", "borrower"]
