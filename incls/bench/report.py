"""Summaries of edit records (medians and p95 per stream kind and length) and the plot."""

from __future__ import annotations

import statistics
from pathlib import Path


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _ratio(a, b):
    return a / b if b else float("inf")


def group_summary(records) -> dict:
    """Medians and p95 of one group of edit records."""
    get = lambda name: [getattr(r, name) for r in records]
    out: dict[str, float | None] = {"edits": len(records)}
    for name in ("ops_incremental", "ops_full", "ops_prefix", "wall_incremental", "wall_full", "wall_prefix"):
        values = get(name)
        out[f"{name}_median"] = statistics.median(values) if values else None
        out[f"{name}_p95"] = quantile(values, 0.95)
    twins = [r.wall_twin for r in records if r.wall_twin is not None]
    out["wall_twin_median"] = statistics.median(twins) if twins else None
    out["ops_reduction_median"] = (
        statistics.median([_ratio(r.ops_full, r.ops_incremental) for r in records]) if records else None
    )
    out["ops_reduction_vs_prefix_median"] = (
        statistics.median([_ratio(r.ops_prefix, r.ops_incremental) for r in records]) if records else None
    )
    out["wall_speedup_median"] = (
        statistics.median([_ratio(r.wall_full, r.wall_incremental) for r in records]) if records else None
    )
    out["wall_speedup_vs_prefix_median"] = (
        statistics.median([_ratio(r.wall_prefix, r.wall_incremental) for r in records]) if records else None
    )
    return out


def summarize(records, memory: dict, settings: dict) -> dict:
    """The bench's JSON: headline numbers on word-level edits, then every group.

    memory: for each document length, what `runner.memory_after` measured; the summary
    gives bytes per document and the largest bytes per token and layer among the lengths."""
    word = [r for r in records if r.kind == "word"] or records
    head = group_summary(word)
    checked = [r for r in records if r.checked]
    groups: dict[tuple, list] = {}
    for r in records:
        groups.setdefault((r.kind, r.length), []).append(r)
    return {
        "ops_reduction_median": head["ops_reduction_median"],
        "ops_reduction_vs_prefix_median": head["ops_reduction_vs_prefix_median"],
        "wall_speedup_median": head["wall_speedup_median"],
        "wall_speedup_vs_prefix_median": head["wall_speedup_vs_prefix_median"],
        "mismatch_rate": (sum(r.mismatch for r in checked) / len(checked)) if checked else 0.0,
        "edits": len(records),
        "edits_checked": len(checked),
        "headline_stream": "word",
        "by_kind_and_length": [{"kind": k, "length": n, **group_summary(g)} for (k, n), g in sorted(groups.items())],
        "by_kind": {k: group_summary([r for r in records if r.kind == k]) for k in sorted({r.kind for r in records})},
        "memory_bytes_per_document": {length: m["bytes"] for length, m in memory.items()},
        "memory_bytes_per_token_per_layer": max((m["bytes_per_token_per_layer"] for m in memory.values()), default=0.0),
        "memory": memory,
        "settings": settings,
    }


def plot(records, path: Path) -> None:
    """Per-edit operations and wall-clock, incremental vs baselines, against document length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = (
        ("full recompute", "full", "tab:red"),
        ("prefix reuse", "prefix", "tab:orange"),
        ("incremental", "incremental", "tab:blue"),
    )
    for ax, unit in zip(axes, ("ops", "wall")):
        for label, key, color in series:
            xs = [r.n_tokens for r in records]
            ys = [getattr(r, f"{unit}_{key}") for r in records]
            ax.scatter(xs, ys, s=8, alpha=0.5, color=color, label=label)
        if unit == "wall":
            twins = [(r.n_tokens, r.wall_twin) for r in records if r.wall_twin is not None]
            if twins:
                ax.scatter(*zip(*twins), s=8, alpha=0.5, color="tab:gray", label="HF twin (full)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("document length (tokens)")
        ax.set_ylabel("multiply-adds per edit" if unit == "ops" else "seconds per edit")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("incls bench: cost of one edit")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
