"""Load bench of the agent's journey through the web API, on PostgreSQL.

    .venv/bin/python bench/api.py [--agents 100] [--duration 60] [--think-ms 0]
        [--workers 2] [--loans 4000] [--db-url postgresql+psycopg://…]

What it does:

1. Database: a throwaway PostgreSQL cluster started from Debian's binaries in a temporary
   directory (as `tests/conftest.py` does; as the `postgres` user when run as root), or the
   empty database `--db-url` names. The schema is migrated by Alembic, the demo book
   (`--loans` loans, seed 7, as of today) imported through the importer, the day's follow-up
   tasks generated (`followup.generate_tasks`), and one agent user per simulated agent
   created (role agent, scoped to one branch; branches get agents in proportion to their
   open tasks), with the follow-up agent row the web app works the queue as.
2. Server: `uvicorn huifang.web.main:app --workers N` in a subprocess on loopback, the same
   app `huifang serve` runs. The contact policy is the shipped one with the calling window
   widened to the whole day (so the bench runs at any hour; every other rule unchanged).
3. Log-in: each agent signs in once (`POST /api/v1/session`, argon2id verification) before
   the measured window — an agent signs in once a shift, not once a call.
4. Measured window (`--duration` seconds): every agent repeats the journey — take the top
   task (`POST /api/v1/calls/next`), open the call screen (`GET /calls/{task}`: borrower 360°
   beside the script), the full borrower 360° (`GET /api/v1/borrowers/{id}`), the script's
   prompt (`GET /api/v1/calls/{task}`), one answer per question
   (`POST /api/v1/calls/{task}/answer`) until the script ends, and the outcome
   (`POST /api/v1/calls/{task}/outcome`, right party reached) — with `--think-ms` (mean,
   uniform 0.5×–1.5×) between requests; 0 drives the server flat out. The agents start
   staggered over one journey's worth of think time (at most half the window), after
   `--warmup` unmeasured journeys. Journeys started before the deadline are finished.
   The agents speak HTTP/1.1 over one kept-alive connection each (`Http11`).
5. Check: from the database, that no task was ever held by two agents — no two agents'
   script runs on one task overlap in time, no task has allowed (made) outcomes from two
   agents, and no task id was handed by `calls/next` to two agents (client log).

Prints per-endpoint and overall p50/p95/p99 latency, throughput (journeys/s, requests/s),
and ends with one JSON line: agents, journeys, requests, seconds, throughput, p50_ms,
p95_ms, p99_ms, errors, double_held_tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import fcntl
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from huifang.security import crypto
from huifang.security.accounts import create_user
from huifang.services import followup
from huifang.services.demo_data import write_demo_files
from huifang.services.importing import import_files
from huifang.store.call_models import CallRun
from huifang.store.db import make_engine, transaction, upgrade
from huifang.store.followup_models import ContactAttempt, FollowupTask
from huifang.store.models import Branch, Loan

PASSWORD = "Bench-agent-2026"
SHIPPED_POLICY = Path(__file__).resolve().parents[1] / "src/huifang/policies/contact.yaml"
TZ = ZoneInfo("Asia/Shanghai")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- database ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_postgres(max_connections: int) -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory on loopback; yields a database URL."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if os.environ.get("PG_BIN"):
        found = [str(Path(os.environ["PG_BIN"]) / "pg_ctl")]
    if not found:
        sys.exit("PostgreSQL 服务器程序未找到 / no PostgreSQL binaries: install `postgresql`")
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="huifang-bench-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{args[0]} failed: {done.stderr or done.stdout}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "huifang", "-A", "trust", "-E", "UTF8")
    port = _free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
        f"-c max_connections={max_connections} -c shared_buffers=256MB"
    )
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w",
        "start")  # fmt: skip
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "huifang",
            "huifang")  # fmt: skip
        yield f"postgresql+psycopg://huifang@127.0.0.1:{port}/huifang"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def load_book(engine: Engine, loans: int, work: Path) -> dict[str, int]:
    """Demo book as of today, today's tasks; open claimable tasks per branch code."""
    with transaction(engine) as s:
        if s.scalar(select(func.count()).select_from(Loan)):
            sys.exit(
                "数据库已有贷款, 请给空库 / the database already holds loans: give an empty one"
            )
    today = datetime.now(TZ).date()
    t0 = time.perf_counter()
    files = write_demo_files(work / "demo", loans=loans, seed=7, as_of=today)
    report = import_files(engine, files.paths)
    if not report.ok:
        sys.exit(f"导入失败 / import failed: {report.errors[:3]}")
    gen = followup.generate_tasks(engine, today)
    log(f"book: {loans} loans imported, {gen.created} tasks in {time.perf_counter() - t0:.1f} s")
    with transaction(engine) as s:
        rows = s.execute(
            select(Branch.code, func.count())
            .join(FollowupTask, FollowupTask.branch_id == Branch.id)
            .where(
                FollowupTask.closed_at.is_(None),
                FollowupTask.assigned_agent_id.is_(None),
                FollowupTask.snoozed_until.is_(None),
                FollowupTask.next_attempt_at.is_(None),
            )
            .group_by(Branch.code)
        ).all()
    return {code: int(n) for code, n in rows}


def spread(agents: int, tasks: dict[str, int]) -> list[str]:
    """Branch of each agent: in proportion to the branch's open tasks (largest remainder),
    never more agents than tasks in a branch."""
    total = sum(tasks.values())
    if total < agents:
        sys.exit(f"只有 {total} 个任务, 不够 {agents} 个坐席 / too few tasks: raise --loans")
    share = {c: agents * n / total for c, n in tasks.items()}
    count = {c: min(int(v), tasks[c]) for c, v in share.items()}
    for c in sorted(share, key=lambda c: share[c] - int(share[c]), reverse=True):
        if sum(count.values()) >= agents:
            break
        if count[c] < tasks[c]:
            count[c] += 1
    return [c for c in sorted(count) for _ in range(count[c])]


def create_agents(engine: Engine, branches: list[str]) -> list[str]:
    """One agent user per simulated agent (argon2 hash each), with its follow-up agent row
    able to work every task of its branch (business loans, any language)."""
    with transaction(engine) as s:
        needed = {k for ks in s.scalars(select(FollowupTask.required_skills)) for k in ks or ()}
    languages = {k.removeprefix("lang:") for k in needed if k.startswith("lang:")} | {"zh"}
    skills = {k for k in needed if not k.startswith("lang:")}
    names = []
    for i, code in enumerate(branches):
        name = f"bench_agent_{i:03d}"
        create_user(engine, name, PASSWORD, "agent", display_name=f"坐席{i:03d}",
                    branch_codes=[code])  # fmt: skip
        followup.add_agent(
            engine,
            followup.AgentSpec(
                name,
                f"坐席{i:03d}",
                code,
                skills=tuple(sorted(skills)),
                languages=tuple(sorted(languages)),
            ),
        )
        names.append(name)
    return names


def policy_file(work: Path) -> Path:
    """The shipped contact policy with the calling window widened to the whole day."""
    body = SHIPPED_POLICY.read_text(encoding="utf-8")
    body = re.sub(r'window_start: "[0-9:]+"', 'window_start: "00:00"', body)
    body = re.sub(r'window_end: "[0-9:]+"', 'window_end: "23:59"', body)
    body = re.sub(
        r"holiday_purposes: \[[^\]]*\]",
        "holiday_purposes: [callback, routine, event, overdue, verification]",
        body,
    )
    path = work / "contact-bench.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@contextmanager
def held(lock: str | None) -> Iterator[None]:
    """flock(2) on `lock` (the same lock `flock /tmp/huifang-bench.lock …` takes), if given."""
    if not lock:
        yield
        return
    with open(lock, "a") as f:
        t0 = time.perf_counter()
        fcntl.flock(f, fcntl.LOCK_EX)
        log(f"lock {lock} taken after {time.perf_counter() - t0:.0f} s")
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- server -----------------------------------------------------------------------------------
@contextmanager
def server(db_url: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "huifang.web.main:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        "--no-access-log", "--timeout-keep-alive", "75",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env, "HUIFANG_DATABASE_URL": db_url}, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                sys.exit(f"服务启动失败 / the server exited ({proc.returncode})")
            try:
                if httpx.get(f"{base}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("服务 60 秒内未就绪 / the server did not come up in 60 s")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- the simulated agents ---------------------------------------------------------------------
@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    claims: list[tuple[int, str]] = field(default_factory=list)  # (task id, agent)
    journeys: int = 0
    refused: int = 0
    alerts: int = 0
    idle_agents: int = 0
    abandoned_scripts: int = 0


class Failed(Exception):
    pass


def reply(prompt: dict[str, Any], last4: str, today: str, tries: int = 0) -> str:
    """What the borrower says: yes, the first choice, small numbers, the ID suffix, a mobile
    number when asked for one; after a refused answer (`tries`), the next plausible one."""
    kind = prompt["answer_type"]
    codes = [o["code"] for o in prompt["options"]]
    question = prompt["question"] or ""
    if kind == "yes_no":
        candidates = ["是", "否"]
    elif kind == "choice":
        candidates = codes
    elif kind == "money":
        candidates = ["1000", "100", "10000"]
    elif kind == "number":
        candidates = ["1", "0", "10"]
    elif kind == "date":
        candidates = [today]
    elif "身份证" in question:
        candidates = [last4]
    elif "手机" in question or "电话" in question:
        candidates = ["13800138000"]
    else:
        candidates = ["正常", "13800138000", "1"]
    return candidates[tries % len(candidates)]


class TransportError(Exception):
    """The connection to the server failed (reset, closed mid-response, bad response)."""


@dataclass
class Reply:
    status_code: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class Http11:
    """A minimal HTTP/1.1 client over one keep-alive connection, with the session cookie.

    The load generator shares the two cores with the server and its database: httpx spends
    about a millisecond of CPU per request, this a small fraction of that, so more of the
    machine is left to the server being measured. It speaks only what the bench needs:
    Content-Length or chunked bodies, cookies by name, a reconnect when the server has
    closed an idle connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        await self.aclose()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        body = b"" if json_body is None else json.dumps(json_body).encode("utf-8")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if json_body is not None:
            lines.append("Content-Type: application/json")
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        fresh = self.reader is None or self.reader.at_eof()
        if fresh:
            await self._connect()
        try:
            return await self._exchange(head + body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if fresh or not isinstance(exc, asyncio.IncompleteReadError) or exc.partial:
                await self.aclose()
                raise TransportError(repr(exc)) from exc
        # the server closed the kept-alive connection before reading this request: again
        await self._connect()
        try:
            return await self._exchange(head + body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise TransportError(repr(exc)) from exc

    async def _exchange(self, data: bytes) -> Reply:
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.lower() == "close"
            elif name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            payload = b"".join(p[:-2] for p in parts)
        else:
            payload = await self.reader.readexactly(length)
        if close:
            await self.aclose()
        return Reply(status, payload)


class AgentClient:
    def __init__(self, base: str, name: str, stats: Stats, think_ms: float) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.client = Http11(host, int(port))
        self.name = name
        self.stats = stats
        self.think = think_ms / 1000
        self.csrf = ""

    async def login(self) -> None:
        r = await self.client.request(
            "POST", "/api/v1/session", json_body={"username": self.name, "password": PASSWORD}
        )
        if r.status_code != 200:
            raise Failed(f"login {self.name}: {r.status_code} {r.text[:200]}")
        self.csrf = r.json()["csrf_token"]

    async def call(self, label: str, method: str, url: str, json: Any = None) -> Reply:
        if self.think:
            await asyncio.sleep(self.think * random.uniform(0.5, 1.5))
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else None
        t0 = time.perf_counter()
        r = await self.client.request(method, url, json_body=json, headers=headers)
        self.stats.latencies[label].append(time.perf_counter() - t0)
        if r.status_code >= 400:
            self.stats.errors[label] += 1
            raise Failed(f"{label}: {r.status_code} {r.text[:200]}")
        return r

    async def journey(self, today: str) -> bool:
        """One task from the queue to its outcome; False when the queue is empty."""
        task = (await self.call("POST /calls/next", "POST", "/api/v1/calls/next")).json()["task"]
        if task is None:
            return False
        tid = task["id"]
        self.stats.claims.append((tid, self.name))
        page = await self.call("GET /calls/{task} (page)", "GET", f"/calls/{tid}")
        found = re.search(r'href="/borrowers/(\d+)', page.text)
        if not found:
            raise Failed(f"call screen of task {tid} has no borrower link")
        borrower = await self.call(
            "GET /borrowers/{id}", "GET", f"/api/v1/borrowers/{found.group(1)}"
        )
        person = borrower.json()  # a business is verified by its legal representative's ID
        last4 = (person.get("legal_rep_id_number_masked") or person["id_number_masked"])[-4:]
        prompt = (await self.call("GET /calls/{task}", "GET", f"/api/v1/calls/{tid}")).json()
        tries = 0
        for _ in range(60):
            if prompt["finished"]:
                break
            prompt = (
                await self.call(
                    "POST /calls/{task}/answer",
                    "POST",
                    f"/api/v1/calls/{tid}/answer",
                    json={"value": reply(prompt, last4, today, tries)},
                )
            ).json()
            tries = tries + 1 if prompt["error"] else 0
            if tries >= 3:  # the borrower cannot answer this one: record the call as it stands
                self.stats.abandoned_scripts += 1
                log(f"{self.name}: task {tid}: {prompt['question']} refused 3 times: "
                    f"{prompt['error']}")  # fmt: skip
                break
        else:
            raise Failed(f"script of task {tid} did not finish in 60 answers: {prompt}")
        done = (
            await self.call(
                "POST /calls/{task}/outcome",
                "POST",
                f"/api/v1/calls/{tid}/outcome",
                json={"outcome": "right-party-contact", "role": "borrower"},
            )
        ).json()
        self.stats.journeys += 1
        self.stats.refused += not done["allowed"]
        self.stats.alerts += len(done["new_alerts"])
        return True

    async def work(self, deadline: float, today: str, ramp: float = 0.0) -> None:
        # agents on a shift are at every point of their calls, not all at the first request
        await asyncio.sleep(random.uniform(0, ramp))
        while time.monotonic() < deadline:
            try:
                if not await self.journey(today):
                    self.stats.idle_agents += 1
                    return
            except Failed as exc:
                log(f"{self.name}: {exc}")
            except TransportError as exc:
                self.stats.errors["transport"] += 1
                log(f"{self.name}: {exc!r}")


async def drive(
    base: str,
    names: list[str],
    duration: float,
    think_ms: float,
    lock: str | None,
    warmup: int = 0,
) -> tuple[Stats, float, tuple[float, ...], tuple[float, ...]]:
    stats = Stats()
    agents = [AgentClient(base, n, stats, think_ms) for n in names]
    gate = asyncio.Semaphore(8)  # logins: argon2 is deliberately slow; not measured

    async def login(a: AgentClient) -> None:
        async with gate:
            await a.login()

    t0 = time.perf_counter()
    await asyncio.gather(*(login(a) for a in agents))
    log(f"{len(agents)} agents signed in in {time.perf_counter() - t0:.1f} s (not measured)")
    today = datetime.now(TZ).date().isoformat()
    # warm-up, not measured: a few journeys at once, so that every worker process has parsed
    # its configuration and scripts, compiled its templates and SQL and filled its pool — a
    # server in service is warm; the tasks they claim are checked with the others
    warm = Stats()
    for a in agents[:warmup]:
        a.stats, a.think = warm, 0.0
    t0 = time.perf_counter()
    await asyncio.gather(*(a.journey(today) for a in agents[:warmup]))
    for a in agents[:warmup]:
        a.stats, a.think = stats, think_ms / 1000
    stats.claims.extend(warm.claims)
    log(f"{warmup} warm-up journeys in {time.perf_counter() - t0:.1f} s (not measured)")
    with held(lock):
        load_before = os.getloadavg()
        start = time.perf_counter()
        deadline = time.monotonic() + duration
        # staggered start over one journey at the think pace (about 15 requests), at most
        # half the window: otherwise every agent opens its first call screen in the same
        # few seconds, a burst no shift has
        ramp = min(duration / 2, 15 * think_ms / 1000)
        await asyncio.gather(*(a.work(deadline, today, ramp) for a in agents))
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()
    await asyncio.gather(*(a.client.aclose() for a in agents))
    return stats, seconds, load_before, load_after


# -- the check --------------------------------------------------------------------------------
def double_held(engine: Engine, claims: list[tuple[int, str]]) -> dict[str, Any]:
    """Tasks held by two agents: overlapping script runs of different agents, made outcomes
    from two agents, or one task handed to two agents by `calls/next`."""
    with transaction(engine) as s:
        runs = s.execute(
            select(
                CallRun.task_id, CallRun.agent_id, CallRun.started_at,
                func.coalesce(CallRun.closed_at, CallRun.updated_at),
            ).order_by(CallRun.task_id, CallRun.started_at)
        ).all()  # fmt: skip
        made = s.execute(
            select(ContactAttempt.task_id)
            .where(ContactAttempt.status == "made")
            .group_by(ContactAttempt.task_id)
            .having(func.count(ContactAttempt.agent_id.distinct()) > 1)
        ).all()
        attempts = s.scalar(select(func.count()).select_from(ContactAttempt)) or 0
        closed = (
            s.scalar(
                select(func.count()).select_from(FollowupTask).where(FollowupTask.status == "done")
            )
            or 0
        )
        visits = s.scalar(text("SELECT count(*) FROM followup_visits")) or 0
    overlapping: set[int] = set()
    by_task: dict[int, list[tuple[int, datetime, datetime]]] = defaultdict(list)
    for task_id, agent_id, began, ended in runs:
        by_task[task_id].append((agent_id, began, ended))
    for task_id, spans in by_task.items():
        for i, (a1, b1, e1) in enumerate(spans):
            for a2, b2, e2 in spans[i + 1 :]:
                if a1 != a2 and b1 < e2 and b2 < e1:
                    overlapping.add(task_id)
    handed: dict[int, set[str]] = defaultdict(set)
    for task_id, agent in claims:
        handed[task_id].add(agent)
    handed_twice = {t for t, who in handed.items() if len(who) > 1}
    bad = overlapping | {t for (t,) in made} | handed_twice
    return {
        "double_held_tasks": len(bad),
        "overlapping_runs": len(overlapping),
        "made_outcomes_by_two_agents": len(made),
        "claimed_by_two_agents": len(handed_twice),
        "tasks_claimed": len(handed),
        "script_runs": len(runs),
        "attempts": int(attempts),
        "visits": int(visits),
        "tasks_done": int(closed),
    }


# -- report -----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    ap.add_argument("--think-ms", type=float, default=0.0, help="mean pause between requests")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument(
        "--warmup", type=int, default=6, help="journeys at once before the window, not measured"
    )
    ap.add_argument("--loans", type=int, default=4000, help="demo book size")
    ap.add_argument("--db-url", help="an empty PostgreSQL database (default: a throwaway one)")
    ap.add_argument(
        "--lock",
        help="hold this flock(1) lock file (e.g. /tmp/huifang-bench.lock) for the measured "
        "journeys only (the book, users, server start and log-ins come before)",
    )
    args = ap.parse_args()
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: the server and the cluster stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    os.environ.setdefault(crypto.ENV_VAR, crypto.KeyRing.generate().to_json())
    work = Path(tempfile.mkdtemp(prefix="huifang-bench-api-"))
    env = {
        "HUIFANG_CONTACT_POLICY": str(policy_file(work)),
        "HUIFANG_HOME": str(work / "home"),
        crypto.ENV_VAR: os.environ[crypto.ENV_VAR],
    }
    os.environ.update(env)
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    with (
        nullcontext(args.db_url)
        if args.db_url
        else throwaway_postgres(max_connections=40 * args.workers + 20)
    ) as db_url:
        engine = make_engine(db_url)
        upgrade(engine)
        tasks = load_book(engine, args.loans, work)
        branches = spread(args.agents, tasks)
        t0 = time.perf_counter()
        names = create_agents(engine, branches)
        log(f"{len(names)} agent users in {len(set(branches))} branches "
            f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
        with server(db_url, args.workers, env) as base:
            stats, seconds, load_before, load_after = asyncio.run(
                drive(base, names, args.duration, args.think_ms, args.lock, args.warmup)
            )
        check = double_held(engine, stats.claims)
        engine.dispose()

    everything = [x for xs in stats.latencies.values() for x in xs]
    requests = len(everything)
    print(
        f"{'endpoint':<30} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for label, xs in sorted(stats.latencies.items()):
        print(f"{label:<30} {len(xs):>9} {pct(xs, 50):>8.1f} {pct(xs, 95):>8.1f} "
              f"{pct(xs, 99):>8.1f} {max(xs) * 1000:>8.1f}")  # fmt: skip
    print(f"{'overall':<30} {requests:>9} {pct(everything, 50):>8.1f} "
          f"{pct(everything, 95):>8.1f} {pct(everything, 99):>8.1f}")  # fmt: skip
    print(f"journeys {stats.journeys} in {seconds:.1f} s: {stats.journeys / seconds:.2f}/s, "
          f"{requests / seconds:.1f} requests/s; guard refusals {stats.refused}, "
          f"new alerts {stats.alerts}, scripts given up {stats.abandoned_scripts}, "
        f"errors {dict(stats.errors)}")  # fmt: skip
    print(f"no task held by two agents: {check['double_held_tasks'] == 0} {check}")
    result = {
        "agents": args.agents,
        "workers": args.workers,
        "think_ms": args.think_ms,
        "journeys": stats.journeys,
        "requests": requests,
        "seconds": round(seconds, 2),
        "throughput": {
            "journeys_per_s": round(stats.journeys / seconds, 2),
            "requests_per_s": round(requests / seconds, 1),
        },
        "p50_ms": round(pct(everything, 50), 1),
        "p95_ms": round(pct(everything, 95), 1),
        "p99_ms": round(pct(everything, 99), 1),
        "errors": sum(stats.errors.values()),
        "double_held_tasks": check["double_held_tasks"],
        "check": check,
        "load_average": {"before": load_before, "after": load_after},
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
