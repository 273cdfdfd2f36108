"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def check_strength(password: str) -> None:
    """At least 10 characters with letters and digits; raises ValueError otherwise."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"密码至少 {MIN_LENGTH} 位 / password needs {MIN_LENGTH}+ characters")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise ValueError("密码须同时包含字母和数字 / password needs letters and digits")


# A hash of a random string, verified against on unknown usernames so that a login for a
# missing user takes as long as one for an existing user (no user enumeration by timing).
DUMMY_HASH = _hasher.hash("no-such-user-0")
