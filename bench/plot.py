"""Throughput and p99 against concurrency, floor and Onward, as one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(result: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional: pip install 'onward[bench]'
        print("matplotlib is not installed: no plot")
        return
    sweep = result["sweep"]
    cs = [row["connections"] for row in sweep]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for who, style, label in (
        ("floor", "o--", "read-only floor"),
        ("same_work", "^:", "same-work floor"),
        ("onward", "s-", "onward"),
    ):
        if all(who in row for row in sweep):
            ax1.plot(cs, [row[who]["requests_per_s"] for row in sweep], style, label=label)
            ax2.plot(cs, [row[who]["p99_ms"] for row in sweep], style, label=label)
    ax1.set(title="Partner read throughput", xlabel="connections", ylabel="requests/s")
    ax2.set(title="Partner read p99", xlabel="connections", ylabel="ms")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(cs, [str(c) for c in cs])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"Onward vs floors — {result['profiles']} profiles, "
        f"{result['events']} access events, 1 worker on 1 core"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
