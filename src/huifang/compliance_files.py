"""Contact policy files: the versioned compliance settings (YAML) → `ContactPolicy`.

The domain core knows nothing of YAML; this adapter reads the file and hands the mapping to
`compliance.policy_from_mapping`, which names the bad setting in Chinese and English. The
shipped default is ``huifang/policies/contact.yaml``; a lender points
HUIFANG_CONTACT_POLICY at its own copy (a US lender: ``based_on: [us-reg-f]``, or
``[china-default, us-reg-f]`` for the strictest of both).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from huifang import yaml_cache
from huifang.domain.compliance import ContactPolicy, InvalidPolicy, policy_from_mapping

ENV_VAR = "HUIFANG_CONTACT_POLICY"


@dataclass(frozen=True)
class LoadedContactPolicy:
    """A contact policy with its file version and where it came from (kept with refusals)."""

    policy: ContactPolicy
    version: int
    source: str


class ContactPolicyFileError(ValueError):
    """A contact policy file that cannot be read or is invalid; names file and setting."""


def parse_contact_policy(text: str, source: str = "<string>") -> LoadedContactPolicy:
    """Read and validate a contact policy from YAML text; raises ContactPolicyFileError."""
    try:
        data = yaml_cache.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContactPolicyFileError(f"{source}: YAML 格式错误 / invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ContactPolicyFileError(f"{source}: 应为映射 / the file must hold a mapping")
    try:
        policy = policy_from_mapping(data)
    except InvalidPolicy as exc:
        raise ContactPolicyFileError(f"{source}: {exc.message_zh} / {exc.message_en}") from None
    return LoadedContactPolicy(policy, int(data.get("version", 1)), source)


def load_contact_policy(path: Path | str | None = None) -> LoadedContactPolicy:
    """The policy in `path`, else the file named by HUIFANG_CONTACT_POLICY, else the shipped
    default ``policies/contact.yaml``."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is None:
        return _shipped()
    chosen = Path(path)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContactPolicyFileError(f"{chosen}: 无法读取 / cannot read: {exc}") from None
    return parse_contact_policy(text, str(chosen))


@cache
def _shipped() -> LoadedContactPolicy:
    ref = resources.files("huifang") / "policies" / "contact.yaml"
    return parse_contact_policy(ref.read_text(encoding="utf-8"), "policies/contact.yaml")
