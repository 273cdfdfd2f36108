"""AES-GCM with key ids, rotation, blind index, and the key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from huifang.security import crypto


def test_round_trip_and_context_binding() -> None:
    ring = crypto.KeyRing.generate()
    token = ring.encrypt("11010519491231002X", "borrowers.id_number")
    assert token.startswith(f"hf1:{ring.active}:") and "1101051949" not in token
    assert ring.decrypt(token, "borrowers.id_number") == "11010519491231002X"
    assert ring.encrypt("x", "c") != ring.encrypt("x", "c")  # fresh nonce each time
    with pytest.raises(crypto.KeyError_):
        ring.decrypt(token, "borrowers.mobile")  # moved to another column
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(crypto.KeyError_):
        ring.decrypt(tampered, "borrowers.id_number")


def test_rotation_keeps_old_values_readable() -> None:
    old = crypto.KeyRing.generate()
    token = old.encrypt("13812345678", "borrowers.mobile")
    new = old.rotated()
    assert new.active != old.active and set(old.keys) < set(new.keys)
    assert new.decrypt(token, "borrowers.mobile") == "13812345678"
    moved = new.reencrypt(token, "borrowers.mobile")
    assert new.key_id_of(moved) == new.active
    retired = new.without(old.active)
    assert retired.decrypt(moved, "borrowers.mobile") == "13812345678"
    with pytest.raises(crypto.KeyError_):
        retired.decrypt(token, "borrowers.mobile")
    with pytest.raises(crypto.KeyError_):
        new.without(new.active)


def test_blind_index_is_keyed_and_normalized() -> None:
    ring = crypto.KeyRing.generate()
    a = ring.blind_index("11010519491231002x", "borrowers.id_number")
    assert a == ring.blind_index(" 11010519491231002X ", "borrowers.id_number")
    assert a != ring.blind_index("11010519491231002X", "guarantors.id_number")
    assert a != crypto.KeyRing.generate().blind_index("11010519491231002X", "borrowers.id_number")
    assert ring.rotated().blind_index("11010519491231002X", "borrowers.id_number") == a


def test_key_file_created_once_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crypto.ENV_VAR, raising=False)
    first = crypto.load_keyring(tmp_path)
    path = crypto.key_file(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto.load_keyring(tmp_path).keys == first.keys
    monkeypatch.setenv(crypto.ENV_VAR, crypto.KeyRing.generate().to_json())
    assert crypto.load_keyring(tmp_path).keys != first.keys
    monkeypatch.setenv(crypto.ENV_VAR, "not json")
    with pytest.raises(crypto.KeyError_):
        crypto.load_keyring(tmp_path)
