"""Versioned model artifacts: one directory per trained model under `$HUIFANG_HOME/models/`.

    models/
      LATEST                 the version `huifang score` uses by default
      v3-2026-11-20/
        scorecard.json       bins, WoE, coefficients and points (the model itself)
        points.csv           the same points table as plain rows
        score.sql            the score as one DuckDB expression (huifang.model.export)
        metrics.json         holdout figures, calibration, PSI, GBM comparison, data summary
        model_card.md        data, period, metrics, limits — for people

A directory is written under a temporary name and renamed when complete, so a half-written
model is never picked up; versions are never overwritten (a new train is a new version).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from huifang.model.export import points_table, score_sql
from huifang.model.scorecard import Scorecard

_VERSION = re.compile(r"^v(\d+)-")


@dataclass(frozen=True)
class Artifact:
    version: str
    path: Path
    card: Scorecard
    metrics: dict[str, Any]


def models_dir(home: Path) -> Path:
    return home / "models"


def next_version(root: Path, as_of: date) -> str:
    n = 0
    if root.exists():
        for p in root.iterdir():
            found = _VERSION.match(p.name)
            if found and p.is_dir():
                n = max(n, int(found.group(1)))
    return f"v{n + 1}-{as_of.isoformat()}"


def write_artifact(
    root: Path, as_of: date, card: Scorecard, metrics: dict[str, Any], model_card: str
) -> Artifact:
    """Write a new version directory and point LATEST at it."""
    root.mkdir(parents=True, exist_ok=True)
    version = next_version(root, as_of)
    final = root / version
    tmp = root / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "scorecard.json").write_text(
        json.dumps(card.to_json(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    rows = points_table(card)
    with (tmp / "points.csv").open("w", newline="", encoding="utf-8") as fh:
        cols = ["feature", "bin", "label", "points", "woe", "goods", "bads"]
        cols += ["lower", "upper", "categories", "special"]
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({**r, "categories": "|".join(r.get("categories", []))})
    (tmp / "score.sql").write_text(score_sql(card) + "\n", encoding="utf-8")
    (tmp / "metrics.json").write_text(
        json.dumps({"version": version, **metrics}, ensure_ascii=False, indent=2, default=str),
        encoding="utf-8",
    )
    (tmp / "model_card.md").write_text(model_card.replace("{version}", version), encoding="utf-8")
    os.replace(tmp, final)
    (root / "LATEST.tmp").write_text(version + "\n", encoding="utf-8")
    os.replace(root / "LATEST.tmp", root / "LATEST")
    return Artifact(version, final, card, {"version": version, **metrics})


def load_artifact(root: Path, version: str | None = None) -> Artifact:
    """The given version, or the LATEST one; a clear error when there is none."""
    if version is None:
        latest = root / "LATEST"
        if not latest.exists():
            raise FileNotFoundError(
                f"还没有训练好的模型, 请先运行 huifang model train / no model in {root}"
            )
        version = latest.read_text(encoding="utf-8").strip()
    path = root / version
    if not (path / "scorecard.json").exists():
        raise FileNotFoundError(f"模型版本不存在 / no model version {version!r} in {root}")
    card = Scorecard.from_json(json.loads((path / "scorecard.json").read_text(encoding="utf-8")))
    metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    return Artifact(version, path, card, metrics)
