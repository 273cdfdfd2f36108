"""Script answers as staff see them outside the call itself: personal values masked.

A borrower's answers and spoken turns can hold personal data: the ID tail given to the
identity check, a new phone or address. The call screen needs them while the call runs;
every later view (QA, the voice-call transcript API, the borrower 360 contact history)
shows them masked, through this one function, so a new view cannot forget one.
"""

from __future__ import annotations

from huifang.domain.identifiers import mask_phone

_MASKED_PHONE = {"new_phone"}
_MASKED_ADDRESS = {"new_address"}
# what the borrower said to the identity check: compared with the ID number (and, on an
# inbound call, the date of birth), never shown
_SECRET = {"id_last4", "birth_date"}


def _mask_address(value: str) -> str:
    keep = min(6, max(0, len(value) // 3))
    return value[:keep] + "*" * 6


def mask_answer(question: str | None, value: object) -> object:
    """An answer (or a borrower's turn at that step) with new phones and addresses masked
    and the ID tail given for the identity check hidden."""
    if question in _SECRET and value not in (None, ""):
        return "****"
    if isinstance(value, str) and value:
        if question in _MASKED_PHONE:
            return mask_phone(value) if value.isdigit() and len(value) >= 7 else "*" * 6
        if question in _MASKED_ADDRESS:
            return _mask_address(value)
    return value
