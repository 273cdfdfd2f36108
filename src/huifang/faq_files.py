"""FAQ knowledge files (常见问题知识库): YAML → `huifang.domain.faq.Knowledge`, checked.

The shipped file is ``huifang/knowledge/faq.yaml``; ``HUIFANG_FAQ_FILE`` points a deployment at
its own (same format, see the shipped file's header and docs/voice.md). Structural problems
(a missing key, a wrong type) and the domain validator's problems are reported together, in
Chinese and English, by `huifang faq validate`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from huifang.domain.faq import Entry, Knowledge, validate_knowledge
from huifang.domain.scripts import Text

ENV_VAR = "HUIFANG_FAQ_FILE"


class FaqFileError(ValueError):
    """A knowledge file that cannot be served; `problems` lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def shipped_file() -> Traversable:
    return resources.files("huifang") / "knowledge" / "faq.yaml"


def _text(data: Any, where: str, problems: list[str]) -> Text:
    if not isinstance(data, Mapping) or not all(isinstance(data.get(k), str) for k in ("zh", "en")):
        problems.append(f"{where}: 须有 zh 和 en 两种文字 / needs zh and en strings")
        return Text("", "")
    unknown = set(data) - {"zh", "en"}
    if unknown:
        problems.append(f"{where}: 未知的键 / unknown keys {sorted(unknown)}")
    return Text(data["zh"].strip(), data["en"].strip())


def _strings(data: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(x, str | int) for x in data):
        problems.append(f"{where}: 须为字符串列表 / must be a list of strings")
        return ()
    return tuple(str(x).strip() for x in data if str(x).strip())


def _pair(data: Any, where: str, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(data, Mapping):
        problems.append(f"{where}: 须有 zh 和 en 两个列表 / needs zh and en lists")
        return (), ()
    return (
        _strings(data.get("zh"), f"{where}.zh", problems),
        _strings(data.get("en"), f"{where}.en", problems),
    )


_ENTRY_KEYS = {"id", "title", "questions", "keywords", "generic", "personal"}
_TOP_KEYS = {"id", "version", "title", "fallback", "clarify", "entries"}


def parse_knowledge(data: Any, source: str = "<faq>") -> Knowledge:
    """A knowledge base from parsed YAML; FaqFileError with every problem found."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise FaqFileError(source, ["文件须为映射 / the file must be a mapping"])
    unknown = set(data) - _TOP_KEYS
    if unknown:
        problems.append(f"未知的键 / unknown keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        problems.append("version: 须为整数 / must be an integer")
        version = 0
    entries: list[Entry] = []
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append("entries: 须为非空列表 / must be a non-empty list")
        raw_entries = []
    for i, raw in enumerate(raw_entries):
        where = f"entries[{i}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where}: 须为映射 / must be a mapping")
            continue
        unknown = set(raw) - _ENTRY_KEYS
        if unknown:
            problems.append(f"{where}: 未知的键 / unknown keys {sorted(unknown)}")
        qzh, qen = _pair(raw.get("questions"), f"{where}.questions", problems)
        kzh, ken = _pair(raw.get("keywords"), f"{where}.keywords", problems)
        personal = raw.get("personal") or []
        if not isinstance(personal, list):
            problems.append(f"{where}.personal: 须为列表 / must be a list")
            personal = []
        entries.append(
            Entry(
                id=str(raw.get("id", "")),
                title=_text(raw.get("title"), f"{where}.title", problems),
                questions_zh=qzh,
                questions_en=qen,
                keywords_zh=kzh,
                keywords_en=ken,
                generic=_text(raw.get("generic"), f"{where}.generic", problems),
                personal=tuple(
                    _text(p, f"{where}.personal[{j}]", problems) for j, p in enumerate(personal)
                ),
            )
        )
    kb = Knowledge(
        id=str(data.get("id", "")),
        version=version,
        title=_text(data.get("title"), "title", problems),
        entries=tuple(entries),
        fallback=_text(data.get("fallback"), "fallback", problems),
        clarify=_text(data.get("clarify"), "clarify", problems),
    )
    if not problems:
        problems = [str(p) for p in validate_knowledge(kb)]
    if problems:
        raise FaqFileError(source, problems)
    return kb


def load_knowledge_file(path: Path | Traversable) -> Knowledge:
    """Read and check one knowledge file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FaqFileError(str(path), [f"YAML 语法错误 / YAML error: {exc}"]) from None
    return parse_knowledge(data, str(path))


@cache
def _load(path: str | None) -> Knowledge:
    return load_knowledge_file(Path(path) if path else shipped_file())


def load_knowledge() -> Knowledge:
    """The knowledge base in force: ``HUIFANG_FAQ_FILE`` or the shipped file (read once per
    process and path)."""
    return _load(os.environ.get(ENV_VAR) or None)
