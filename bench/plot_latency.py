"""Latency (p50 and p99) against throughput, one line per system, from the sweep
of calls in flight that scripts/bench records in bench/results/latest.json.

    python bench/plot_latency.py bench/results/latest.json bench/results/latency-vs-load.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the file only
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"switchboard": "tab:blue", "crossbar": "tab:orange", "relay": "tab:green"}


def main(results_path: str, png_path: str) -> None:
    with open(results_path) as f:
        results = json.load(f)
    run = results.get("run", {})
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for system, colour in COLOURS.items():
        points = sorted(
            (p for p in results["sweep"] if p["system"] == system and p["errors"] == 0),
            key=lambda p: p["in_flight"],
        )
        if not points:
            continue
        rates = [p["calls_per_s"] for p in points]
        for quantile, style in (("p50", "-"), ("p99", "--")):
            latencies_ms = [p[f"{quantile}_us"] / 1000 for p in points]
            ax.plot(rates, latencies_ms, style, marker="o", color=colour, label=f"{system} {quantile}")
        for p in points:
            ax.annotate(
                f"K={p['in_flight']}",
                (p["calls_per_s"], p["p50_us"] / 1000),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
                color=colour,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("throughput (calls/s, log)")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(
        "RPC latency against offered load: 4 callers x K calls in flight, 1 callee, 32 B JSON\n"
        f"{run.get('cores', '?')} cores shared by router and load generator; "
        f"{run.get('sweep_duration_s', '?')} s per point",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(png_path)
    print(f"plot in {png_path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
