"""Script files (话术文件): YAML → `huifang.domain.scripts.Script`, with located errors.

The domain core knows nothing of YAML; this adapter reads a script file, checks its structure
(every key known, every value of the right type) and then runs the domain validator, and
reports every problem with the file, the YAML path (``steps[3].options[1].en``) and the line,
in Chinese and English, so that a lender editing a script can find the mistake at once.

File format (see the standard scripts in ``huifang/scripts/`` for complete examples)::

    id: first_visit
    version: 1
    title: {zh: 首次贷后回访, en: First post-loan follow-up}
    purpose: first_visit
    variables: [borrower_name, agent_name, lender_name, id_last4, loan_amount]
    required_disclosures: [recording_notice]      # optional; this is the default
    steps:
      - say: greeting                              # the kind is the key, the id its value
        zh: 您好，我是{lender_name}的回访专员{agent_name}。
        en: Hello, this is {agent_name} from {lender_name}.
      - disclosure: recording
        code: recording_notice
        zh: …
        en: …
      - ask: id_last4
        type: free_text                            # yes_no | choice | number | money | date
        pattern: "[0-9X]{4}"                       # | free_text; also min, max, integer,
        zh: …                                      #   min_days, max_days, max_length,
        en: …                                      #   required (default true), options
        identity: {pass: [{q: id_last4, eq: $id_last4}], on_fail: identity_failed}
        personal: secret                           # personal data, masked after the call:
                                                   #   secret (or true) | phone | address
      - branch: after_reason
        rules:
          - when: [{q: missed_reason, in: [forgot, card_issue]}]
            goto: ptp_date
        default: hardship
      - handover: to_human
        reason: dispute
        zh: …
        en: …
      - end: done
        outcome: completed
        zh: …
        en: …

A condition is ``{q: QUESTION, OP: VALUE}`` with OP one of eq, ne, lt, le, gt, ge, in, not_in
(a list) or ``answered: true/false``; a value ``$name`` compares with the context variable
``name``. Choice codes that YAML would read as booleans (yes, no, on, off) must be quoted.
A step without ``next`` continues with the step listed after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from huifang.domain.scripts import (
    STANDARD_VARIABLES,
    AnswerType,
    Ask,
    Branch,
    BranchRule,
    Condition,
    ConditionValue,
    Disclosure,
    End,
    Handover,
    IdentityCheck,
    Op,
    Option,
    Personal,
    Purpose,
    Say,
    Script,
    Step,
    Text,
    Validation,
    Variable,
    validate_script,
)

YamlPath = tuple[str | int, ...]
# The C loader (libyaml) when PyYAML has it: the same results, about ten times faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem in a script file, located by YAML path and line (1-based, when known)."""

    source: str
    path: str
    line: int | None
    code: str
    message: Text

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        at = f" {self.path}" if self.path else ""
        return f"{where}{at}: {self.message.zh} / {self.message.en}"


class ScriptFileError(ValueError):
    """A script file that cannot be loaded; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(path: YamlPath) -> str:
    """('steps', 3, 'options', 1, 'en') → 'steps[3].options[1].en'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Collector:
    """Collects structural problems while a file is read, so that all are reported at once."""

    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root
        self.problems: list[FileProblem] = []

    def line(self, path: YamlPath) -> int | None:
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == part:
                        child = value
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(part, int)
                and 0 <= part < len(node.value)
            ):
                child = node.value[part]
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line

    def add(self, path: YamlPath, code: str, zh: str, en: str) -> None:
        self.problems.append(
            FileProblem(self.source, format_path(path), self.line(path), code, Text(zh, en))
        )


class _Invalid(Exception):
    """Stops reading one element after its problem has been collected."""


_STEP_KINDS = ("say", "disclosure", "ask", "branch", "handover", "end")
_TEXT_KEYS = {"zh", "en"}
_STEP_KEYS = {
    "say": {"next"},
    "disclosure": {"code", "next"},
    "ask": {
        "type",
        "options",
        "required",
        "identity",
        "next",
        "min",
        "max",
        "integer",
        "min_days",
        "max_days",
        "max_length",
        "pattern",
        "personal",
    },
    "branch": {"rules", "default"},
    "handover": {"reason", "outcome"},
    "end": {"outcome"},
}
_TOP_KEYS = {"id", "version", "title", "purpose", "variables", "required_disclosures", "steps"}
_OPS = {op.value: op for op in Op if op not in (Op.ANSWERED, Op.NOT_ANSWERED)}


def parse_script(text: str, source: str = "<string>") -> Script:
    """Read a script from YAML text, checking structure only (not the domain rules).

    Raises ScriptFileError listing every structural problem with its YAML path and line.
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScriptFileError(
            [
                FileProblem(
                    source,
                    "",
                    line,
                    "yaml",
                    Text(f"YAML 语法错误: {exc}", f"YAML syntax error: {exc}"),
                )
            ]
        ) from None
    c = _Collector(source, root)
    if not isinstance(data, dict):
        c.add(
            (),
            "structure",
            "话术文件应为一个映射 (id, version, steps …)",
            "a script file is a mapping",
        )
        raise ScriptFileError(c.problems)
    _unknown_keys(c, (), data, _TOP_KEYS)
    script_id = _string(c, ("id",), data.get("id"))
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        c.add(("version",), "structure", "version 应为正整数", "version must be a positive integer")
        version = 1
    title = _text_or_none(c, ("title",), data.get("title"))
    purpose_raw = data.get("purpose")
    purpose = Purpose.ROUTINE
    try:
        purpose = Purpose(str(purpose_raw))
    except ValueError:
        choices = ", ".join(p.value for p in Purpose)
        c.add(
            ("purpose",),
            "structure",
            f"purpose 应为 {choices} 之一, 实为 {purpose_raw!r}",
            f"purpose must be one of {choices}, got {purpose_raw!r}",
        )
    variables = _string_list(c, ("variables",), data.get("variables", []))
    disclosures = _string_list(
        c, ("required_disclosures",), data.get("required_disclosures", ["recording_notice"])
    )
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list):
        c.add(("steps",), "structure", "steps 应为步骤列表", "steps must be a list of steps")
        raw_steps = []
    answer_types = _answer_types(raw_steps)
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        try:
            steps.append(_step(c, ("steps", i), raw, answer_types))
        except _Invalid:
            continue
    if c.problems:
        raise ScriptFileError(c.problems)
    assert title is not None
    return Script(
        id=script_id,
        version=version,
        title=title,
        purpose=purpose,
        variables=tuple(variables),
        steps=tuple(steps),
        required_disclosures=tuple(disclosures),
    )


def check_script_text(
    text: str,
    source: str = "<string>",
    catalogue: Mapping[str, Variable] = STANDARD_VARIABLES,
) -> tuple[Script | None, tuple[FileProblem, ...]]:
    """Read and validate a script; never raises. Returns the script (None when its structure
    is broken) and every problem, domain problems located at their step's YAML path."""
    try:
        script = parse_script(text, source)
    except ScriptFileError as exc:
        return None, exc.problems
    root = yaml.compose(text, Loader=_Loader)
    c = _Collector(source, root)
    positions = {s.id: i for i, s in reversed(list(enumerate(script.steps)))}
    for problem in validate_script(script, catalogue):
        path: YamlPath = (
            ("steps", positions[problem.step_id]) if problem.step_id in positions else ()
        )
        c.problems.append(
            FileProblem(
                source, format_path(path), c.line(path), problem.code.value, problem.message
            )
        )
    return script, tuple(c.problems)


def check_script_file(
    path: Path | Traversable, catalogue: Mapping[str, Variable] = STANDARD_VARIABLES
) -> tuple[FileProblem, ...]:
    """Every problem of a script file (for `huifang script validate FILE`); never raises."""
    return check_script_text(path.read_text(encoding="utf-8"), str(path), catalogue)[1]


def load_script_file(
    path: Path | Traversable, catalogue: Mapping[str, Variable] = STANDARD_VARIABLES
) -> Script:
    """Load and validate a script file; raises ScriptFileError listing every problem."""
    script, problems = check_script_text(path.read_text(encoding="utf-8"), str(path), catalogue)
    if problems or script is None:
        raise ScriptFileError(problems)
    return script


def standard_script_files() -> list[Traversable]:
    """The standard scripts shipped in the package (``huifang/scripts/*.yaml``), by name."""
    folder = resources.files("huifang") / "scripts"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def load_standard_scripts() -> dict[str, Script]:
    """The standard scripts by id, each validated; raises ScriptFileError if one is broken.

    Read once per process (the shipped files do not change while it runs; scripts are
    immutable), so a queue of a thousand tasks does not parse them a thousand times."""
    return dict(_standard_scripts())


@cache
def _standard_scripts() -> dict[str, Script]:
    scripts: dict[str, Script] = {}
    for file in standard_script_files():
        script = load_script_file(file)
        if script.id in scripts:
            raise ScriptFileError(
                [
                    FileProblem(
                        str(file),
                        "id",
                        1,
                        "duplicate_id",
                        Text(f"话术编号重复: {script.id}", f"duplicate script id {script.id!r}"),
                    )
                ]
            )
        scripts[script.id] = script
    return scripts


def standard_script(purpose: Purpose) -> Script:
    """The standard script for a purpose (the one with the highest version)."""
    matching = [s for s in load_standard_scripts().values() if s.purpose is purpose]
    if not matching:
        raise KeyError(purpose)
    return max(matching, key=lambda s: s.version)


# --------------------------------------------------------------------------------------------
# Reading the parts
# --------------------------------------------------------------------------------------------


def _unknown_keys(
    c: _Collector, path: YamlPath, data: Mapping[Any, Any], allowed: set[str]
) -> None:
    for key in data:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            c.add(
                (*path, str(key)),
                "structure",
                f"未知字段 {key!r} (可用: {known})",
                f"unknown key {key!r} (known: {known})",
            )


def _string(c: _Collector, path: YamlPath, value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value
    c.add(
        path, "structure", f"应为非空文字, 实为 {value!r}", f"must be non-empty text, got {value!r}"
    )
    return ""


def _string_list(c: _Collector, path: YamlPath, value: object) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    c.add(path, "structure", "应为文字列表", "must be a list of text")
    return []


def _text_or_none(c: _Collector, path: YamlPath, value: object) -> Text | None:
    if not isinstance(value, dict):
        c.add(path, "structure", "应为 {zh: …, en: …}", "must be {zh: …, en: …}")
        return None
    _unknown_keys(c, path, value, _TEXT_KEYS)
    return _text_from(c, path, value)


def _text_from(c: _Collector, path: YamlPath, data: Mapping[str, Any]) -> Text:
    """zh and en of a mapping; a missing or empty one is reported (Chinese first)."""
    values = []
    for lang, name_zh, name_en in (("zh", "中文", "Chinese"), ("en", "英文", "English")):
        value = data.get(lang)
        if not isinstance(value, str) or not value.strip():
            c.add(
                (*path, lang),
                f"missing_{'english' if lang == 'en' else 'chinese'}",
                f"缺少{name_zh} ({lang})",
                f"{name_en} text ({lang}) is missing",
            )
            value = ""
        values.append(value)
    return Text(values[0], values[1])


def _answer_types(raw_steps: Sequence[object]) -> dict[str, AnswerType]:
    """The answer type of every question, so that condition values can be typed."""
    types: dict[str, AnswerType] = {}
    for raw in raw_steps:
        if isinstance(raw, dict) and isinstance(raw.get("ask"), str):
            try:
                types[raw["ask"]] = AnswerType(str(raw.get("type")))
            except ValueError:
                continue
    return types


def _step(c: _Collector, path: YamlPath, raw: object, types: Mapping[str, AnswerType]) -> Step:
    if not isinstance(raw, dict):
        c.add(path, "structure", "步骤应为映射", "a step must be a mapping")
        raise _Invalid
    kinds = [k for k in _STEP_KINDS if k in raw]
    if len(kinds) != 1:
        c.add(
            path,
            "structure",
            f"步骤须有且只有一个类型键: {', '.join(_STEP_KINDS)}",
            f"a step needs exactly one kind key: {', '.join(_STEP_KINDS)}",
        )
        raise _Invalid
    kind = kinds[0]
    step_id = _string(c, (*path, kind), raw[kind])
    allowed = {kind} | _STEP_KEYS[kind] | (set() if kind == "branch" else _TEXT_KEYS)
    _unknown_keys(c, path, raw, allowed)
    nxt = _optional_id(c, (*path, "next"), raw.get("next"))
    if kind == "branch":
        return _branch(c, path, raw, step_id, types)
    text = _text_from(c, path, raw)
    if kind == "say":
        return Say(step_id, text, nxt)
    if kind == "disclosure":
        return Disclosure(step_id, _string(c, (*path, "code"), raw.get("code")), text, nxt)
    if kind == "handover":
        return Handover(
            step_id,
            text,
            _string(c, (*path, "reason"), raw.get("reason", "script")),
            _string(c, (*path, "outcome"), raw.get("outcome", "handed_over")),
        )
    if kind == "end":
        return End(step_id, text, _string(c, (*path, "outcome"), raw.get("outcome")))
    return _ask(c, path, raw, step_id, text, nxt, types)


def _optional_id(c: _Collector, path: YamlPath, value: object) -> str | None:
    if value is None:
        return None
    return _string(c, path, value)


def _ask(
    c: _Collector,
    path: YamlPath,
    raw: Mapping[str, Any],
    step_id: str,
    question: Text,
    nxt: str | None,
    types: Mapping[str, AnswerType],
) -> Ask:
    try:
        answer_type = AnswerType(str(raw.get("type")))
    except ValueError:
        choices = ", ".join(t.value for t in AnswerType)
        c.add(
            (*path, "type"),
            "structure",
            f"type 应为 {choices} 之一",
            f"type must be one of {choices}",
        )
        raise _Invalid from None
    options: list[Option] = []
    raw_options = raw.get("options", [])
    if not isinstance(raw_options, list):
        c.add((*path, "options"), "structure", "options 应为列表", "options must be a list")
        raw_options = []
    for j, o in enumerate(raw_options):
        opath = (*path, "options", j)
        if not isinstance(o, dict):
            c.add(opath, "structure", "选项应为 {code, zh, en}", "an option is {code, zh, en}")
            continue
        _unknown_keys(c, opath, o, {"code", "zh", "en", "synonyms"})
        code = o.get("code")
        if isinstance(code, bool):
            c.add(
                (*opath, "code"),
                "structure",
                f"选项代码 {code!r} 被 YAML 读成了布尔值, 请加引号",
                f"option code {code!r} was read as a boolean by YAML; quote it",
            )
            continue
        synonyms = _string_list(c, (*opath, "synonyms"), o.get("synonyms", []))
        options.append(
            Option(_string(c, (*opath, "code"), code), _text_from(c, opath, o), tuple(synonyms))
        )
    required = raw.get("required", True)
    if not isinstance(required, bool):
        c.add(
            (*path, "required"),
            "structure",
            "required 应为 true 或 false",
            "required must be true or false",
        )
        required = True
    validation = Validation(
        min_value=_decimal(c, (*path, "min"), raw.get("min")),
        max_value=_decimal(c, (*path, "max"), raw.get("max")),
        integer=bool(raw.get("integer", False)),
        min_days=_int_or_none(c, (*path, "min_days"), raw.get("min_days")),
        max_days=_int_or_none(c, (*path, "max_days"), raw.get("max_days")),
        max_length=_int_or_none(c, (*path, "max_length"), raw.get("max_length")),
        pattern=_optional_id(c, (*path, "pattern"), raw.get("pattern")),
    )
    identity = None
    raw_identity = raw.get("identity")
    if raw_identity is not None:
        ipath = (*path, "identity")
        if not isinstance(raw_identity, dict):
            c.add(
                ipath,
                "structure",
                "identity 应为 {pass: [...], on_fail: 步骤}",
                "identity must be {pass: [...], on_fail: step}",
            )
        else:
            _unknown_keys(c, ipath, raw_identity, {"pass", "on_fail"})
            identity = IdentityCheck(
                _conditions(c, (*ipath, "pass"), raw_identity.get("pass"), types),
                _string(c, (*ipath, "on_fail"), raw_identity.get("on_fail")),
            )
    return Ask(
        step_id,
        question,
        answer_type,
        tuple(options),
        required,
        validation,
        identity,
        nxt,
        _personal(c, (*path, "personal"), raw.get("personal")),
    )


_PERSONAL_CHOICES = ", ".join(["true", *(p.value for p in Personal)])


def _personal(c: _Collector, path: YamlPath, value: object) -> Personal | None:
    """`personal: true` hides the whole answer (like ``secret``); ``phone`` and ``address``
    keep the parts that identify nobody; absent or false: not personal."""
    if value is None or value is False:
        return None
    if value is True:
        return Personal.SECRET
    try:
        return Personal(str(value))
    except ValueError:
        c.add(
            path,
            "structure",
            f"personal 应为 {_PERSONAL_CHOICES} 之一, 实为 {value!r}",
            f"personal must be one of {_PERSONAL_CHOICES}, got {value!r}",
        )
        return None


def _branch(
    c: _Collector,
    path: YamlPath,
    raw: Mapping[str, Any],
    step_id: str,
    types: Mapping[str, AnswerType],
) -> Branch:
    rules: list[BranchRule] = []
    raw_rules = raw.get("rules", [])
    if not isinstance(raw_rules, list):
        c.add((*path, "rules"), "structure", "rules 应为列表", "rules must be a list")
        raw_rules = []
    for j, r in enumerate(raw_rules):
        rpath = (*path, "rules", j)
        if not isinstance(r, dict):
            c.add(
                rpath,
                "structure",
                "规则应为 {when: [...], goto: 步骤}",
                "a rule is {when: [...], goto: step}",
            )
            continue
        _unknown_keys(c, rpath, r, {"when", "goto"})
        rules.append(
            BranchRule(
                _conditions(c, (*rpath, "when"), r.get("when"), types),
                _string(c, (*rpath, "goto"), r.get("goto")),
            )
        )
    return Branch(step_id, tuple(rules), _optional_id(c, (*path, "default"), raw.get("default")))


def parse_conditions(
    raw: object, source: str, path: YamlPath, types: Mapping[str, AnswerType] | None = None
) -> tuple[tuple[Condition, ...], tuple[FileProblem, ...]]:
    """Conditions written as in a script (``[{q: income_change, eq: down}]``), for other rule
    files (the finding rules); `types` types the values by question when known. Returns the
    conditions read and the problems found, located at `path` in `source`."""
    c = _Collector(source, None)
    conditions = _conditions(c, path, raw, types or {})
    return conditions, tuple(c.problems)


def _conditions(
    c: _Collector, path: YamlPath, raw: object, types: Mapping[str, AnswerType]
) -> tuple[Condition, ...]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        c.add(
            path,
            "structure",
            "条件应为列表 [{q: 问题, eq: 值}]",
            "conditions are a list [{q: question, eq: value}]",
        )
        return ()
    return tuple(
        cond for j, r in enumerate(raw) if (cond := _condition(c, (*path, j), r, types)) is not None
    )


def _condition(
    c: _Collector, path: YamlPath, raw: object, types: Mapping[str, AnswerType]
) -> Condition | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("q"), str):
        c.add(
            path,
            "structure",
            "条件应为 {q: 问题, 比较: 值}",
            "a condition is {q: question, op: value}",
        )
        return None
    ops = [k for k in raw if k != "q"]
    if len(ops) != 1 or (ops[0] not in _OPS and ops[0] != "answered"):
        known = ", ".join([*_OPS, "answered"])
        c.add(
            path,
            "structure",
            f"条件须有且只有一个比较 ({known})",
            f"a condition needs exactly one of {known}",
        )
        return None
    question, key = raw["q"], ops[0]
    value = raw[key]
    if key == "answered":
        if not isinstance(value, bool):
            c.add(
                (*path, key),
                "structure",
                "answered 应为 true 或 false",
                "answered must be true or false",
            )
            return None
        return Condition(question, Op.ANSWERED if value else Op.NOT_ANSWERED)
    op = _OPS[key]
    if isinstance(value, str) and value.startswith("$"):
        return Condition(question, op, var=value[1:])
    typed = _typed(c, (*path, key), value, types.get(question))
    if typed is None:
        return None
    return Condition(question, op, typed)


def _typed(
    c: _Collector, path: YamlPath, value: object, kind: AnswerType | None
) -> ConditionValue | None:
    if isinstance(value, list):
        items = [_typed(c, (*path, j), v, kind) for j, v in enumerate(value)]
        return tuple(i for i in items if i is not None and not isinstance(i, tuple))
    if kind in (AnswerType.CHOICE, AnswerType.FREE_TEXT) and isinstance(value, bool):
        c.add(
            path,
            "structure",
            f"{value!r} 被 YAML 读成了布尔值, 选项代码请加引号",
            f"{value!r} was read as a boolean by YAML; quote choice codes",
        )
        return None
    if kind is AnswerType.YES_NO and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind in (AnswerType.NUMBER, AnswerType.MONEY) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    ):
        return _decimal(c, path, value)
    if isinstance(value, str) and kind is AnswerType.DATE:
        try:
            return date.fromisoformat(value)
        except ValueError:
            c.add(
                path,
                "structure",
                f"日期应为 YYYY-MM-DD: {value!r}",
                f"a date is YYYY-MM-DD: {value!r}",
            )
            return None
    if isinstance(value, bool | str | date):
        return value
    c.add(path, "structure", f"无法使用的比较值 {value!r}", f"unusable value {value!r}")
    return None


def _decimal(c: _Collector, path: YamlPath, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        c.add(path, "structure", f"应为数字, 实为 {value!r}", f"must be a number, got {value!r}")
        return None
    try:
        # str() first: a YAML float 0.3 becomes Decimal('0.3'), not its binary expansion.
        number = Decimal(str(value))
    except InvalidOperation:
        c.add(path, "structure", f"应为数字, 实为 {value!r}", f"must be a number, got {value!r}")
        return None
    if not number.is_finite():
        c.add(
            path,
            "structure",
            f"应为有限数字, 实为 {value!r}",
            f"must be a finite number, got {value!r}",
        )
        return None
    return number


def _int_or_none(c: _Collector, path: YamlPath, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    c.add(path, "structure", f"应为整数, 实为 {value!r}", f"must be a whole number, got {value!r}")
    return None


def iter_problems(problems: Sequence[FileProblem]) -> Iterator[str]:
    """Problems as printable lines (for the CLI)."""
    for p in problems:
        yield str(p)
