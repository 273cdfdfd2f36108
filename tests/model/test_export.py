from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
from _synthetic import synthetic

from huifang.model.export import feature_sql, points_table, probability_sql, score_sql
from huifang.model.scorecard import fit_scorecard


def _awkward_rows(card, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows on every split exactly, just below it, missing, unseen and odd values."""
    rows = []
    for f in card.features:
        if f.bins.kind == "numeric":
            for s in f.bins.splits:
                for v in (s, np.nextafter(s, -math.inf), np.nextafter(s, math.inf)):
                    r = frame.iloc[0].to_dict()
                    r[f.name] = v
                    rows.append(r)
    base = frame.iloc[1].to_dict()
    rows += [
        {**base, "income": math.nan},
        {**base, "income": math.inf},
        {**base, "dpd": -math.inf},
        {**base, "industry": None},
        {**base, "industry": "从未见过"},
        {**base, "industry": " 餐饮 "},
        {**base, "industry": ""},
    ]
    return pd.DataFrame(rows)


def test_duckdb_score_equals_python_score_on_every_row() -> None:
    frame, y, _ = synthetic(3000, seed=4)
    card = fit_scorecard(frame, y)
    data = pd.concat([frame, _awkward_rows(card, frame)], ignore_index=True)
    data["industry"] = data["industry"].astype(object)
    con = duckdb.connect()
    con.register("book", data)
    sql = score_sql(card)
    got = con.execute(
        f"SELECT {sql} AS score, {probability_sql(card, sql)} AS p FROM book"
    ).fetchnumpy()
    assert len(got["score"]) == len(data)
    assert (np.asarray(got["score"]) == card.score(data)).all()
    assert np.allclose(np.asarray(got["p"]), card.probability(card.score(data)), rtol=1e-12)
    for f in card.features:
        one = con.execute(f"SELECT {feature_sql(f)} FROM book").fetchnumpy()
        column = next(iter(one.values()))
        assert (np.asarray(column) == card.points_frame(data)[f.name].to_numpy()).all()


def test_points_table_lists_every_bin() -> None:
    frame, y, _ = synthetic(1500, seed=6)
    card = fit_scorecard(frame, y)
    rows = points_table(card)
    assert len(rows) == sum(len(f.points) for f in card.features)
    dpd = [r for r in rows if r["feature"] == "dpd"]
    assert dpd[0]["lower"] is None and dpd[-3]["upper"] is None
    assert dpd[-2]["special"] == "missing" and dpd[-1]["special"] == "other"
    assert any("categories" in r for r in rows)
