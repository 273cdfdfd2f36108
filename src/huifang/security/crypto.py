"""Encryption of personal data at rest: AES-256-GCM with key ids, and keyed hashes for search.

Ciphertext format (text, fits any VARCHAR/TEXT column): ``hf1:<key id>:<base64url(nonce ||
ciphertext+tag)>``. The nonce is 96 random bits per value; the associated data is the
field's context (e.g. ``borrowers.mobile``), so a ciphertext moved to another column does
not decrypt. The key id says which key to use, so keys can be rotated: a new key becomes
active for writes while old keys still decrypt, and `reencrypt` moves values to the
active key (docs/security.md, "Key rotation").

Exact search on an encrypted value uses a blind index: HMAC-SHA256 under a separate key,
over the normalized value and its context. It reveals equality, nothing else.

Keys come from ``HUIFANG_DATA_KEY`` (the key file's JSON, for containers) or from the key
file ``$HUIFANG_HOME/keys/data-keys.json`` (mode 0600), generated on first use.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "hf1"
ENV_VAR = "HUIFANG_DATA_KEY"


class KeyError_(Exception):
    """A key problem: missing key id, bad key file, undecryptable value."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyRing:
    """The data keys (id -> 32 bytes), which one encrypts, and the blind-index key."""

    active: str
    keys: dict[str, bytes]
    index_key: bytes
    created: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyError_(f"活动密钥不存在 / active key {self.active!r} missing")
        for kid, key in self.keys.items():
            if len(key) != 32 or ":" in kid:
                raise KeyError_(f"密钥 {kid!r} 无效 (需 32 字节) / key {kid!r} must be 32 bytes")
        if len(self.index_key) < 32:
            raise KeyError_("检索密钥至少 32 字节 / index key needs 32+ bytes")

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{PREFIX}:{self.active}:{_b64(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        try:
            prefix, kid, body = token.split(":", 2)
        except ValueError:
            raise KeyError_("不是密文 / not a Huifang ciphertext") from None
        if prefix != PREFIX:
            raise KeyError_("不是密文 / not a Huifang ciphertext")
        key = self.keys.get(kid)
        if key is None:
            raise KeyError_(f"缺少密钥 / no key with id {kid!r}")
        raw = _unb64(body)
        try:
            plain = AESGCM(key).decrypt(raw[:12], raw[12:], context.encode("utf-8"))
        except InvalidTag:
            raise KeyError_(
                "密文校验失败 (被篡改或字段不符) / ciphertext failed its check"
            ) from None
        return plain.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return token.split(":", 2)[1]

    def reencrypt(self, token: str, context: str) -> str:
        """The same value under the active key (unchanged when already under it)."""
        if self.key_id_of(token) == self.active:
            return token
        return self.encrypt(self.decrypt(token, context), context)

    def blind_index(self, value: str, context: str) -> str:
        """Keyed hash for exact search: HMAC-SHA256(index key, context NUL normalized value)."""
        normalized = "".join(value.split()).upper()
        msg = f"{context}\0{normalized}".encode()
        return hmac.new(self.index_key, msg, sha256).hexdigest()

    # -- serialization ---------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {k: _b64(v) for k, v in self.keys.items()},
                "index_key": _b64(self.index_key),
                "created": self.created,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            doc = json.loads(text)
            return cls(
                active=doc["active"],
                keys={k: _unb64(v) for k, v in doc["keys"].items()},
                index_key=_unb64(doc["index_key"]),
                created=dict(doc.get("created", {})),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyError_(f"密钥文件格式错误 / bad key document: {exc}") from None

    @classmethod
    def generate(cls) -> KeyRing:
        kid = _new_kid()
        return cls(
            active=kid,
            keys={kid: secrets.token_bytes(32)},
            index_key=secrets.token_bytes(32),
            created={kid: datetime.now(UTC).isoformat()},
        )

    def rotated(self) -> KeyRing:
        """A ring with a fresh active key; old keys stay so existing values still decrypt."""
        kid = _new_kid()
        while kid in self.keys:
            kid = _new_kid()
        return KeyRing(
            active=kid,
            keys={**self.keys, kid: secrets.token_bytes(32)},
            index_key=self.index_key,
            created={**self.created, kid: datetime.now(UTC).isoformat()},
        )

    def without(self, kid: str) -> KeyRing:
        """Retire an old key (after every value has been re-encrypted)."""
        if kid == self.active:
            raise KeyError_("不能删除活动密钥 / cannot retire the active key")
        return KeyRing(
            self.active,
            {k: v for k, v in self.keys.items() if k != kid},
            self.index_key,
            {k: v for k, v in self.created.items() if k != kid},
        )


def _new_kid() -> str:
    return datetime.now(UTC).strftime("k%Y%m%d") + secrets.token_hex(2)


def key_file(home: Path) -> Path:
    return home / "keys" / "data-keys.json"


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write atomically with mode 0600 (the directory 0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(ring.to_json())
    os.replace(tmp, path)


def load_keyring(home: Path, *, create: bool = True) -> KeyRing:
    """HUIFANG_DATA_KEY if set, else the key file under `home` (generated when missing)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return KeyRing.from_json(env)
    path = key_file(home)
    if path.exists():
        return KeyRing.from_json(path.read_text(encoding="utf-8"))
    if not create:
        raise KeyError_(f"密钥文件不存在 / no key file at {path}")
    ring = KeyRing.generate()
    write_key_file(path, ring)
    return ring
