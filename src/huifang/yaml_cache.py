"""YAML text parsed once per distinct text.

The configuration files (contact policy, follow-up policy, finding and risk rules) are read
on every use, so an edited file takes effect at once, but the same text is parsed only once
per process: a call's outcome used to parse five YAML files (about 40 ms of CPU), which was
the largest single cost of the agent's journey under load (docs/benchmarks.md, agent
journey). Each caller gets its own deep copy, so the cached document cannot be changed
through it.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import yaml


@lru_cache(maxsize=128)
def _parsed(text: str) -> Any:
    return yaml.safe_load(text)


def safe_load(text: str) -> Any:
    """`yaml.safe_load(text)`, from a cache keyed by the text (raises yaml.YAMLError)."""
    return copy.deepcopy(_parsed(text))
