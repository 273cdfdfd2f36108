"""Server-side cost of each request of the agent journey: SQL statements and milliseconds,
one agent, in-process (FastAPI TestClient), on a throwaway PostgreSQL — the counterpart of
`bench/api.py` for finding where the time goes (N+1 queries, repeated work).

    .venv/bin/python bench/api_cost.py [--journeys 6] [--loans 600]

SQL/request counts statements, tx/request connections taken from the pool (each a
transaction: a pre-ping, BEGIN and COMMIT besides its statements). Both counts do not
depend on the machine's load; milliseconds do.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
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
    args = ap.parse_args()
    os.environ.setdefault(crypto.ENV_VAR, crypto.KeyRing.generate().to_json())
    work = Path(tempfile.mkdtemp(prefix="huifang-bench-cost-"))
    os.environ["HUIFANG_CONTACT_POLICY"] = str(bench.policy_file(work))
    with bench.throwaway_postgres(50) as url:
        engine = make_engine(url)
        upgrade(engine)
        tasks = bench.load_book(engine, args.loans, work)
        name = bench.create_agents(engine, [max(tasks, key=lambda c: tasks[c])])[0]
        client = TestClient(create_app(engine))
        r = client.post("/api/v1/session", json={"username": name, "password": bench.PASSWORD})
        headers = {"X-CSRF-Token": r.json()["csrf_token"]}
        statements: collections.Counter[str] = collections.Counter()
        transactions: collections.Counter[str] = collections.Counter()
        seconds: collections.Counter[str] = collections.Counter()
        calls: collections.Counter[str] = collections.Counter()
        current = [""]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            statements[current[0]] += 1

        # a pool checkout is a transaction's round trips the statement count does not see
        # (the pre-ping's SELECT 1, BEGIN, COMMIT)
        @event.listens_for(engine, "engine_connect")
        def _connect(*_args: Any) -> None:
            transactions[current[0]] += 1

        def call(label: str, method: str, url: str, **kw: Any) -> Any:
            current[0] = label
            calls[label] += 1
            t0 = time.perf_counter()
            response = client.request(method, url, **kw)
            seconds[label] += time.perf_counter() - t0
            assert response.status_code < 400, (label, response.status_code, response.text)
            return response

        today = business_today().isoformat()
        for _ in range(args.journeys):
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
            call(
                "outcome",
                "POST",
                f"/api/v1/calls/{tid}/outcome",
                json={"outcome": "right-party-contact"},
                headers=headers,
            )
        print(f"{'request':<18} {'n':>5} {'SQL/request':>12} {'tx/request':>11} {'ms/request':>11}")
        for label in calls:
            n = calls[label]
            print(
                f"{label:<18} {n:>5} {statements[label] / n:>12.1f} "
                f"{transactions[label] / n:>11.1f} "
                f"{seconds[label] / n * 1000:>11.1f}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
