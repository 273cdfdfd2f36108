"""The scorecard as SQL for the nightly run: one DuckDB CASE expression per feature.

The nightly portfolio run is vectorized over columns (BRIEF.md, architecture); it must not
call a per-row library predict. A points table is exactly a CASE expression per feature,
so the run adds the feature expressions up as one SELECT. The rules are the ones of
`huifang.model.binning` and must agree with the Python scorer on every row (tested):

* numeric: the value is TRY_CAST to DOUBLE; NULL, NaN or not a number → the MISSING bin;
  otherwise the first bin whose upper split is greater than the value (x < split), the
  last bin when none is. Splits are written as text literals cast to DOUBLE so the
  comparison uses the very same binary double as numpy.
* categorical: the value is CAST to VARCHAR and trimmed; NULL or '' → MISSING; one of a
  group's categories → that group's bin; anything else → OTHER.

`points_table` gives the same table as plain rows (feature, bin, edges or categories,
points) for people and for engines other than DuckDB.
"""

from __future__ import annotations

import math
from typing import Any

from huifang.model.binning import NUMERIC
from huifang.model.scorecard import CardFeature, Scorecard


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _double(v: float) -> str:
    return f"CAST({_quote_text(repr(float(v)))} AS DOUBLE)"


def feature_sql(feature: CardFeature, column: str | None = None) -> str:
    """The points of `feature` for each row as a DuckDB expression over `column`."""
    col = quote_ident(column or feature.name)
    b = feature.bins
    pts = feature.points
    if b.kind == NUMERIC:
        x = f"TRY_CAST({col} AS DOUBLE)"
        parts = [f"WHEN {x} IS NULL OR isnan({x}) THEN {pts[b.missing_index]}"]
        parts += [f"WHEN {x} < {_double(s)} THEN {pts[i]}" for i, s in enumerate(b.splits)]
        parts.append(f"ELSE {pts[len(b.splits)]}")
    else:
        t = f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
        parts = [f"WHEN {t} IS NULL THEN {pts[b.missing_index]}"]
        for i, group in enumerate(b.groups):
            values = ", ".join(_quote_text(c) for c in group)
            parts.append(f"WHEN {t} IN ({values}) THEN {pts[i]}")
        parts.append(f"ELSE {pts[b.other_index]}")
    return "CASE " + " ".join(parts) + " END"


def score_sql(card: Scorecard, columns: dict[str, str] | None = None) -> str:
    """The total score as one expression (the sum of the features' CASE expressions)."""
    if not card.features:
        return "0"
    columns = columns or {}
    return " + ".join(f"({feature_sql(f, columns.get(f.name))})" for f in card.features)


def probability_sql(card: Scorecard, score_expression: str) -> str:
    """P(bad) from a score expression, the same formula as `Scorecard.probability`."""
    s = card.scaling
    return f"1.0 / (1.0 + exp((({score_expression}) - {_double(s.offset)}) / {_double(s.factor)}))"


def points_table(card: Scorecard) -> list[dict[str, Any]]:
    """Every bin of every feature as a plain row: what a risk officer or another engine reads."""
    rows: list[dict[str, Any]] = []
    for f in card.features:
        b = f.bins
        labels = b.labels()
        for i, label in enumerate(labels):
            row: dict[str, Any] = {
                "feature": f.name,
                "bin": i,
                "label": label,
                "points": f.points[i],
                "woe": b.woe[i],
                "goods": b.goods[i],
                "bads": b.bads[i],
            }
            if b.kind == NUMERIC and i < b.n_regular:
                edges = [-math.inf, *b.splits, math.inf]
                row["lower"] = None if math.isinf(edges[i]) else edges[i]
                row["upper"] = None if math.isinf(edges[i + 1]) else edges[i + 1]
            elif i < b.n_regular:
                row["categories"] = list(b.groups[i])
            else:
                row["special"] = "missing" if i == b.missing_index else "other"
            rows.append(row)
    return rows
