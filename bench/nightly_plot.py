"""How the nightly run grows with the book: a plot from `bench/nightly.py`'s JSON lines.

    python bench/nightly.py --loans 10000 --json-out runs.jsonl   # and 100000, 1000000
    python bench/nightly_plot.py runs.jsonl --out docs/nightly-growth.png

Plots, per book size, the whole run's seconds stacked by stage with the read floor and the
speed-up over the per-loan engine, and the peak memory; the last run of each size in the
file is used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def load(path: Path) -> list[dict[str, object]]:
    """The last result per book size, by size."""
    runs: dict[int, dict[str, object]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            runs[int(row["loans"])] = row
    return [runs[n] for n in sorted(runs)]


def plot(runs: list[dict[str, object]], out: Path) -> None:
    loans = [int(r["loans"]) for r in runs]  # type: ignore[call-overload]
    stages: list[str] = []
    for r in runs:
        for name in r["seconds_by_stage"]:  # type: ignore[attr-defined]
            if name not in stages:
                stages.append(name)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bottom = [0.0] * len(runs)
    for name in stages:
        values = [float(r["seconds_by_stage"].get(name, 0)) for r in runs]  # type: ignore[attr-defined]
        left.bar([str(n) for n in loans], values, bottom=bottom, label=name, edgecolor="white")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    floor = [float(r["read_floor_seconds"]) for r in runs]  # type: ignore[arg-type]
    left.plot([str(n) for n in loans], floor, "k--", marker="o", label="read floor")
    for x, (total, r) in enumerate(zip(bottom, runs, strict=True)):
        left.annotate(
            f"{total:.2f} s\n{r['speedup_vs_per_loan']}×",
            (x, total),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    left.set_ylim(0, max(bottom) * 1.2)
    left.set_xlabel("loans in the book")
    left.set_ylabel("seconds")
    left.set_title("Whole run Parquet → Parquet, by stage")
    left.legend(fontsize=7, ncol=2)
    peak = [float(r["peak_rss_mb"]) / 1024 for r in runs]  # type: ignore[arg-type]
    right.plot(loans, peak, marker="o", label="peak RSS (all processes)")
    right.axhline(4, color="red", linestyle=":", label="target 4 GiB")
    right.set_xscale("log")
    right.set_xlabel("loans in the book (log scale)")
    right.set_ylabel("GiB")
    right.set_title("Peak memory")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="JSON lines from bench/nightly.py")
    parser.add_argument("--out", type=Path, default=Path("docs/nightly-growth.png"))
    args = parser.parse_args()
    plot(load(args.results), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
