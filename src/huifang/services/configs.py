"""Versioned policies and scripts: the one loader the CLI, web, voice and batch go through,
and the manager's editor (validate, save a version, activate, roll back, diff).

The packaged YAML files are the defaults: the follow-up policy (`policies/followup.yaml`, or
HUIFANG_FOLLOWUP_POLICY), the contact policy (`policies/contact.yaml`, or
HUIFANG_CONTACT_POLICY) and the scripts (`scripts/*.yaml`). A manager saves a new version of
one of them — the whole YAML text, checked by the same validators as the files — and
activates it; from then on the loaders below return the stored version, until another is
activated or the packaged file is restored (`activate(..., None)`). Stored versions are never
changed or deleted, and a version number means one text forever: a saved version must be
higher than every version of that document (packaged or stored), so a call run or a visit
that names script ``routine`` v3 can always be read back (`script(engine, "routine", 3)`),
and a run keeps the version it started with when another is activated.

Loaders: `followup_policy`, `contact_policy`, `scripts`, `script`, `script_for_purpose`. Each
reads which version is active (one small query, kept for `ACTIVE_TTL` seconds per database;
a change made in this process is seen at once, other processes see it within the TTL) and
parses a stored text once per process (by its SHA-256). With `session=` they read through the
caller's transaction (needed inside a SQLite write transaction).

Every save and activation is written to the audit log in the same transaction.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Engine, exc, select
from sqlalchemy.orm import Session

from huifang import compliance_files, policy_files, script_files
from huifang.compliance_files import LoadedContactPolicy
from huifang.domain import scripts as sc
from huifang.domain.compliance import InvalidPolicy
from huifang.domain.compliance import policy_from_mapping as contact_from_mapping
from huifang.domain.contact_strategy import strategy_from_mapping
from huifang.domain.followup_policy import PolicyError, policy_from_mapping
from huifang.policy_files import LoadedPolicy
from huifang.security import audit
from huifang.store.config_models import ConfigActive, ConfigVersion
from huifang.store.db import transaction

SCRIPT = "script"
FOLLOWUP = "followup_policy"
CONTACT = "contact_policy"
KINDS = (FOLLOWUP, CONTACT, SCRIPT)
POLICY_NAMES = {FOLLOWUP: "followup", CONTACT: "contact"}
KIND_LABELS = {
    FOLLOWUP: ("回访策略", "Follow-up policy"),
    CONTACT: ("联系合规策略", "Contact compliance policy"),
    SCRIPT: ("话术", "Script"),
}
ACTIVE_TTL = 2.0
MAX_TEXT = 200_000
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class ConfigError(ValueError):
    """A save or activation that cannot be done; `problems` lists what the validator found."""

    def __init__(self, zh: str, en: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    """One validation problem, located by line (1-based, when known) and setting path."""

    line: int | None
    path: str
    code: str
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"第 {self.line} 行 " if self.line else ""
        at = f"{self.path}: " if self.path else ""
        return f"{where}{at}{self.zh} / {self.en}"


@dataclass(frozen=True)
class VersionView:
    id: int
    kind: str
    name: str
    version: int
    comment: str
    created_by: str
    created_at: datetime
    sha256: str
    active: bool
    content: str | None = None


@dataclass(frozen=True)
class DocumentView:
    """A policy or script document: what is in force and how many versions are stored."""

    kind: str
    name: str
    title_zh: str
    title_en: str
    packaged_version: int | None
    active_version: int
    active_id: int | None  # None: the packaged file is in force
    stored: int
    activated_by: str | None
    activated_at: datetime | None


# --------------------------------------------------------------------------------------------
# documents and their packaged texts
# --------------------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(
            f"未知的配置类型 {kind!r} (可用: {', '.join(KINDS)})",
            f"unknown kind {kind!r} (known: {', '.join(KINDS)})",
        )


def packaged_text(kind: str, name: str) -> str | None:
    """The YAML text of the file in force without a stored version (None: no such file)."""
    _check_kind(kind)
    if kind == SCRIPT:
        for f in script_files.standard_script_files():
            text = f.read_text(encoding="utf-8")
            if re.search(rf"^id:\s*{re.escape(name)}\s*$", text, re.M):
                return text
        return None
    if name != POLICY_NAMES[kind]:
        return None
    env = os.environ.get(
        "HUIFANG_FOLLOWUP_POLICY" if kind == FOLLOWUP else compliance_files.ENV_VAR, ""
    )
    if env:
        try:
            with open(env, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return None
    file = "followup.yaml" if kind == FOLLOWUP else "contact.yaml"
    return (resources.files("huifang") / "policies" / file).read_text(encoding="utf-8")


def _packaged_version(kind: str, name: str) -> int | None:
    if kind == SCRIPT:
        s = script_files.load_standard_scripts().get(name)
        return s.version if s else None
    if name != POLICY_NAMES[kind]:
        return None
    if kind == FOLLOWUP:
        return policy_files.load_followup_policy().version
    return compliance_files.load_contact_policy().version


def _names(kind: str) -> list[str]:
    if kind == SCRIPT:
        return sorted(script_files.load_standard_scripts())
    return [POLICY_NAMES[kind]]


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _line_of(root: yaml.Node | None, path: str) -> int | None:
    """The line of a dotted setting path (``routine.cadence_months.high``) in the YAML."""
    node = root
    line = None
    for part in [p for p in re.split(r"[.\[\]]", path) if p]:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            child = node.value[int(part)]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _yaml(text: str) -> tuple[Any, yaml.Node | None, Problem | None]:
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader), None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        return (
            None,
            None,
            Problem(line, "", "yaml", f"YAML 语法错误: {problem}", f"YAML syntax error: {problem}"),
        )


def _policy_problems(kind: str, text: str, script_ids: set[str]) -> tuple[Problem, ...]:
    data, root, bad = _yaml(text)
    if bad is not None:
        return (bad,)
    if not isinstance(data, dict):
        return (
            Problem(1, "", "structure", "内容应为映射 (键: 值)", "the document must be a mapping"),
        )
    if kind == FOLLOWUP:
        try:
            policy = policy_from_mapping(data)
            strategy_from_mapping(policy.strategy)
        except PolicyError as e:
            return (Problem(_line_of(root, e.path), e.path, "policy", e.message_zh, e.message_en),)
        problems = []
        for purpose, rule in policy.purposes.items():
            if rule.script not in script_ids:
                path = f"purposes.{purpose}.script"
                problems.append(
                    Problem(
                        _line_of(root, path),
                        path,
                        "unknown_script",
                        f"没有话术 {rule.script!r} (现有: {', '.join(sorted(script_ids))})",
                        f"no script {rule.script!r} (known: {', '.join(sorted(script_ids))})",
                    )
                )
        return tuple(problems)
    try:
        contact_from_mapping(data)
    except InvalidPolicy as e:
        key = next((k for k in data if isinstance(k, str) and k in str(e.message_en)), "")
        return (
            Problem(
                _line_of(root, key) if key else None, key, "policy", e.message_zh, e.message_en
            ),
        )
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return (
            Problem(
                _line_of(root, "version"),
                "version",
                "policy",
                "version 应为正整数",
                "version must be a positive integer",
            ),
        )
    return ()


def _version_of(kind: str, text: str) -> tuple[str | None, int | None]:
    """The document's own id (scripts) and version number, when they can be read."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    version = data.get("version", 1 if kind == CONTACT else None)
    if isinstance(version, bool) or not isinstance(version, int):
        version = None
    name = data.get("id") if kind == SCRIPT else POLICY_NAMES[kind]
    return (name if isinstance(name, str) else None), version


def check(
    engine: Engine, kind: str, name: str | None, text: str, *, session: Session | None = None
) -> tuple[Problem, ...]:
    """Every problem that would stop `text` from being saved as the next version of the
    document `kind`/`name` (None: a new script, named by its `id`). Never raises for bad text.

    The domain validators run first (a script's structure and rules, located by line and
    YAML path; a policy's settings and its contact strategy); then the version rules: the
    script id must be the document's, the version higher than every existing one."""
    _check_kind(kind)
    if len(text) > MAX_TEXT:
        return (
            Problem(
                None,
                "",
                "too_long",
                f"内容超过 {MAX_TEXT} 字符",
                f"longer than {MAX_TEXT} characters",
            ),
        )
    if kind == SCRIPT:
        _s, found = script_files.check_script_text(text, "script")
        problems = [Problem(p.line, p.path, p.code, p.message.zh, p.message.en) for p in found]
    else:
        ids = set(scripts(engine, session=session))
        problems = list(_policy_problems(kind, text, ids))
    if problems:
        return tuple(problems)
    doc_name, version = _version_of(kind, text)
    if kind == SCRIPT:
        if doc_name is None or not NAME_RE.match(doc_name):
            return (
                Problem(
                    1,
                    "id",
                    "bad_code",
                    "话术编号应为小写字母、数字和下划线",
                    "the script id must be snake_case",
                ),
            )
        if name is not None and doc_name != name:
            return (
                Problem(
                    _line_of(yaml.compose(text, Loader=yaml.SafeLoader), "id"),
                    "id",
                    "id_changed",
                    f"话术编号应为 {name} (实为 {doc_name}); 新话术请用“新建”",
                    f"the script id must stay {name} (is {doc_name}); create a new script instead",
                ),
            )
    assert doc_name is not None and version is not None
    latest = latest_version(engine, kind, doc_name, session=session)
    if latest is not None and version <= latest:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        return (
            Problem(
                _line_of(root, "version"),
                "version",
                "version_not_raised",
                f"version 应大于现有最高版本 {latest} (例如 {latest + 1})",
                f"version must be higher than the latest version {latest} (e.g. {latest + 1})",
            ),
        )
    return ()


def next_draft(text: str, latest: int | None) -> str:
    """The text with its top-level `version:` raised to one above `latest`, as the editor's
    starting point (the manager still reviews and may change it)."""
    if latest is None:
        return text
    new, n = re.subn(r"^version:\s*\d+\s*$", f"version: {latest + 1}", text, count=1, flags=re.M)
    return new if n else text


# --------------------------------------------------------------------------------------------
# stored versions
# --------------------------------------------------------------------------------------------


@contextmanager
def _reading(engine: Engine, session: Session | None) -> Iterator[Session]:
    if session is not None:
        yield session
    else:
        with transaction(engine) as s:
            yield s


def latest_version(
    engine: Engine, kind: str, name: str, *, session: Session | None = None
) -> int | None:
    """The highest version number of a document, packaged or stored (None: no such document)."""
    with _reading(engine, session) as s:
        stored = s.scalars(
            select(ConfigVersion.version)
            .where(ConfigVersion.kind == kind, ConfigVersion.name == name)
            .order_by(ConfigVersion.version.desc())
            .limit(1)
        ).first()
    packaged = _packaged_version(kind, name)
    known = [v for v in (stored, packaged) if v is not None]
    return max(known) if known else None


def _view(row: ConfigVersion, active_id: int | None, content: bool = False) -> VersionView:
    return VersionView(
        id=row.id,
        kind=row.kind,
        name=row.name,
        version=row.version,
        comment=row.comment,
        created_by=row.created_by,
        created_at=row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC),
        sha256=row.sha256,
        active=row.id == active_id,
        content=row.content if content else None,
    )


def _active_id(s: Session, kind: str, name: str) -> int | None:
    row = s.get(ConfigActive, (kind, name))
    return row.version_id if row else None


def versions(engine: Engine, kind: str, name: str) -> list[VersionView]:
    """The stored versions of a document, newest first."""
    _check_kind(kind)
    with transaction(engine) as s:
        active = _active_id(s, kind, name)
        rows = s.scalars(
            select(ConfigVersion)
            .where(ConfigVersion.kind == kind, ConfigVersion.name == name)
            .order_by(ConfigVersion.version.desc())
        ).all()
        return [_view(r, active) for r in rows]


def get_version(engine: Engine, version_id: int) -> VersionView | None:
    with transaction(engine) as s:
        row = s.get(ConfigVersion, version_id)
        if row is None:
            return None
        return _view(row, _active_id(s, row.kind, row.name), content=True)


def documents(engine: Engine, kind: str | None = None) -> list[DocumentView]:
    """Every editable document (both policies, every packaged or stored script) and what is
    in force for each."""
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        _check_kind(k)
    with transaction(engine) as s:
        stored: dict[tuple[str, str], int] = {}
        for k, n in s.execute(select(ConfigVersion.kind, ConfigVersion.name)):
            stored[(k, n)] = stored.get((k, n), 0) + 1
        active = {(a.kind, a.name): a for a in s.scalars(select(ConfigActive))}
        rows_by_id = {
            r.id: r
            for r in s.scalars(
                select(ConfigVersion).where(
                    ConfigVersion.id.in_([a.version_id for a in active.values() if a.version_id])
                )
            )
        }
    packaged_scripts = script_files.load_standard_scripts()
    out: list[DocumentView] = []
    for k in kinds:
        names = set(_names(k)) | {n for (kk, n) in stored if kk == k}
        for n in sorted(names):
            a = active.get((k, n))
            row = rows_by_id.get(a.version_id) if a and a.version_id else None
            packaged = _packaged_version(k, n)
            if k == SCRIPT:
                if row is not None:
                    script = _parse_script(row.sha256, row.content)
                    title = (script.title.zh, script.title.en)
                elif n in packaged_scripts:
                    t = packaged_scripts[n].title
                    title = (t.zh, t.en)
                else:
                    title = (n, n)
            else:
                title = KIND_LABELS[k]
            out.append(
                DocumentView(
                    kind=k,
                    name=n,
                    title_zh=title[0],
                    title_en=title[1],
                    packaged_version=packaged,
                    active_version=row.version if row else (packaged or 0),
                    active_id=row.id if row else None,
                    stored=stored.get((k, n), 0),
                    activated_by=a.activated_by if a else None,
                    activated_at=a.activated_at if a else None,
                )
            )
    return out


def document(engine: Engine, kind: str, name: str) -> DocumentView | None:
    return next((d for d in documents(engine, kind) if d.name == name), None)


def active_text(engine: Engine, kind: str, name: str) -> str | None:
    """The YAML text in force for a document (the packaged file's when none is stored)."""
    with transaction(engine) as s:
        active = _active_id(s, kind, name)
        if active is not None:
            row = s.get(ConfigVersion, active)
            if row is not None:
                return row.content
    return packaged_text(kind, name)


def save_version(
    engine: Engine,
    kind: str,
    name: str | None,
    text: str,
    comment: str,
    actor: audit.Actor,
    *,
    activate: bool = False,
    now: datetime | None = None,
) -> VersionView:
    """Save `text` as the next version of a document after checking it; raises ConfigError
    with the problems. One transaction with its audit entry (and the activation if asked)."""
    _check_kind(kind)
    comment = comment.strip()
    if not comment:
        raise ConfigError("请填写修改说明", "a comment describing the change is required")
    if len(comment) > 500:
        raise ConfigError("修改说明最多 500 字", "the comment is limited to 500 characters")
    if not actor.username:
        raise ConfigError("须注明保存人", "the author is required")
    if kind != SCRIPT and name != POLICY_NAMES[kind]:
        raise ConfigError(f"没有策略 {name!r}", f"no policy {name!r}")
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        problems = check(engine, kind, name, text, session=s)
        if problems:
            raise ConfigError("内容未通过校验", "the document did not pass validation", problems)
        doc_name, version = _version_of(kind, text)
        assert doc_name is not None and version is not None
        based_on = _active_id(s, kind, doc_name)
        row = ConfigVersion(
            kind=kind,
            name=doc_name,
            version=version,
            content=text,
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            comment=comment,
            created_by=actor.username,
            created_at=at,
            based_on_id=based_on,
        )
        s.add(row)
        try:
            s.flush()
        except exc.IntegrityError:
            # saved by someone else a moment ago
            raise ConfigError(
                f"版本 {version} 已存在, 请提高 version",
                f"version {version} exists; raise it",
                (
                    Problem(
                        None,
                        "version",
                        "version_not_raised",
                        f"版本 {version} 刚被他人保存, 请提高 version",
                        f"version {version} was just saved by someone else; raise it",
                    ),
                ),
            ) from None
        audit.record(
            s,
            actor,
            "config.save",
            target_type=kind,
            target_id=f"{doc_name}@{version}",
            detail={"version_id": row.id, "sha256": row.sha256, "comment": comment},
        )
        if activate:
            _activate(s, kind, doc_name, row.id, actor, at)
        view = _view(row, row.id if activate else based_on, content=True)
    _forget(engine)
    return view


def _activate(
    s: Session, kind: str, name: str, version_id: int | None, actor: audit.Actor, at: datetime
) -> None:
    current = s.get(ConfigActive, (kind, name))
    before = current.version_id if current else None
    if current is None:
        s.add(
            ConfigActive(
                kind=kind,
                name=name,
                version_id=version_id,
                activated_by=actor.username or "",
                activated_at=at,
            )
        )
    else:
        current.version_id = version_id
        current.activated_by = actor.username or ""
        current.activated_at = at
    audit.record(
        s,
        actor,
        "config.activate",
        target_type=kind,
        target_id=name,
        detail={"from_version_id": before, "to_version_id": version_id},
    )


def activate(
    engine: Engine,
    kind: str,
    name: str,
    version_id: int | None,
    actor: audit.Actor,
    *,
    now: datetime | None = None,
) -> DocumentView:
    """Put a stored version in force (activate or roll back), or the packaged file (None).

    Runs already started keep their version; new tasks, runs and attempts use this one."""
    _check_kind(kind)
    at = now or datetime.now(UTC)
    with transaction(engine) as s:
        if version_id is not None:
            row = s.get(ConfigVersion, version_id)
            if row is None or row.kind != kind or row.name != name:
                raise ConfigError(
                    f"{name} 没有版本记录 #{version_id}",
                    f"{name} has no stored version #{version_id}",
                )
            if kind == FOLLOWUP:
                ids = set(scripts(engine, session=s))
                problems = _policy_problems(kind, row.content, ids)
                if problems:
                    raise ConfigError(
                        "该版本引用了不存在的话术", "that version names a missing script", problems
                    )
        elif packaged_text(kind, name) is None:
            raise ConfigError(f"{name} 没有出厂文件", f"{name} has no packaged file")
        _activate(s, kind, name, version_id, actor, at)
    _forget(engine)
    found = document(engine, kind, name)
    assert found is not None
    return found


def diff(engine: Engine, kind: str, name: str, old_id: int | None, new_id: int | None) -> list[str]:
    """A unified diff between two versions of a document (None: the packaged file)."""

    def text_of(version_id: int | None) -> tuple[str, str]:
        if version_id is None:
            text = packaged_text(kind, name)
            if text is None:
                raise ConfigError(f"{name} 没有出厂文件", f"{name} has no packaged file")
            return text, "出厂文件 / packaged"
        v = get_version(engine, version_id)
        if v is None or v.kind != kind or v.name != name or v.content is None:
            raise ConfigError(
                f"{name} 没有版本记录 #{version_id}", f"{name} has no version #{version_id}"
            )
        return v.content, f"v{v.version} (#{v.id})"

    old, old_label = text_of(old_id)
    new, new_label = text_of(new_id)
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=3
        )
    )


# --------------------------------------------------------------------------------------------
# the loaders
# --------------------------------------------------------------------------------------------

_lock = threading.Lock()
_active_cache: dict[str, tuple[float, dict[tuple[str, str], tuple[int, str]]]] = {}


def _forget(engine: Engine) -> None:
    with _lock:
        url = str(engine.url)
        _active_cache.pop(url, None)
        for key in [k for k, (_, found) in _version_cache.items() if k[0] == url and not found]:
            del _version_cache[key]


def _active_rows(engine: Engine, session: Session | None) -> dict[tuple[str, str], tuple[int, str]]:
    """(kind, name) → (version id, sha256) of every stored version in force."""
    key = str(engine.url)
    now = time.monotonic()
    with _lock:
        hit = _active_cache.get(key)
    if hit is not None and now - hit[0] < ACTIVE_TTL:
        return hit[1]
    query = select(
        ConfigActive.kind, ConfigActive.name, ConfigVersion.id, ConfigVersion.sha256
    ).join(ConfigVersion, ConfigVersion.id == ConfigActive.version_id)
    if session is not None:
        rows = session.execute(query).all()
    else:
        with transaction(engine) as s:
            rows = s.execute(query).all()
    found = {(k, n): (int(i), str(h)) for k, n, i, h in rows}
    with _lock:
        _active_cache[key] = (now, found)
    return found


def _content(engine: Engine, version_id: int, session: Session | None) -> str:
    with _reading(engine, session) as s:
        row = s.get(ConfigVersion, version_id)
        assert row is not None
        return row.content


@lru_cache(maxsize=256)
def _parse_script(sha: str, text: str) -> sc.Script:
    del sha  # the cache key: the same text parses to the same script
    script, problems = script_files.check_script_text(text, "stored")
    if problems or script is None:
        raise script_files.ScriptFileError(problems)
    return script


@lru_cache(maxsize=32)
def _parse_followup(sha: str, text: str, label: str) -> LoadedPolicy:
    return policy_files.parse_followup_policy(text, label)


@lru_cache(maxsize=32)
def _parse_contact(sha: str, text: str, label: str) -> LoadedContactPolicy:
    return compliance_files.parse_contact_policy(text, label)


_text_cache: dict[tuple[str, str], str] = {}


def _stored_text(engine: Engine, version_id: int, sha: str, session: Session | None) -> str:
    key = (str(engine.url), sha)
    text = _text_cache.get(key)
    if text is None:
        text = _content(engine, version_id, session)
        if len(_text_cache) > 512:
            _text_cache.clear()
        _text_cache[key] = text
    return text


def followup_policy(engine: Engine | None, *, session: Session | None = None) -> LoadedPolicy:
    """The follow-up policy in force: the active stored version, else the file (the one
    HUIFANG_FOLLOWUP_POLICY names, else the packaged default)."""
    if engine is not None:
        hit = _active_rows(engine, session).get((FOLLOWUP, POLICY_NAMES[FOLLOWUP]))
        if hit is not None:
            text = _stored_text(engine, hit[0], hit[1], session)
            return _parse_followup(hit[1], text, f"db:{FOLLOWUP}#{hit[0]}")
    return policy_files.load_followup_policy()


def contact_policy(engine: Engine | None, *, session: Session | None = None) -> LoadedContactPolicy:
    """The contact policy in force: the active stored version, else the file."""
    if engine is not None:
        hit = _active_rows(engine, session).get((CONTACT, POLICY_NAMES[CONTACT]))
        if hit is not None:
            text = _stored_text(engine, hit[0], hit[1], session)
            return _parse_contact(hit[1], text, f"db:{CONTACT}#{hit[0]}")
    return compliance_files.load_contact_policy()


def scripts(engine: Engine | None, *, session: Session | None = None) -> dict[str, sc.Script]:
    """The scripts in force by id: each packaged script, replaced by its active stored
    version when there is one, and scripts that exist only as stored versions."""
    found = script_files.load_standard_scripts()
    if engine is None:
        return found
    for (kind, name), (vid, sha) in _active_rows(engine, session).items():
        if kind == SCRIPT:
            found[name] = _parse_script(sha, _stored_text(engine, vid, sha, session))
    return found


def script(
    engine: Engine | None,
    script_id: str,
    version: int | None = None,
    *,
    session: Session | None = None,
) -> sc.Script | None:
    """A script by id: the version in force, or exactly `version` (a stored version or the
    packaged file's), for a run or a record made with it. None when there is none."""
    if version is None:
        return scripts(engine, session=session).get(script_id)
    if engine is not None:
        stored = _stored_script(engine, script_id, version, session)
        if stored is not None:
            return stored
    packaged = script_files.load_standard_scripts().get(script_id)
    return packaged if packaged is not None and packaged.version == version else None


# (database, script id, version) → the stored version parsed, or None when there was none
# at the time. Every answer of a call reads its run's script by version: a stored version
# never changes (unique by number, never deleted), so a found one is kept; "none" is kept for
# ACTIVE_TTL like the versions in force (a version is stored before any run can use it).
_version_cache: dict[tuple[str, str, int], tuple[float, sc.Script | None]] = {}


def _stored_script(
    engine: Engine, script_id: str, version: int, session: Session | None
) -> sc.Script | None:
    key = (str(engine.url), script_id, version)
    now = time.monotonic()
    with _lock:
        hit = _version_cache.get(key)
    if hit is not None and (hit[1] is not None or now - hit[0] < ACTIVE_TTL):
        return hit[1]
    with _reading(engine, session) as s:
        row = s.scalars(
            select(ConfigVersion).where(
                ConfigVersion.kind == SCRIPT,
                ConfigVersion.name == script_id,
                ConfigVersion.version == version,
            )
        ).first()
        parsed = _parse_script(row.sha256, row.content) if row is not None else None
    with _lock:
        if len(_version_cache) > 1024:
            _version_cache.clear()
        _version_cache[key] = (now, parsed)
    return parsed


def script_versions(
    engine: Engine | None, script_id: str, *, session: Session | None = None
) -> list[int]:
    """Every version number of a script that can be read back (packaged and stored)."""
    out: set[int] = set()
    packaged = script_files.load_standard_scripts().get(script_id)
    if packaged is not None:
        out.add(packaged.version)
    if engine is not None:
        with _reading(engine, session) as s:
            out.update(
                s.scalars(
                    select(ConfigVersion.version).where(
                        ConfigVersion.kind == SCRIPT, ConfigVersion.name == script_id
                    )
                )
            )
    return sorted(out)


def script_for_purpose(engine: Engine | None, purpose: sc.Purpose) -> sc.Script:
    """The script in force for a purpose (the highest version among those in force)."""
    matching = [s for s in scripts(engine).values() if s.purpose is purpose]
    if not matching:
        raise KeyError(purpose)
    return max(matching, key=lambda s: s.version)


def configured_engine() -> Engine | None:
    """The configured database (HUIFANG_DATABASE_URL, else the embedded SQLite file) when it
    exists and holds the version tables; None otherwise. The CLI's script and voice commands
    read the versions in force from it, and fall back to the files without one."""
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from huifang.settings import load_settings
    from huifang.store.db import make_engine

    url = load_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or not Path(parsed.database).exists()
    ):
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if inspect(conn).has_table("config_active"):
                return engine
    except exc.SQLAlchemyError:
        pass
    engine.dispose()
    return None


def label(kind: str, lang: str = "zh") -> str:
    zh, en = KIND_LABELS[kind]
    return en if lang == "en" else zh


def as_mapping(problems: tuple[Problem, ...]) -> list[Mapping[str, object]]:
    return [
        {"line": p.line, "path": p.path, "code": p.code, "zh": p.zh, "en": p.en} for p in problems
    ]
