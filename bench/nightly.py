"""Benchmark of the nightly portfolio run: `python bench/nightly.py --loans N`.

Generates (or reuses, cached as Parquet) a demo book of N loans with
`huifang.demo.generator`, then in one process:

1. reads the input columns alone - the read floor no run can beat;
2. runs the whole nightly run Parquet → Parquet (read, fingerprint, templates, compute,
   summary, write), timing each stage; schedule templates come from a cache directory
   (a warm run, as every night after the first), and the cold template time is measured
   and reported separately when the cache is empty;
3. runs the per-loan domain engine (`huifang.batch.reference`) on a sample of active
   loans and checks that its rows equal the vectorized run's, to the fen;

and prints a table and, last, one JSON line with `loans`, `seconds_total`,
`seconds_by_stage`, `peak_rss_mb`, `read_floor_seconds`, `speedup_vs_per_loan` and more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from huifang.batch import reference
from huifang.batch.behaviour_inputs import read_parquet_behaviour
from huifang.batch.demo_book import demo_slice
from huifang.batch.engine import usable_cpus
from huifang.batch.followup_inputs import read_parquet_followup
from huifang.batch.inputs import (
    LOAN_SCHEMA,
    PAYMENT_SCHEMA,
    BookInputs,
    read_parquet_inputs,
    write_parquet_inputs,
)
from huifang.batch.output import DatabaseSink, ParquetSink, Sink, read_parquet_states
from huifang.batch.risk_inputs import RiskBook, read_parquet_risk
from huifang.batch.runner import RunContext, run
from huifang.batch.templates import TemplateCache

SLICE = 5_000


def ensure_book(n: int, seed: int, as_of: date, cache: Path, workers: int) -> Path:
    """The Parquet input directory of the demo book, generated once per (n, seed, as_of)."""
    target = cache / f"demo-{n}-{seed}-{as_of.isoformat()}"
    if (target / "loans.parquet").exists() and (target / "payments.parquet").exists():
        return target
    started = time.perf_counter()
    jobs = [(n, seed, as_of, s, min(n, s + SLICE)) for s in range(0, n, SLICE)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(demo_slice, jobs))
    book = BookInputs(
        pa.concat_tables([p.loans for p in parts]), pa.concat_tables([p.payments for p in parts])
    )
    write_parquet_inputs(book, target)
    print(f"generated {n:,} loans in {time.perf_counter() - started:.1f} s → {target}")
    return target


def ensure_risk(directory: Path, seed: int, as_of: date) -> None:
    """The risk tables (cars, inspections, open alerts) next to the book, drawn once."""
    from huifang.batch.demo_risk import demo_risk
    from huifang.batch.risk_inputs import write_parquet_risk

    if (directory / "loan_facts.parquet").exists():
        return
    started = time.perf_counter()
    loans = pq.read_table(directory / "loans.parquet")
    write_parquet_risk(demo_risk(loans, seed, as_of), directory)
    print(f"drew risk inputs in {time.perf_counter() - started:.1f} s → {directory}")


def ensure_followup(directory: Path, seed: int, as_of: date) -> None:
    """The workspace tables (contacts, events, stored alerts and tasks …), drawn once."""
    from huifang.batch.demo_followup import demo_followup
    from huifang.batch.followup_inputs import write_parquet_followup

    if (directory / "followup_borrowers.parquet").exists():
        return
    started = time.perf_counter()
    loans = pq.read_table(directory / "loans.parquet")
    risk = read_parquet_risk(directory)
    write_parquet_followup(demo_followup(loans, risk, seed, as_of), directory)
    print(f"drew workspace inputs in {time.perf_counter() - started:.1f} s → {directory}")


def ensure_behaviour(directory: Path, seed: int, as_of: date) -> None:
    """The behaviour tables (borrowers, follow-up, valuations) next to the book, drawn once."""
    from huifang.batch.behaviour_inputs import write_parquet_behaviour
    from huifang.batch.demo_behaviour import demo_behaviour

    if (directory / "borrower_facts.parquet").exists():
        return
    started = time.perf_counter()
    loans = pq.read_table(directory / "loans.parquet")
    risk = read_parquet_risk(directory)
    assert risk is not None
    write_parquet_behaviour(demo_behaviour(loans, risk, seed, as_of), directory)
    print(f"drew behaviour inputs in {time.perf_counter() - started:.1f} s → {directory}")


# A stand-in for a trained behaviour scorecard, for timing only: every feature of the model
# with four or five bins (what a trained card has at most, so the stage costs what it would),
# points falling with risk. It is not a model and says nothing about the demo book's risk.
_NUMERIC_SPLITS: dict[str, tuple[float, ...]] = {
    "loan_age_months": (6, 12, 24, 36),
    "remaining_months": (6, 12, 24, 36),
    "term_months": (12, 24, 36, 48),
    "annual_rate": (0.04, 0.06, 0.09, 0.12),
    "down_payment_ratio": (0.2, 0.3, 0.4),
    "balance_to_price": (0.2, 0.4, 0.6, 0.8),
    "monthly_income": (4000, 8000, 15000, 30000),
    "installment_to_income": (0.2, 0.35, 0.5, 0.7),
    "credit_score": (550, 600, 650, 700),
    "self_employed": (1,),
    "dpd_now": (1, 31, 61, 91),
    "max_dpd_6m": (1, 31, 61, 91),
    "max_dpd_12m": (1, 31, 61, 91),
    "worst_bucket_6m": (1, 2, 3, 4),
    "worst_bucket_12m": (1, 2, 3, 4),
    "late_installments_12m": (1, 2, 3, 6),
    "months_since_last_late": (3, 6, 12, 24),
    "pay_to_due_3m": (0.5, 0.9, 1.0, 1.5),
    "pay_to_due_6m": (0.5, 0.9, 1.0, 1.5),
    "pay_to_due_12m": (0.5, 0.9, 1.0, 1.5),
    "prepayments": (1, 2),
    "prepaid_share": (0.1, 0.3, 0.5),
    "failed_attempts_90d": (1, 2, 3, 5),
    "days_since_rpc": (30, 90, 180, 365),
    "ltv_latest": (0.5, 0.7, 0.8, 1.0),
    "ltv_band_rank": (1, 2, 3, 4),
}


def ensure_model(cache: Path, as_of: date) -> Path:
    """The stand-in scorecard's artifact directory in the cache (see `_NUMERIC_SPLITS`)."""
    from huifang.batch.demo_behaviour import INDUSTRIES, PURPOSES
    from huifang.model import book_features as bf
    from huifang.model.artifact import write_artifact
    from huifang.model.binning import CATEGORICAL, NUMERIC, FeatureBins
    from huifang.model.scorecard import CardFeature, Scaling, Scorecard

    root = cache / "models"
    if (root / "LATEST").exists():
        return root
    groups = {
        "industry": (INDUSTRIES[:3], INDUSTRIES[3:6]),
        "borrower_kind": (("individual",), ("business",)),
        "repayment_method": (("equal-installment", "equal-principal"), ("interest-first",)),
        "purpose": (PURPOSES[:1], PURPOSES[3:]),
        "vehicle_condition": (("new",), ("used",)),
        "fuel_type": (("petrol", "hybrid"), ("bev", "phev", "erev")),
    }
    features = []
    for name in bf.FEATURES:
        if name in groups:
            bins = FeatureBins(name=name, kind=CATEGORICAL, groups=groups[name])
        else:
            splits = tuple(float(x) for x in _NUMERIC_SPLITS.get(name, (1, 2, 3)))
            bins = FeatureBins(name=name, kind=NUMERIC, splits=splits)
        k = bins.n_regular + 2
        bins = FeatureBins(
            name=name, kind=bins.kind, splits=bins.splits, groups=bins.groups,
            woe=(0.0,) * k, goods=(100,) * k, bads=(5,) * k, iv=0.1,
        )  # fmt: skip
        points = tuple(20 - 4 * i for i in range(k))
        features.append(CardFeature(bins=bins, coefficient=1.0, points=points))
    card = Scorecard(tuple(features), -3.0, Scaling())
    write_artifact(root, as_of, card, {"stand_in": True}, "# 基准测试替身 / bench stand-in")
    return root


def read_floor(directory: Path) -> float:
    """Seconds to read just the input columns the run needs (no conversion)."""
    started = time.perf_counter()
    pq.read_table(directory / "loans.parquet", columns=LOAN_SCHEMA.names)
    pq.read_table(directory / "payments.parquet", columns=PAYMENT_SCHEMA.names)
    return time.perf_counter() - started


def compare_fold(ctx: RunContext, as_of: date) -> dict[str, list[float]]:
    """`compute_partition` over the whole book, NumPy fold vs compiled, twice each."""
    from huifang.batch import engine

    assert ctx.inputs is not None
    templates = ctx.cache.table()
    prepared = engine.template_arrays(templates)
    times: dict[str, list[float]] = {"numpy": [], "compiled": []}
    outputs: dict[str, pa.Table] = {}
    saved = os.environ.get("HUIFANG_BATCH_FOLD")
    try:
        for _ in range(2):
            for mode in times:
                os.environ["HUIFANG_BATCH_FOLD"] = mode
                started = time.perf_counter()
                outputs[mode] = engine.compute_partition(
                    ctx.inputs.loans, ctx.inputs.payments, templates, as_of, prepared=prepared
                )
                times[mode].append(round(time.perf_counter() - started, 3))
    finally:
        os.environ.pop("HUIFANG_BATCH_FOLD", None)
        if saved is not None:
            os.environ["HUIFANG_BATCH_FOLD"] = saved
    assert outputs["numpy"].equals(outputs["compiled"]), "the two folds disagree"
    print(f"  compute_partition: NumPy fold {times['numpy']} s, compiled {times['compiled']} s")
    return times


def risk_sample(ctx: RunContext, sample: pa.Table, as_of: date) -> dict[str, object]:
    """The risk stages per loan with the domain on the sample: agreement and speed ratio."""
    from huifang.batch import risk_reference
    from huifang.risk_rules import load_tier_settings
    from huifang.valuation_params import load_valuation_params

    assert ctx.inputs is not None and ctx.states is not None and ctx.risk is not None
    ids = sample["loan_id"]
    states = ctx.states.filter(pc.is_in(ctx.states["loan_id"], ids))
    loans = ctx.inputs.loans.filter(pc.is_in(ctx.inputs.loans["loan_id"], ids))
    risk = RiskBook(*(t.filter(pc.is_in(t["loan_id"], ids)) for t in ctx.risk.tables().values()))
    params, settings = load_valuation_params(), load_tier_settings()
    started = time.perf_counter()
    coll = risk_reference.collateral_rows(states, loans, risk, as_of, params)
    ltvs = {k: (v or {}).get("ltv") for k, v in coll.items()}
    scores = None
    if "loan_scores" in ctx.extra and ctx.model is not None:  # the tier reads the scores
        from huifang.model.behaviour import behaviour_score

        card, version = ctx.model.card, ctx.model.version
        scored = ctx.extra["loan_scores"].filter(pc.is_in(ctx.extra["loan_scores"]["loan_id"], ids))
        scores = {
            r["loan_id"]: behaviour_score(card, r["points"], version)
            for r in scored.select(["loan_id", "points"]).to_pylist()
        }
    tiers = risk_reference.tier_rows(
        states, loans, risk, ltvs, as_of, settings.origination, settings.risk, scores
    )
    per_loan = (time.perf_counter() - started) / max(states.num_rows, 1)
    got_c = {r["loan_id"]: r for r in ctx.extra["loan_collateral"].to_pylist()}
    got_t = {r["loan_id"]: r for r in ctx.extra["loan_tiers"].to_pylist()}
    agrees = all(
        (got_c[k]["vehicle_value"], got_c[k]["ltv"]) == (v["vehicle_value"], v["ltv"])
        if v is not None
        else got_c[k]["vehicle_value"] is None
        for k, v in coll.items()
    ) and all(
        got_t.get(k) == ({"loan_id": k, **v} if v is not None else None) for k, v in tiers.items()
    )
    stage_s = ctx.seconds.get("collateral", 0) + ctx.seconds.get("tier", 0)
    per_loan_batch = stage_s / max(ctx.states.num_rows, 1)
    return {
        "seconds": round(stage_s, 3),
        "per_loan_reference_ms": round(per_loan * 1000, 3),
        "per_loan_batch_us": round(per_loan_batch * 1e6, 3),
        "speedup_vs_per_loan": round(per_loan / per_loan_batch, 1) if per_loan_batch else None,
        "agrees": agrees,
        "sample": states.num_rows,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--cache-dir", type=Path, default=Path("huifang-data/bench-cache"))
    parser.add_argument("--sample", type=int, default=1_000, help="loans for the per-loan engine")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep-output", type=Path, default=None)
    parser.add_argument(
        "--json-out", type=Path, default=None, help="also append the JSON line to this file"
    )
    parser.add_argument(
        "--sink",
        choices=("parquet", "sqlite"),
        default="parquet",
        help="where the run writes: a Parquet directory, or the run tables of a new SQLite "
        "database (the default `huifang run` target)",
    )
    parser.add_argument(
        "--no-risk",
        action="store_true",
        help="run without the risk inputs (loan states only: no collateral, LTV or tier)",
    )
    parser.add_argument(
        "--compare-fold",
        action="store_true",
        help="also time compute_partition on the whole book with the NumPy and the compiled "
        "fold, twice each, in this process (and check the outputs are identical)",
    )
    args = parser.parse_args(argv)
    as_of = date.fromisoformat(args.as_of)

    inputs_dir = ensure_book(args.loans, args.seed, as_of, args.cache_dir, args.workers)
    if not args.no_risk:
        ensure_risk(inputs_dir, args.seed, as_of)
        ensure_followup(inputs_dir, args.seed, as_of)
        ensure_behaviour(inputs_dir, args.seed, as_of)
    models = ensure_model(args.cache_dir, as_of)
    template_dir = args.cache_dir / "templates"
    cold_templates = None
    if not any(template_dir.glob("templates-*.parquet")):
        # the first night computes every template; measure it apart from the nightly run
        from huifang.batch import engine

        started = time.perf_counter()
        engine.ensure_templates(
            read_parquet_inputs(inputs_dir).loans, TemplateCache(template_dir), as_of
        )
        cold_templates = time.perf_counter() - started

    load_before = os.getloadavg()[0]
    floor = min(read_floor(inputs_dir) for _ in range(2))
    out = (
        Path(tempfile.mkdtemp(prefix="huifang-bench-"))
        if args.keep_output is None
        else args.keep_output
    )
    try:
        sink: Sink
        if args.sink == "sqlite":
            from huifang.store.db import make_engine, upgrade

            db = make_engine(f"sqlite:///{out / 'huifang.db'}")
            upgrade(db)
            sink = DatabaseSink(db)
        else:
            sink = ParquetSink(out)
        ctx = RunContext(
            as_of=as_of,
            load=lambda: read_parquet_inputs(inputs_dir),
            load_risk=None if args.no_risk else lambda: read_parquet_risk(inputs_dir),
            load_followup=None if args.no_risk else lambda: read_parquet_followup(inputs_dir),
            load_behaviour=None if args.no_risk else lambda: read_parquet_behaviour(inputs_dir),
            model_dir=models,
            sink=sink,
            cache=TemplateCache(template_dir),
            force=True,
        )
        started = time.perf_counter()
        run(ctx)
        total = time.perf_counter() - started
        if args.sink == "sqlite":
            assert ctx.states is not None and isinstance(sink, DatabaseSink)
            assert sink.rows == ctx.states.num_rows
            states = ctx.states
        else:
            states = read_parquet_states(out, as_of)
    finally:
        if args.keep_output is None:
            shutil.rmtree(out, ignore_errors=True)
    main_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the run computes in threads of this process; any child process (the demo book's
    # generator on a first run) is counted as if it had run at the same time
    worker_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak_rss_mb = main_peak_mb + worker_peak_mb

    # the per-loan engine on a sample of the same active loans, in the same process
    assert ctx.inputs is not None
    loans = ctx.inputs.loans
    active = loans.filter(pc.equal(loans.column("status"), "active"))
    step = max(active.num_rows // max(args.sample, 1), 1)
    sample = active.take(list(range(0, active.num_rows, step))[: args.sample])
    pays = ctx.inputs.payments.filter(pc.is_in(ctx.inputs.payments["loan_id"], sample["loan_id"]))
    started = time.perf_counter()
    want = reference.compute(sample, pays, as_of)
    per_loan_ref = (time.perf_counter() - started) / max(want.num_rows, 1)
    got = states.filter(pc.is_in(states["loan_id"], sample["loan_id"]))
    agree = got.to_pylist() == want.to_pylist()

    risk_check = risk_sample(ctx, sample, as_of) if ctx.risk is not None else None
    per_loan_run = total / max(states.num_rows, 1)
    compute = ctx.seconds.get("templates", 0) + ctx.seconds.get("compute", 0)
    result: dict[str, object] = {
        "loans": args.loans,
        "sink": args.sink,
        "active_loans": states.num_rows,
        "payment_rows": ctx.inputs.payments.num_rows,
        "seconds_total": round(total, 3),
        "seconds_by_stage": {k: round(v, 3) for k, v in ctx.seconds.items()},
        "peak_rss_mb": round(peak_rss_mb, 1),
        "main_peak_rss_mb": round(main_peak_mb, 1),
        "worker_peak_rss_mb": round(worker_peak_mb, 1),
        "workers": usable_cpus(),
        "read_floor_seconds": round(floor, 3),
        "total_over_read_floor": round(total / floor, 2),
        "compute_over_read_floor": round(compute / floor, 2),
        "per_loan_reference_ms": round(per_loan_ref * 1000, 3),
        "per_loan_run_us": round(per_loan_run * 1e6, 3),
        "speedup_vs_per_loan": round(per_loan_ref / per_loan_run, 1),
        "speedup_compute_only": round(per_loan_ref / (compute / max(states.num_rows, 1)), 1),
        "reference_sample": want.num_rows,
        "reference_agrees": agree,
        "cold_templates_seconds": None if cold_templates is None else round(cold_templates, 1),
        "templates": len(TemplateCache(template_dir)),
        "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "machine": f"{platform.machine()}, {usable_cpus()} of {os.cpu_count()} cores usable, "
        f"Python {platform.python_version()}",
    }
    behaviour = ctx.summary.get("behaviour", {})
    result["behaviour_stage"] = {
        "seconds": round(ctx.seconds.get("behaviour", 0.0), 3),
        "scored": behaviour.get("scored"),
        "skipped": behaviour.get("skipped"),
    }
    if risk_check is not None:
        result["risk_stages"] = risk_check
        agree = agree and bool(risk_check["agrees"])
    if args.compare_fold:
        result["fold_comparison_seconds"] = compare_fold(ctx, as_of)
    for stage, seconds in ctx.seconds.items():
        print(f"  {stage:<12} {seconds:8.3f} s")
    print(f"  {'total':<12} {total:8.3f} s   read floor {floor:.3f} s")
    print(
        f"  peak RSS {peak_rss_mb:,.0f} MB "
        f"(main {main_peak_mb:,.0f}, children {worker_peak_mb:,.0f})"
    )
    print(
        f"  per-loan engine {per_loan_ref * 1000:.2f} ms/loan on {want.num_rows:,} loans "
        f"(agrees: {agree}); run {per_loan_run * 1e6:.1f} µs/loan "
        f"→ {per_loan_ref / per_loan_run:,.0f}×"
    )
    print(json.dumps(result, ensure_ascii=False))
    if args.json_out is not None:
        with args.json_out.open("a", encoding="utf-8") as out_file:
            out_file.write(json.dumps(result, ensure_ascii=False) + "\n")
    if not agree:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
