"""YAML parsed once per distinct text; each caller gets its own copy."""

from __future__ import annotations

import pytest
import yaml

from huifang import yaml_cache


def test_same_text_is_parsed_once_and_copies_are_independent() -> None:
    text = "version: 3\nwindow: {start: '08:00', end: '21:00'}\nlist: [1, 2]\n"
    before = yaml_cache._parsed.cache_info()
    first = yaml_cache.safe_load(text)
    first["list"].append(99)
    first["window"]["start"] = "00:00"
    second = yaml_cache.safe_load(text)
    after = yaml_cache._parsed.cache_info()
    assert second == {"version": 3, "window": {"start": "08:00", "end": "21:00"}, "list": [1, 2]}
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1
    assert yaml_cache.safe_load(text.replace("3", "4"))["version"] == 4  # edited text: new parse


def test_invalid_yaml_still_raises() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml_cache.safe_load("a: [1, 2\n")
