"""The behaviour model's output as the risk tier reads it (`domain.tiering.BehaviourScore`).

One definition for the per-loan path and the nightly run: the scorecard's points, and the
probability of default read back from them (`Scorecard.probability`) as a Decimal to six
places, half-up from the float's exact binary value. The nightly run evaluates this once
per distinct score and gathers, so both give the same Decimal by construction.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from huifang.domain.tiering import BehaviourScore
from huifang.model.scorecard import Scorecard

PD_PLACES = Decimal("0.000001")


def probability_of_default(card: Scorecard, points: int) -> Decimal:
    """P(90+ DPD within 12 months) for a score, to six decimals, half-up."""
    p = float(card.probability(points))
    return Decimal(p).quantize(PD_PLACES, rounding=ROUND_HALF_UP)


def behaviour_score(card: Scorecard, points: int, version: str) -> BehaviourScore:
    """The loan's behaviour score for the risk tier: points and PD (the PD decides)."""
    return BehaviourScore(probability_of_default(card, points), int(points), version)
