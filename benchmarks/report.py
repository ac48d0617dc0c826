"""Turns benchmark samples into the markdown table, the JSON file, the goal check and the chart."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

# figure -> (column title, format, lower is better)
FIGURES: dict[str, tuple[str, str, bool]] = {
    "import_ms": ("import ms", "{:.0f}", True),
    "rss_after_import_mib": ("RSS after import MiB", "{:.1f}", True),
    "first_call_ms": ("import+construct+1st call ms", "{:.0f}", True),
    "cpu_us_in_process": ("CPU/call in-process us", "{:.0f}", True),
    "cpu_us_loopback": ("CPU/call loopback us", "{:.0f}", True),
    "throughput_c64": ("calls/s at c=64", "{:.0f}", False),
    "cpu_us_c64": ("CPU/call at c=64 us", "{:.0f}", True),
    "stream_us_per_chunk": ("stream CPU/chunk us", "{:.2f}", True),
    "ttft_ms": ("time to 1st token ms", "{:.2f}", True),
}
# Figures also shown as a ratio to the floor of the same vendor (same run).
RATIO_FIGURES = (
    "import_ms",
    "cpu_us_in_process",
    "cpu_us_loopback",
    "cpu_us_c64",
    "throughput_c64",
    "stream_us_per_chunk",
)
OPENAI_SDK = "openai SDK"


def _floor_for(client: str, meta: dict[str, Any]) -> str:
    """Returns the floor a client is compared with: the same vendor's raw httpx client."""
    anthropic = "anthropic" in client.lower()
    return str(meta["floor_anthropic"] if anthropic else meta["floor"])


def summarise(samples: list[float]) -> dict[str, float]:
    """Returns the median, min, max and count of one figure's samples."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def ratio(samples: dict[str, list[float]], client: str, base: str) -> float | None:
    """Returns the median of run-by-run ratios client/base, or None when either is missing."""
    mine, theirs = samples.get(client), samples.get(base)
    if not mine or not theirs:
        return None
    pairs = [a / b for a, b in zip(mine, theirs, strict=False) if b]
    return statistics.median(pairs) if pairs else None


def _cell(figure: str, summary: dict[str, float] | None) -> str:
    if summary is None:
        return "-"
    fmt = FIGURES[figure][1]
    if summary["n"] == 1:
        return fmt.format(summary["median"])
    low, high = fmt.format(summary["min"]), fmt.format(summary["max"])
    return f"{fmt.format(summary['median'])} ({low}-{high})"


def _clients(samples: dict[str, dict[str, list[float]]]) -> list[str]:
    seen: dict[str, None] = {}
    for by_client in samples.values():
        for client in by_client:
            seen.setdefault(client)
    return list(seen)


def goals(samples: dict[str, dict[str, list[float]]], meta: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks the issue's goals; each entry says the measured ratio, the bound and the verdict."""
    floor = meta["floor"]
    checks = [
        ("import ashford_llm / import httpx", "import_ms", "ashford bare", floor, 1.2, True),
        ("bare CPU in-process / floor", "cpu_us_in_process", "ashford bare", floor, 1.15, True),
        ("bare CPU loopback / floor", "cpu_us_loopback", "ashford bare", floor, 1.15, True),
        ("stack CPU in-process / floor", "cpu_us_in_process", "ashford stack", floor, 1.4, True),
        ("stack CPU loopback / floor", "cpu_us_loopback", "ashford stack", floor, 1.4, True),
        (
            "anthropic bare CPU loopback / its floor",
            "cpu_us_loopback",
            "ashford anthropic",
            meta["floor_anthropic"],
            1.15,
            True,
        ),
        ("throughput c=64 / openai SDK", "throughput_c64", "ashford bare", OPENAI_SDK, 2.0, False),
        (
            "throughput c=64 / openai SDK (stretch)",
            "throughput_c64",
            "ashford bare",
            OPENAI_SDK,
            4.0,
            False,
        ),
        ("CPU loopback / raw httpx (stretch)", "cpu_us_loopback", "ashford bare", floor, 0.5, True),
        (
            "throughput c=64, aiohttp / openai SDK (stretch)",
            "throughput_c64",
            "ashford bare, aiohttp",
            OPENAI_SDK,
            4.0,
            False,
        ),
        (
            "CPU loopback, aiohttp / raw httpx (stretch)",
            "cpu_us_loopback",
            "ashford bare, aiohttp",
            floor,
            0.5,
            True,
        ),
        ("stream CPU per chunk / floor", "stream_us_per_chunk", "ashford bare", floor, 1.2, True),
        (
            "stack stream CPU per chunk / floor",
            "stream_us_per_chunk",
            "ashford stack",
            floor,
            2.0,
            True,
        ),
    ]
    results = []
    for label, figure, client, base, bound, lower in checks:
        value = ratio(samples.get(figure, {}), client, base)
        if value is None:
            continue
        met = value <= bound if lower else value >= bound
        results.append(
            {"goal": label, "ratio": value, "bound": bound, "lower_is_better": lower, "met": met}
        )
    rss = samples.get("rss_after_import_mib", {}).get("ashford bare")
    if rss:
        value = statistics.median(rss)
        results.append(
            {"goal": "RSS after import MiB", "ratio": value, "bound": 35.0, "met": value <= 35.0}
        )
    return results


def markdown(
    samples: dict[str, dict[str, list[float]]], extra: dict[str, Any], meta: dict[str, Any]
) -> str:
    """Returns the figures table, the ratio table, the goal check and the soak line."""
    clients = _clients(samples)
    figures = [f for f in FIGURES if f in samples]
    start = meta.get("load_average_at_start", (0.0,))[0]
    end = meta.get("load_average", (0.0,))[0]
    lines = [
        f"Machine: {meta.get('cpus')} CPUs ({meta.get('cpu_model')}), Python "
        f"{meta.get('python')}; 1-minute load average {start:.1f} at start, {end:.1f} at end; "
        f"{meta.get('seconds', 0):.0f} s.",
        "",
        "| client | " + " | ".join(FIGURES[f][0] for f in figures) + " |",
        "|---|" + "---|" * len(figures),
    ]
    for client in clients:
        cells = [
            _cell(f, summarise(samples[f][client]) if client in samples[f] else None)
            for f in figures
        ]
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    ratio_figures = [f for f in RATIO_FIGURES if f in samples]
    lines += [
        "",
        "Ratios, median of run-by-run ratios (CPU and import: to the same vendor's raw httpx "
        "floor, lower is better; throughput: to the openai SDK, higher is better):",
        "",
        "| client | " + " | ".join(FIGURES[f][0] for f in ratio_figures) + " |",
        "|---|" + "---|" * len(ratio_figures),
    ]
    for client in clients:
        cells = []
        for figure in ratio_figures:
            base = OPENAI_SDK if figure == "throughput_c64" else _floor_for(client, meta)
            value = ratio(samples[figure], client, base)
            cells.append("-" if value is None else f"{value:.2f}x")
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    checked = goals(samples, meta)
    if checked:
        lines += ["", "| goal | measured | bound | met |", "|---|---|---|---|"]
        for goal in checked:
            sign = "<=" if goal.get("lower_is_better", True) else ">="
            lines.append(
                f"| {goal['goal']} | {goal['ratio']:.2f} | {sign} {goal['bound']} "
                f"| {'yes' if goal['met'] else 'NO'} |"
            )
    server = samples.get("server_cpu_us_loopback", {})
    busy = samples.get("server_busy_c64", {})
    if server:
        per_call = statistics.median(v for values in server.values() for v in values)
        peak = max((v for values in busy.values() for v in values), default=0.0)
        lines += [
            "",
            f"Loopback server: {per_call:.0f} us CPU per call (median over clients), "
            f"at most {peak * 100:.0f}% of its core busy at c=64.",
        ]
    soak = extra.get("soak")
    if soak:
        growth = (soak["rss_end_kib"] - soak["rss_warm_kib"]) / 1024
        lines += [
            "",
            f"Soak ({soak['client']}, in-process): RSS {soak['rss_warm_kib'] / 1024:.1f} MiB after "
            f"warm-up, {soak['rss_end_kib'] / 1024:.1f} MiB after {soak['calls']:,} calls "
            f"(growth {growth:+.1f} MiB), {soak['cpu_s'] / soak['calls'] * 1e6:.0f} us CPU/call.",
        ]
    return "\n".join(lines) + "\n"


def draw_chart(samples: dict[str, dict[str, list[float]]], path: Path) -> bool:
    """Draws the per-call figures as bars with min-max whiskers; False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        f
        for f in (
            "cpu_us_in_process",
            "cpu_us_loopback",
            "cpu_us_c64",
            "throughput_c64",
            "stream_us_per_chunk",
            "import_ms",
        )
        if f in samples
    ]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, 2.3 * len(shown) + 0.5), squeeze=False)
    for ax, figure in zip(axes[:, 0], shown, strict=True):
        by_client = samples[figure]
        names = list(by_client)
        medians = [statistics.median(by_client[n]) for n in names]
        lows = [m - min(by_client[n]) for m, n in zip(medians, names, strict=True)]
        highs = [max(by_client[n]) - m for m, n in zip(medians, names, strict=True)]
        colours = ["#c44e52" if "ashford" in n else "#8c8c8c" for n in names]
        ax.barh(names, medians, xerr=[lows, highs], color=colours, capsize=2)
        better = "lower" if FIGURES[figure][2] else "higher"
        ax.set_title(f"{FIGURES[figure][0]} ({better} is better)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_outputs(
    samples: dict[str, dict[str, list[float]]],
    extra: dict[str, Any],
    meta: dict[str, Any],
    out: Path,
    *,
    chart: bool = True,
) -> str:
    """Writes results.json, table.md and chart.png to `out`; returns the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(samples, extra, meta)
    summary = {
        figure: {client: summarise(values) for client, values in by_client.items()}
        for figure, by_client in samples.items()
    }
    document = {
        "meta": meta,
        "summary": summary,
        "goals": goals(samples, meta),
        "samples": samples,
        **extra,
    }
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "table.md").write_text(table)
    if chart and not draw_chart(samples, out / "chart.png"):
        table += "\n(matplotlib is not installed: no chart)\n"
    return table
