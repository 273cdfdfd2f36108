"""`huifang script validate | list | run` through Typer, with answers piped on stdin."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from huifang import cli_scripts
from huifang.script_files import standard_script_files

app = typer.Typer()
cli_scripts.register(app)


@app.callback()
def _root() -> None:
    """A group, so that `script` stays a sub-command as in `huifang`."""


runner = CliRunner()
SCRIPTS = Path(str(standard_script_files()[0])).parent


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["script", *args], input=input)
    return result.exit_code, result.output


def test_validate_standard_scripts() -> None:
    code, out = run("validate", *sorted(str(p) for p in SCRIPTS.glob("*.yaml")))
    assert code == 0, out
    assert out.count("✓") == 6
    assert "routine v1 有效 / valid" in out


def test_validate_reports_each_problem_and_fails(tmp_path: Path) -> None:
    text = (SCRIPTS / "routine.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("{masked_plate}", "{plate_number}").replace(
            "    default: phone_changed", "    default: nowhere"
        ),
        encoding="utf-8",
    )
    code, out = run("validate", str(bad), str(SCRIPTS / "routine.yaml"))
    assert code == 1
    assert "✗" in out and "✓" in out
    assert "[unknown_variable]" in out and "plate_number" in out
    assert "[unknown_target]" in out and "nowhere" in out
    assert f"{bad}:" in out  # located with the line


def test_validate_missing_file(tmp_path: Path) -> None:
    code, out = run("validate", str(tmp_path / "none.yaml"))
    assert code == 1 and "no such file" in out


def test_list() -> None:
    code, out = run("list")
    assert code == 0
    for name in ("first_visit", "routine", "missed_payment", "business_visit"):
        assert name in out


MISSED = "是\n123x\n三千多\n生病了\n能\n下周五\n¥4,612.50\n正常\n是\n"


def test_run_missed_payment_with_piped_answers() -> None:
    code, out = run("run", "missed_payment", "--today", "2025-03-10", input=MISSED)
    assert code == 0, out
    assert "请问您是张三本人吗？" in out
    assert "您在2025年2月26日应还的款项尚未足额还清，目前逾期12天，逾期金额¥4,612.50" in out
    assert "无法确定您的选择" in out  # 三千多 is not a reason: re-asked
    assert "-- 结果 / outcome: completed" in out
    assert "promise_date = 2025年3月21日" in out
    assert "health-event" in out and "promise-to-pay" in out


def test_run_json_and_english() -> None:
    code, out = run(
        "run", "missed_payment", "--today", "2025-03-10", "--json", "--lang", "en", input=MISSED
    )
    assert code == 0, out
    assert "Am I speaking with 张三?" in out
    doc = json.loads(out[out.index("{\n") :])
    assert doc["outcome"] == "completed" and doc["identity_verified"] is True
    assert doc["answers"]["promise_amount"] == "4612.50"
    assert doc["answers"]["promise_date"] == "2025-03-21"
    assert [f["kind"] for f in doc["findings"]] == ["health-event", "promise-to-pay"]


def test_run_set_overrides_a_sample_value() -> None:
    code, out = run(
        "run",
        "routine",
        "--set",
        "id_last4=5678",
        "--set",
        "borrower_name=王五",
        input="是\n123X\n",
    )
    assert "王五" in out
    assert code == 0  # 123X is wrong now: the script ends at its identity-failed end
    assert "identity_failed" in out


def test_run_handover_quit_and_end_of_input() -> None:
    code, out = run("run", "routine", input="是\n/human\n")
    assert code == 0 and "handed_over" in out
    code, out = run("run", "routine", input="是\n/quit\n")
    assert code == 1 and "abandoned" in out
    code, out = run("run", "routine", input="是\n")
    assert code == 1 and "input ended" in out


def test_run_unknown_script_and_file(tmp_path: Path) -> None:
    code, out = run("run", "nonsense")
    assert code == 2 and "routine" in out
    path = tmp_path / "mine.yaml"
    path.write_text((SCRIPTS / "routine.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    code, out = run("run", str(path), input="不是\n")
    assert code == 0 and "wrong_person" in out


def test_sample_dates_follow_today_and_overrides() -> None:
    code, out = run(
        "run",
        "missed_payment",
        "--today",
        "2025-03-10",
        "--set",
        "days_past_due=5",
        input="是\n123X\n/quit\n",
    )
    assert code == 1 and "abandoned" in out
    assert "您在2025年3月5日应还的款项尚未足额还清，目前逾期5天" in out
    code, out = run("run", "missed_payment", "--set", "due_date=2025-01-31", input="是\n123X\n")
    assert "2025年1月31日" in out
    code, out = run("run", "routine", "--set", "nickname=x")
    assert code != 0 and "unknown variable nickname" in out
