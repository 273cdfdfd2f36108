"""Personal data in pages and API responses: masked by default, revealed on request.

Every role sees phones, ID numbers and addresses masked (138****1234,
110***********1234); roles with `pii.reveal` can ask for one value at a time, and each
reveal is written to the audit log with the field and the borrower."""

from __future__ import annotations

from huifang.domain.identifiers import mask_id_number, mask_phone

FIELDS = ("mobile", "id_number", "address")


def mask(kind: str, value: str | None) -> str:
    if not value:
        return ""
    if kind in ("mobile", "phone"):
        return mask_phone(value)
    if kind == "id_number":
        return mask_id_number(value)
    if kind == "address":
        keep = min(6, max(0, len(value) // 3))
        return value[:keep] + "*" * 6
    raise ValueError(f"unknown personal-data field {kind!r}")
