# ruff: noqa: B008  (FastAPI dependencies are declared as parameter defaults)
"""The policy and script editor (策略与话术编辑) for head-office managers and administrators,
as pages (HTMX validation as the manager types) and `/api/v1/config` endpoints, over
`services/configs.py`.

Who: the permission `config.manage` (roles manager and admin) **and** a principal scoped to
all branches. The follow-up policy, the contact policy and the scripts are lender-wide: a
branch manager's change would govern every other branch's contacts, so branch-scoped
managers get 403 (`head_office`). The route-table test lists these routes as head-office
routes and checks both refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from huifang.security.roles import AccessDenied, Permission, Principal
from huifang.services import configs
from huifang.services.loan_views import NotFound
from huifang.web.deps import actor, get_engine, require
from huifang.web.rendering import lang_of, render
from huifang.web.routes.api import ERRORS, ErrorBody

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["config"])
Kind = Annotated[str, Path(pattern="^(script|followup_policy|contact_policy)$")]
Name = Annotated[str, Path(pattern="^[a-z][a-z0-9_]{0,63}$")]
VersionId = Annotated[int, Path(ge=1, le=2**62)]
CONFLICT: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": ErrorBody, "description": "版本冲突 / version conflict"},
    422: {"model": ErrorBody, "description": "未通过校验 / invalid document"},
}


def head_office(principal: Principal) -> None:
    """Lender-wide configuration: only principals scoped to every branch may see or change it."""
    if not principal.all_branches:
        raise AccessDenied(
            "策略与话术是全行配置, 仅总行经理或系统管理员可查看和修改",
            "policies and scripts are lender-wide: head-office managers and admins only",
        )


def _head_office(principal: Principal = require(Permission.CONFIG_MANAGE)) -> Principal:
    head_office(principal)
    return principal


@dataclass(frozen=True, slots=True)
class Editing:
    """A head-office caller and the document (policy or script) a route is about."""

    principal: Principal
    doc: configs.DocumentView

    @property
    def kind(self) -> str:
        return self.doc.kind

    @property
    def name(self) -> str:
        return self.doc.name


def _editing(
    request: Request, kind: Kind, name: Name, principal: Principal = Depends(_head_office)
) -> Editing:
    doc = configs.document(get_engine(request), kind, name)
    if doc is None:
        raise NotFound(f"no {kind} {name}")
    return Editing(principal, doc)


# Every route declares one of these two, so a page and its API twin make the same checks:
# the permission `config.manage`, then a principal scoped to every branch (`head_office`),
# then (for a document's routes) 404 for a document that does not exist.
HeadOffice = Annotated[Principal, Depends(_head_office)]
Document = Annotated[Editing, Depends(_editing)]


def _draft(request: Request, kind: str, name: str) -> str:
    engine = get_engine(request)
    text = configs.active_text(engine, kind, name) or ""
    return configs.next_draft(text, configs.latest_version(engine, kind, name))


# -- pages ------------------------------------------------------------------------------------
@router.get("/config", response_class=HTMLResponse)
def config_list(request: Request, principal: HeadOffice) -> Response:
    """策略与话术 / the policies and scripts, and the version in force of each."""
    return render(request, "config_list.html", docs=configs.documents(get_engine(request)))


@router.get("/config/{kind}/{name}", response_class=HTMLResponse)
def config_edit(
    request: Request,
    ed: Document,
) -> Response:
    """编辑器: 下一版本的草稿、校验、保存、历史版本 / the editor."""
    return render(
        request,
        "config_edit.html",
        doc=ed.doc,
        text=_draft(request, ed.kind, ed.name),
        versions=configs.versions(get_engine(request), ed.kind, ed.name),
        label=configs.label(ed.kind, lang_of(request)),
        problems=None,
        comment="",
    )


@router.post("/config/{kind}/{name}/validate", response_class=HTMLResponse)
def config_validate(
    request: Request,
    ed: Document,
    content: Annotated[str, Form(max_length=configs.MAX_TEXT)],
) -> Response:
    """校验 (HTMX): 问题列表, 含行号和设置项 / the problems, with line and setting."""
    problems = configs.check(get_engine(request), ed.kind, ed.name, content)
    return render(request, "_config_problems.html", problems=problems, checked=True)


@router.post("/config/{kind}/{name}/versions", response_class=HTMLResponse)
def config_save(
    request: Request,
    ed: Document,
    content: Annotated[str, Form(max_length=configs.MAX_TEXT)],
    comment: Annotated[str, Form(max_length=500)] = "",
    activate: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """保存新版本 (可同时启用); 未通过校验时返回编辑器和问题 / save a new version."""
    engine = get_engine(request)
    try:
        configs.save_version(
            engine,
            ed.kind,
            ed.name,
            content,
            comment,
            actor(request, ed.principal),
            activate=bool(activate),
        )
    except configs.ConfigError as exc:
        problems = exc.problems or (configs.Problem(None, "comment", "comment", exc.zh, exc.en),)
        return render(
            request,
            "config_edit.html",
            doc=ed.doc,
            text=content,
            versions=configs.versions(engine, ed.kind, ed.name),
            label=configs.label(ed.kind, lang_of(request)),
            problems=problems,
            comment=comment,
        )
    return RedirectResponse(f"/config/{ed.kind}/{ed.name}?saved=1", status_code=303)


@router.post("/config/{kind}/{name}/activate", response_class=HTMLResponse)
def config_activate(
    request: Request,
    ed: Document,
    version_id: Annotated[str, Form(max_length=20, pattern="^[0-9]*$")] = "",
) -> Response:
    """启用或回滚到某个版本; 空 = 恢复出厂文件 / activate, roll back, or restore the file."""
    try:
        configs.activate(
            get_engine(request),
            ed.kind,
            ed.name,
            int(version_id) if version_id else None,
            actor(request, ed.principal),
        )
    except configs.ConfigError as exc:
        message = exc.en if lang_of(request) == "en" else exc.zh
        return render(request, "error.html", 409, status=409, message=message)
    return RedirectResponse(f"/config/{ed.kind}/{ed.name}?activated=1", status_code=303)


@router.get("/config/{kind}/{name}/diff", response_class=HTMLResponse)
def config_diff(
    request: Request,
    ed: Document,
    old: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    new: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """两个版本的差异 (空 = 出厂文件) / the diff of two versions (empty: the packaged file)."""
    try:
        lines = configs.diff(get_engine(request), ed.kind, ed.name, old, new)
    except configs.ConfigError as exc:
        raise NotFound(str(exc)) from None
    return render(request, "config_diff.html", doc=ed.doc, lines=lines, old=old, new=new)


# -- API --------------------------------------------------------------------------------------
class DocumentOut(BaseModel):
    kind: str
    name: str
    title_zh: str
    title_en: str
    packaged_version: int | None
    active_version: int
    active_id: int | None
    stored: int


class VersionOut(BaseModel):
    id: int
    kind: str
    name: str
    version: int
    comment: str
    created_by: str
    created_at: str
    sha256: str
    active: bool
    content: str | None = None


class ProblemOut(BaseModel):
    line: int | None
    path: str
    code: str
    zh: str
    en: str


class EditorOut(BaseModel):
    document: DocumentOut
    text: str
    draft: str
    versions: list[VersionOut]


class ContentIn(BaseModel):
    content: str = Field(max_length=configs.MAX_TEXT)


class SaveIn(BaseModel):
    content: str = Field(max_length=configs.MAX_TEXT)
    comment: str = Field(min_length=1, max_length=500)
    activate: bool = False


class ActivateIn(BaseModel):
    version_id: int | None = Field(default=None, ge=1, le=2**62)


class ValidationOut(BaseModel):
    ok: bool
    problems: list[ProblemOut]


def _doc_out(d: configs.DocumentView) -> DocumentOut:
    return DocumentOut(
        kind=d.kind,
        name=d.name,
        title_zh=d.title_zh,
        title_en=d.title_en,
        packaged_version=d.packaged_version,
        active_version=d.active_version,
        active_id=d.active_id,
        stored=d.stored,
    )


def _version_out(v: configs.VersionView) -> VersionOut:
    return VersionOut(
        id=v.id,
        kind=v.kind,
        name=v.name,
        version=v.version,
        comment=v.comment,
        created_by=v.created_by,
        created_at=v.created_at.isoformat(),
        sha256=v.sha256,
        active=v.active,
        content=v.content,
    )


def _problems(problems: tuple[configs.Problem, ...]) -> list[ProblemOut]:
    return [ProblemOut(line=p.line, path=p.path, code=p.code, zh=p.zh, en=p.en) for p in problems]


@api.get("/config", response_model=list[DocumentOut], responses=ERRORS)
def config_list_api(request: Request, principal: HeadOffice) -> Any:
    """策略与话术文档及现行版本 / every policy and script document and its version in force."""
    return [_doc_out(d) for d in configs.documents(get_engine(request))]


@api.get("/config/{kind}/{name}", response_model=EditorOut, responses=ERRORS)
def config_get_api(
    request: Request,
    ed: Document,
) -> Any:
    """现行文本、下一版本草稿和已存版本 / the text in force, the next draft, stored versions."""
    engine = get_engine(request)
    return EditorOut(
        document=_doc_out(ed.doc),
        text=configs.active_text(engine, ed.kind, ed.name) or "",
        draft=_draft(request, ed.kind, ed.name),
        versions=[_version_out(v) for v in configs.versions(engine, ed.kind, ed.name)],
    )


@api.post("/config/{kind}/{name}/validate", response_model=ValidationOut, responses=ERRORS)
def config_validate_api(
    request: Request,
    ed: Document,
    body: ContentIn,
) -> Any:
    """校验文本 (不保存) / validate a text without saving it."""
    problems = configs.check(get_engine(request), ed.kind, ed.name, body.content)
    return ValidationOut(ok=not problems, problems=_problems(problems))


def _config_error(exc: configs.ConfigError) -> JSONResponse:
    conflict = any(p.code == "version_not_raised" for p in exc.problems)
    status = 409 if conflict else 422
    return JSONResponse(
        {
            "error": {"status": status, "zh": exc.zh, "en": exc.en},
            "problems": [p.model_dump() for p in _problems(exc.problems)],
        },
        status_code=status,
    )


@api.post(
    "/config/{kind}/{name}/versions",
    response_model=VersionOut,
    status_code=201,
    responses=CONFLICT,
)
def config_save_api(
    request: Request,
    ed: Document,
    body: SaveIn,
) -> Any:
    """保存新版本 (version 须高于现有版本) / save a new version (its version must be higher)."""
    try:
        v = configs.save_version(
            get_engine(request),
            ed.kind,
            ed.name,
            body.content,
            body.comment,
            actor(request, ed.principal),
            activate=body.activate,
        )
    except configs.ConfigError as exc:
        return _config_error(exc)
    return _version_out(v)


@api.get("/config/{kind}/{name}/versions/{version_id}", response_model=VersionOut, responses=ERRORS)
def config_version_api(
    request: Request,
    ed: Document,
    version_id: VersionId,
) -> Any:
    """一个已存版本及其全文 / one stored version with its text."""
    v = configs.get_version(get_engine(request), version_id)
    if v is None or v.kind != ed.kind or v.name != ed.name:
        raise NotFound(f"no version {version_id}")
    return _version_out(v)


@api.post(
    "/config/{kind}/{name}/activate",
    response_model=DocumentOut,
    responses={**ERRORS, 409: CONFLICT[409]},
)
def config_activate_api(
    request: Request,
    ed: Document,
    body: ActivateIn,
) -> Any:
    """启用/回滚 (version_id 为空 = 恢复出厂文件) / activate or roll back (null: the file)."""
    try:
        doc = configs.activate(
            get_engine(request), ed.kind, ed.name, body.version_id, actor(request, ed.principal)
        )
    except configs.ConfigError as exc:
        return JSONResponse({"error": {"status": 409, "zh": exc.zh, "en": exc.en}}, 409)
    return _doc_out(doc)


class DiffOut(BaseModel):
    old: int | None
    new: int | None
    lines: list[str]


@api.get("/config/{kind}/{name}/diff", response_model=DiffOut, responses=ERRORS)
def config_diff_api(
    request: Request,
    ed: Document,
    old: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    new: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Any:
    """统一差异格式 (空 = 出厂文件) / unified diff between two versions (empty: the file)."""
    try:
        lines = configs.diff(get_engine(request), ed.kind, ed.name, old, new)
    except configs.ConfigError as exc:
        raise NotFound(str(exc)) from None
    return DiffOut(old=old, new=new, lines=lines)
