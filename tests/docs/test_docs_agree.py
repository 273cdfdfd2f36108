"""The documents that describe code are generated from it, or checked against it here."""

from __future__ import annotations

from pathlib import Path

from huifang.files.layout import layout_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_import_format_doc_lists_every_column() -> None:
    doc = (ROOT / "docs" / "import-format.md").read_text(encoding="utf-8")
    assert layout_markdown() in doc, (
        "docs/import-format.md is stale: paste the output of "
        "`python -c 'from huifang.files.layout import layout_markdown; print(layout_markdown())'`"
    )
