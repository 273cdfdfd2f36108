"""Web and security commands: `huifang serve`, `huifang users add|list`,
`huifang audit verify`, `huifang keys show|rotate`."""

from __future__ import annotations

import os
import secrets
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from huifang.security import accounts, audit, crypto, pii
from huifang.security.roles import Role
from huifang.settings import load_settings
from huifang.store.db import make_engine, upgrade

console = Console()


def _engine():  # type: ignore[no-untyped-def]
    engine = make_engine(load_settings().database_url)
    upgrade(engine)
    return engine


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the web app with uvicorn (the schema is migrated first)."""
    import uvicorn

    _engine().dispose()
    console.print(f"回访 Huifang: http://{host}:{port}/  (API: /api/v1/docs)")
    uvicorn.run("huifang.web.main:app", host=host, port=port, workers=workers, log_level="info")


def demo_users(branch_code: str) -> dict[str, str]:
    """One user per role (admin on all branches, the others on `branch_code`) with random
    passwords; returns username -> password. Existing demo users are left alone."""
    engine = _engine()
    existing = {u.username for u in accounts.list_users(engine)}
    created: dict[str, str] = {}
    for role in Role:
        name = f"demo_{role.value}"
        if name in existing:
            continue
        password = f"hf-{secrets.token_urlsafe(9)}7"
        accounts.create_user(
            engine,
            name,
            password,
            role,
            display_name=f"演示{role.label_zh}",
            branch_codes=[branch_code],
        )
        created[name] = password
    return created


def register(app: typer.Typer) -> None:
    users_app = typer.Typer(help="用户 / users", no_args_is_help=True)
    audit_app = typer.Typer(help="审计日志 / audit log", no_args_is_help=True)
    keys_app = typer.Typer(help="数据加密密钥 / data keys", no_args_is_help=True)
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")

    @app.command("serve")
    def serve_command(
        host: Annotated[str, typer.Option(help="监听地址 / bind address")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="端口 / port")] = 8000,
        workers: Annotated[int, typer.Option(min=1, help="进程数 / worker processes")] = 1,
    ) -> None:
        """启动网页与 API 服务 / serve the web app and the API."""
        serve(host, port, workers)

    @users_app.command("add")
    def users_add(
        username: Annotated[str, typer.Argument(help="用户名 / username")],
        role: Annotated[Role, typer.Option(help="角色 / role")],
        branches: Annotated[
            str, typer.Option(help="机构代码, 逗号分隔 / branch codes, comma separated")
        ] = "",
        all_branches: Annotated[
            bool, typer.Option("--all-branches", help="全部机构 / every branch")
        ] = False,
        display_name: Annotated[str | None, typer.Option(help="姓名 / display name")] = None,
        password: Annotated[
            str | None,
            typer.Option(help="密码 (省略则随机生成并打印) / password (random if omitted)"),
        ] = None,
    ) -> None:
        """新建用户 / add a user."""
        generated = password is None
        password = password or f"hf-{secrets.token_urlsafe(12)}7"
        codes = [c.strip() for c in branches.split(",") if c.strip()]
        try:
            accounts.create_user(
                _engine(),
                username,
                password,
                role,
                display_name=display_name,
                branch_codes=codes,
                all_branches=all_branches,
            )
        except accounts.UserError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(code=2) from None
        console.print(f"已创建用户 / created: {username} ({role.value})")
        if generated:
            console.print(f"密码 / password: {password}")

    @users_app.command("list")
    def users_list() -> None:
        """用户列表 / list users."""
        table = Table("用户名", "姓名", "角色", "机构", "锁定至", "最近登录")
        for u in accounts.list_users(_engine()):
            table.add_row(
                u.username,
                u.display_name,
                u.role,
                u.branches,
                str(u.locked_until or ""),
                str(u.last_login_at or ""),
            )
        console.print(table)

    @audit_app.command("verify")
    def audit_verify() -> None:
        """校验审计日志哈希链 / verify the audit log's hash chain (exit 1 when broken)."""
        report = audit.verify_chain(_engine())
        if report.ok:
            console.print(f"[green]审计日志完整[/green]: {report.entries:,} 条 / chain intact")
            return
        console.print(f"[red]审计日志被篡改[/red]: 第 {report.first_bad_id} 条 — {report.problem}")
        raise typer.Exit(code=1)

    @keys_app.command("show")
    def keys_show() -> None:
        """显示密钥编号 (不显示密钥) / list key ids, never the keys."""
        ring = crypto.load_keyring(load_settings().home)
        for kid in ring.keys:
            mark = "* active" if kid == ring.active else ""
            console.print(f"{kid} {ring.created.get(kid, '')} {mark}")

    @keys_app.command("rotate")
    def keys_rotate() -> None:
        """生成新的活动密钥, 旧密钥保留用于解密 / new active key; old keys still decrypt."""
        if crypto.ENV_VAR in os.environ:
            console.print(
                "[red]密钥来自环境变量 HUIFANG_DATA_KEY, 请在密钥管理处轮换[/red] "
                "/ keys come from HUIFANG_DATA_KEY: rotate them where that is managed"
            )
            raise typer.Exit(code=2)
        home = load_settings().home
        ring = crypto.load_keyring(home).rotated()
        crypto.write_key_file(crypto.key_file(home), ring)
        pii.forget_ring()
        console.print(f"新活动密钥 / new active key: {ring.active} ({len(ring.keys)} keys)")
        _reencrypt(ring)

    @keys_app.command("reencrypt")
    def keys_reencrypt() -> None:
        """把贷款档案中的个人信息改用活动密钥加密 (可中断重跑) / re-encrypt the book's
        personal data under the active key (restartable)."""
        _reencrypt(pii.current_ring())


def _reencrypt(ring: crypto.KeyRing) -> None:
    engine = make_engine(load_settings().database_url)
    try:
        done = pii.reencrypt_book(engine, ring)
        stale = pii.stale_key_ids(engine, ring)
    finally:
        engine.dispose()
    console.print(f"已重新加密 / re-encrypted: {sum(done.values()):,} 个值 / values")
    if stale:
        console.print(
            f"[red]仍有旧密钥的密文 / values still under: {', '.join(sorted(stale))}[/red]"
        )
        raise typer.Exit(code=1)
    console.print("全部个人信息均使用活动密钥 / every value is under the active key")


def demo_finish(*, serve_after: bool = True, port: int = 8000) -> None:
    """The end of `huifang demo`: one user per role (on the largest branch; the admin on all),
    their passwords printed once, then the web app served on loopback."""
    from huifang.services import loan_views

    engine = _engine()
    summary = loan_views.scope_summary(engine, None)
    if not summary.branches:
        console.print("[red]没有机构数据, 跳过演示用户 / no branches, no demo users[/red]")
        return
    branch = max(summary.branches, key=lambda b: (b[2], b[0]))[0]
    created = demo_users(branch)
    table = Table(
        "用户名 username",
        "角色 role",
        "机构 branch",
        "密码 password (仅显示一次)",
        title="演示用户 / demo users",
    )
    for name, password in created.items():
        role = name.removeprefix("demo_")
        table.add_row(name, role, "*" if role == "admin" else branch, password)
    console.print(table)
    if serve_after:
        serve("127.0.0.1", port)
