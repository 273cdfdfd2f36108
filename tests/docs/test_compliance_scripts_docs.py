"""docs/compliance.md and docs/scripts.md name every code the code can produce."""

from __future__ import annotations

from pathlib import Path

from huifang.domain.compliance import PROFILES, RefusalCode
from huifang.domain.findings import FindingKind
from huifang.domain.scripts import ProblemCode
from huifang.script_files import load_standard_scripts

ROOT = Path(__file__).resolve().parents[2]


def test_compliance_doc_explains_every_refusal_code_and_profile() -> None:
    doc = (ROOT / "docs" / "compliance.md").read_text(encoding="utf-8")
    assert not [c.value for c in RefusalCode if f"`{c.value}`" not in doc]
    assert not [p for p in PROFILES if f"`{p}`" not in doc]


def test_scripts_doc_lists_every_problem_kind_and_script() -> None:
    doc = (ROOT / "docs" / "scripts.md").read_text(encoding="utf-8")
    assert not [c.value for c in ProblemCode if f"`{c.value}`" not in doc]
    assert not [k.value for k in FindingKind if f"`{k.value}`" not in doc]
    assert not [s for s in load_standard_scripts() if f"`{s}`" not in doc]
