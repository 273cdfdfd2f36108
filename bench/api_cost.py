"""Server-side cost of each request of the agent journey: SQL statements and milliseconds,
one agent, in-process (FastAPI TestClient), on a throwaway PostgreSQL — the counterpart of
`bench/api.py` for finding where the time goes (N+1 queries, repeated work).

    .venv/bin/python bench/api_cost.py [--journeys 6] [--loans 600]

SQL/request counts SQLAlchemy's statements; round trips everything psycopg sends to the
server (those statements, pool pings, BEGIN, COMMIT); checkouts the connections taken from
the pool (transactions, or single statements in autocommit). These counts do not depend on
the machine's load. ms/request (wall) does; app CPU ms (this process: the app and the test
client) and db CPU ms (PostgreSQL's processes, /proc, 10 ms ticks: an average over many
requests) much less so. The first `--warmup` journeys (cold caches) are not counted;
`--profile FILE` writes a cProfile of the counted journeys, every thread.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg._connection_base import BaseConnection
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).parent))
import api as bench  # the load bench: cluster, book, agents, contact policy

from huifang.security import crypto
from huifang.settings import business_today
from huifang.store.db import make_engine, upgrade
from huifang.web.app import create_app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--journeys", type=int, default=6)
    ap.add_argument("--loans", type=int, default=600)
    ap.add_argument(
        "--warmup", type=int, default=1, help="journeys first, not counted (cold caches)"
    )
    ap.add_argument("--verbose", action="store_true", help="each journey's outcome")
    ap.add_argument("--micro", action="store_true", help="time the pieces of a request too")
    ap.add_argument("--profile", help="write a cProfile of the journeys (pstats) to this file")
    args = ap.parse_args()
    os.environ.setdefault(crypto.ENV_VAR, crypto.KeyRing.generate().to_json())
    work = Path(tempfile.mkdtemp(prefix="huifang-bench-cost-"))
    os.environ["HUIFANG_CONTACT_POLICY"] = str(bench.policy_file(work))
    with bench.throwaway_postgres(50) as url:
        engine = make_engine(url)
        upgrade(engine)
        tasks = bench.load_book(engine, args.loans, work)
        name = bench.create_agents(engine, [max(tasks, key=lambda c: tasks[c])])[0]
        # TestClient serves the app from its own event-loop thread, the sync handlers from
        # worker threads: with --profile, every thread started from here on is profiled
        profilers: list[cProfile.Profile] = []

        def _profile_thread(*_args: Any) -> None:
            profiler = cProfile.Profile(time.thread_time)  # CPU, not waiting on the database
            profilers.append(profiler)
            profiler.enable()  # replaces this hook in the new thread

        if args.profile:
            threading.setprofile(_profile_thread)
        # one event loop for every request, as under uvicorn
        client = TestClient(create_app(engine)).__enter__()
        r = client.post("/api/v1/session", json={"username": name, "password": bench.PASSWORD})
        headers = {"X-CSRF-Token": r.json()["csrf_token"]}
        statements: collections.Counter[str] = collections.Counter()
        transactions: collections.Counter[str] = collections.Counter()
        seconds: dict[str, float] = collections.defaultdict(float)
        calls: collections.Counter[str] = collections.Counter()
        round_trips: collections.Counter[str] = collections.Counter()
        app_cpu: dict[str, float] = collections.defaultdict(float)
        db_cpu: dict[str, float] = collections.defaultdict(float)
        current = [""]
        counting = [False]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            statements[current[0]] += 1

        # a pool checkout: a transaction, or single statements in autocommit
        @event.listens_for(engine, "engine_connect")
        def _connect(*_args: Any) -> None:
            transactions[current[0]] += 1

        # round trips to the server: every statement psycopg sends (the SQLAlchemy ones, a
        # pool's ping) and its own commands (BEGIN, COMMIT, ROLLBACK)
        def _counting(method: Any) -> Any:
            def counted(*args: Any, **kw: Any) -> Any:
                round_trips[current[0]] += 1
                return method(*args, **kw)

            return counted

        psycopg.Cursor.execute = _counting(psycopg.Cursor.execute)  # type: ignore[method-assign]
        BaseConnection._exec_command = _counting(BaseConnection._exec_command)  # type: ignore[method-assign]

        with engine.connect() as conn:
            backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        postmaster = _parent(backend)

        def call(label: str, method: str, url: str, **kw: Any) -> Any:
            current[0] = label if counting[0] else ""
            db0 = _cpu_of_children(postmaster)
            t0, c0 = time.perf_counter(), time.process_time()
            response = client.request(method, url, **kw)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if counting[0]:
                calls[label] += 1
                seconds[label] += wall
                app_cpu[label] += cpu
                db_cpu[label] += _cpu_of_children(postmaster) - db0
            assert response.status_code < 400, (label, response.status_code, response.text)
            return response

        today = business_today().isoformat()
        for journey in range(args.warmup + args.journeys):
            counting[0] = journey >= args.warmup
            if journey == args.warmup:
                for profiler in profilers:
                    profiler.clear()  # the threads wait between requests
            task = call("calls/next", "POST", "/api/v1/calls/next", headers=headers).json()
            tid = task["task"]["id"]
            page = call("call screen page", "GET", f"/calls/{tid}").text
            found = re.search(r'href="/borrowers/(\d+)', page)
            assert found
            borrower = call("borrower 360", "GET", f"/api/v1/borrowers/{found.group(1)}").json()
            last4 = borrower["id_number_masked"][-4:]
            prompt = call("prompt", "GET", f"/api/v1/calls/{tid}").json()
            tries = 0
            for _i in range(60):
                if prompt["finished"] or tries >= 3:
                    break
                value = bench.reply(prompt, last4, today, tries)
                prompt = call(
                    "answer",
                    "POST",
                    f"/api/v1/calls/{tid}/answer",
                    json={"value": value},
                    headers=headers,
                ).json()
                tries = tries + 1 if prompt["error"] else 0
            done = call(
                "outcome",
                "POST",
                f"/api/v1/calls/{tid}/outcome",
                json={"outcome": "right-party-contact"},
                headers=headers,
            ).json()
            if args.verbose:
                print(tid, prompt["script_id"], prompt["finished"], done, file=sys.stderr)
        if args.profile:
            threading.setprofile(None)
            for profiler in profilers:
                profiler.create_stats()
            pstats.Stats(*profilers).dump_stats(args.profile)
        print(
            f"{'request':<18} {'n':>5} {'SQL/request':>12} {'round trips':>12} "
            f"{'checkouts':>10} {'ms/request':>11} {'app CPU ms':>11} {'db CPU ms':>10}"
        )
        for label in calls:
            n = calls[label]
            print(
                f"{label:<18} {n:>5} {statements[label] / n:>12.1f} "
                f"{round_trips[label] / n:>12.1f} {transactions[label] / n:>10.1f} "
                f"{seconds[label] / n * 1000:>11.1f} {app_cpu[label] / n * 1000:>11.1f} "
                f"{db_cpu[label] / n * 1000:>10.1f}"
            )
        # the floor: a request the app refuses before any SQL (no session cookie: 401),
        # through the same client, middleware and routing
        anonymous = TestClient(client.app)
        anonymous.__enter__()
        floor = []
        for _ in range(200):
            c0 = time.process_time()
            anonymous.get("/api/v1/calls/1")
            floor.append(time.process_time() - c0)
        print(f"floor (401 before any SQL, same client): app CPU ms {sum(floor) / 200 * 1000:.2f}")
        if args.micro:  # the pieces of a request, 300 times each
            from huifang.security.accounts import resolve_session
            from huifang.services import calls as call_service

            token = client.cookies.get("huifang_session")
            for label, fn in (
                ("resolve_session", lambda: resolve_session(engine, token)),
                ("task_and_agent", lambda: call_service.task_and_agent(engine, tid, name)),
                ("select 1 (Core, autocommit)", lambda: _select1(engine)),
                ("select 1 (ORM transaction)", lambda: _select1_orm(engine)),
                ("script(id, version)", lambda: _script_of_run(engine)),
                ("answer transaction", lambda: _answer_like(engine)),
            ):
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(300):
                    fn()
                print(f"{label:<30} CPU ms {(time.process_time() - c0) / 300 * 1000:.2f} "
                      f"wall ms {(time.perf_counter() - t0) / 300 * 1000:.2f}")  # fmt: skip
        n = sum(calls.values())
        per_journey = {
            "statements": sum(statements[k] for k in calls) / args.journeys,
            "round_trips": sum(round_trips[k] for k in calls) / args.journeys,
            "checkouts": sum(transactions[k] for k in calls) / args.journeys,
            "requests": n / args.journeys,
            "app_cpu_ms": sum(app_cpu.values()) / args.journeys * 1000,
            "db_cpu_ms": sum(db_cpu.values()) / args.journeys * 1000,
            "wall_ms": sum(seconds.values()) / args.journeys * 1000,
        }
        print("per journey: " + ", ".join(f"{k} {v:.1f}" for k, v in per_journey.items()))
        engine.dispose()


def _select1(engine: Any) -> None:
    from huifang.store.db import single_statements

    with single_statements(engine) as conn:
        conn.exec_driver_sql("SELECT 1").scalar()


def _select1_orm(engine: Any) -> None:
    from sqlalchemy import text

    from huifang.store.db import transaction

    with transaction(engine) as s:
        s.scalar(text("SELECT 1"))


def _script_of_run(engine: Any) -> None:
    from sqlalchemy import select

    from huifang.services import configs
    from huifang.store.call_models import CallRun
    from huifang.store.db import transaction

    with transaction(engine) as s:
        run = s.scalars(select(CallRun).limit(1)).one()
        configs.script(engine, run.script_id, run.script_version, session=s)


def _answer_like(engine: Any) -> None:
    """answer_call's transaction on the first run, without applying an answer."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from huifang.domain import scripts as sc
    from huifang.services import calls
    from huifang.store.call_models import CallRun
    from huifang.store.db import transaction

    with transaction(engine) as s:
        run = s.scalars(select(CallRun).order_by(CallRun.id.desc()).limit(1)).one()
        calls._open_run(s, run.task_id, run.agent_id)
        state = sc.state_from_dict(run.state, calls._script(s, run.script_id, run.script_version))
        run.state = sc.state_to_dict(state)
        run.updated_at = datetime.now(UTC)


def _parent(pid: int) -> int:
    """The parent process id (a backend's parent is the cluster's postmaster)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _cpu_of_children(parent: int) -> float:
    """CPU seconds (user + system) of the live child processes of `parent` (PostgreSQL's
    backends and its background writers); 0 where /proc cannot be read."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:
            total += int(fields[11]) + int(fields[12])
    return total / tick


if __name__ == "__main__":
    main()
