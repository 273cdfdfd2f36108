"""Policy files: the versioned follow-up policy (YAML) → `FollowupPolicy` + `ContactStrategy`.

The domain core knows nothing of YAML; this adapter reads the file and hands the mapping to
the domain's validators, which name the bad setting in Chinese and English. The shipped
default is ``huifang/policies/followup.yaml``; a lender points HUIFANG_FOLLOWUP_POLICY at its
own copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from huifang import yaml_cache
from huifang.domain.contact_strategy import ContactStrategy, strategy_from_mapping
from huifang.domain.followup_policy import FollowupPolicy, PolicyError, policy_from_mapping


@dataclass(frozen=True)
class LoadedPolicy:
    """The follow-up policy and its contact strategy, with where they came from."""

    policy: FollowupPolicy
    strategy: ContactStrategy
    source: str

    @property
    def version(self) -> int:
        return self.policy.version


class PolicyFileError(ValueError):
    """A policy file that cannot be read or is invalid; the message names file and setting."""


def parse_followup_policy(text: str, source: str = "<string>") -> LoadedPolicy:
    try:
        data = yaml_cache.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{source}: YAML 格式错误 / invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyFileError(f"{source}: 应为映射 / the file must hold a mapping")
    try:
        policy = policy_from_mapping(data)
        strategy = strategy_from_mapping(policy.strategy)
    except PolicyError as exc:
        raise PolicyFileError(f"{source}: {exc}") from None
    return LoadedPolicy(policy, strategy, source)


def default_policy_path() -> Path | None:
    env = os.environ.get("HUIFANG_FOLLOWUP_POLICY")
    return Path(env) if env else None


def load_followup_policy(path: Path | str | None = None) -> LoadedPolicy:
    """The policy in `path`, else HUIFANG_FOLLOWUP_POLICY, else the shipped default."""
    chosen = Path(path) if path is not None else default_policy_path()
    if chosen is None:
        return _shipped_policy()
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(f"{chosen}: 无法读取 / cannot read: {exc}") from None
    return parse_followup_policy(text, str(chosen))


@cache
def _shipped_policy() -> LoadedPolicy:
    ref = resources.files("huifang") / "policies" / "followup.yaml"
    return parse_followup_policy(ref.read_text(encoding="utf-8"), "policies/followup.yaml")
