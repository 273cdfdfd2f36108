"""Self-service link tokens: genuine links read back, tampered or expired ones are refused,
and the identity proof is bound to its link and expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from huifang.services import self_service as ss

KEY = b"k" * 32
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_link_round_trip_and_expiry() -> None:
    token = ss.make_link(KEY, 7, 42, NOW)
    claims = ss.read_link(KEY, token, NOW + timedelta(days=6))
    assert (claims.borrower_id, claims.loan_id) == (7, 42)
    assert claims.expires_at == NOW + ss.LINK_VALIDITY
    with pytest.raises(ss.LinkInvalid) as expired:
        ss.read_link(KEY, token, NOW + ss.LINK_VALIDITY)
    assert "过期" in expired.value.zh and "expired" in expired.value.en


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t.replace(".", ""),  # no signature
        lambda t: "x" + t,  # payload changed
        lambda t: "",
        lambda t: "0.\x80",  # non-ASCII signature (a forged URL): refused, not an error
        lambda t: t + "é",
    ],
)
def test_tampered_links_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = ss.make_link(KEY, 7, 42, NOW)
    with pytest.raises(ss.LinkInvalid):
        ss.read_link(KEY, mangle(token), NOW)
    with pytest.raises(ss.LinkInvalid):
        ss.read_link(b"other" * 8, token, NOW)  # another deployment's key


def test_proof_is_bound_to_its_link_and_expires() -> None:
    token = ss.make_link(KEY, 7, 42, NOW)
    other = ss.make_link(KEY, 8, 43, NOW)
    proof = ss.make_proof(KEY, token, NOW)
    assert ss.proof_holds(KEY, token, proof, NOW + timedelta(minutes=14))
    assert not ss.proof_holds(KEY, token, proof, NOW + ss.PROOF_VALIDITY)
    assert not ss.proof_holds(KEY, other, proof, NOW)
    assert not ss.proof_holds(KEY, token, None, NOW)
    assert not ss.proof_holds(KEY, token, "999999999999.forged", NOW)
