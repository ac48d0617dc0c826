"""Renders the docs' figures from the committed results files, between markers.

A figure in the docs sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->`; this
script replaces what is between them with what `RENDERERS[NAME]` makes of the results files
under `benchmarks/results/`. A block on a line of its own renders a table; a block inside a
sentence renders one value.

    python benchmarks/render_docs.py           # rewrite the docs
    python benchmarks/render_docs.py --check   # exit 1, naming the blocks, if a doc is stale
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import markdown, ratio  # noqa: E402

DOCS = (
    "docs/performance.md",
    "docs/decisions/provider-selection.md",
    "docs/decisions/default-transport.md",
    "docs/reliability.md",
    "docs/tracing.md",
)
BLOCK = re.compile(r"<!-- results:([a-z0-9-]+) -->(.*?)<!-- /results:\1 -->", re.DOTALL)
OPEN = re.compile(r"<!-- results:([a-z0-9-]+) -->")
FLOOR = "httpx+msgspec (floor)"
FLOOR_ANTHROPIC = "httpx+msgspec anthropic (floor)"

Results = Callable[[str], dict[str, Any]]


class RenderError(Exception):
    """A doc's markers or a results file cannot be rendered."""


# --- the benchmark run (results.json) -------------------------------------------------------


def _median(run: dict[str, Any], figure: str, client: str) -> float | None:
    values = run["samples"].get(figure, {}).get(client)
    return statistics.median(values) if values else None


def run_machine(load: Results) -> str:
    """The machine, versions, command and load of the committed full run."""
    run = load("results.json")
    meta = run["meta"]
    versions = meta["versions"]
    named = ", ".join(f"{name} {number}" for name, number in versions.items())
    server = [v for values in run["samples"]["server_cpu_us_loopback"].values() for v in values]
    busy = max(v for values in run["samples"]["server_busy_c64"].values() for v in values)
    return (
        f"{meta['cpus']} CPUs ({meta['cpu_model']}), CPython {meta['python']}, "
        f"{meta['platform']}. Versions: {named}. Command: `{meta['command']}` "
        f"({meta['seconds']:.0f} s); 1-minute load average {meta['load_average_at_start'][0]:.1f} "
        f"at the start and {meta['load_average'][0]:.1f} at the end. The loopback server used "
        f"{statistics.median(server):.0f} us of CPU per call and at most {busy * 100:.0f}% of "
        f"its core at concurrency 64."
    )


def run_tables(load: Results) -> str:
    """The full run's figures, ratios, goal check and soak line, as `report.py` prints them."""
    run = load("results.json")
    return markdown(run["samples"], {"soak": run["soak"]}, run["meta"]).strip()


# (figure, label, ashford counterpart of the openai SDK and LiteLLM, of the anthropic SDK)
PEER_FIGURES = (
    ("import_ms", "import time (the whole of ashford_llm)", "ashford bare", "ashford bare"),
    ("rss_after_import_mib", "RSS after import", "ashford bare", "ashford bare"),
    ("first_call_ms", "import + construct + first call", "ashford bare", "ashford bare"),
    ("cpu_us_in_process", "CPU per call in-process", "ashford bare", "ashford anthropic"),
    ("cpu_us_loopback", "CPU per call loopback, sequential", "ashford bare", "ashford anthropic"),
    ("cpu_us_c64", "CPU per call at concurrency 64", "ashford bare", "ashford anthropic"),
    ("stream_us_per_chunk", "stream CPU per chunk", "ashford bare", "ashford anthropic"),
)
PEER_THROUGHPUT: tuple[tuple[str, str, str | None], ...] = (
    ("the default client (httpx2)", "ashford bare", "ashford anthropic"),
    ("httpx 0.28", "ashford bare, httpx 0.28", None),
    ("the aiohttp transport", "ashford bare, aiohttp", None),
)
PEERS = ("openai SDK", "anthropic SDK", "litellm", "pydantic-ai", "any-llm")
PEER_TITLES = {"litellm": "LiteLLM"}


def _times(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}x" if value >= 20 else f"{value:.1f}x"


def run_peers(load: Results) -> str:
    """Each peer against ashford_llm: median of run-by-run ratios, higher favours ashford."""
    samples = load("results.json")["samples"]
    lines = [
        "| figure | " + " | ".join(PEER_TITLES.get(peer, peer) for peer in PEERS) + " |",
        "|---|" + "---|" * len(PEERS),
    ]
    for figure, label, openai_side, anthropic_side in PEER_FIGURES:
        cells = []
        for peer in PEERS:
            mine = anthropic_side if peer == "anthropic SDK" else openai_side
            cells.append(_times(ratio(samples.get(figure, {}), peer, mine)))
        lines.append(f"| {label}, peer / ashford | " + " | ".join(cells) + " |")
    for transport, openai_client, anthropic_client in PEER_THROUGHPUT:
        cells = []
        for peer in PEERS:
            side = anthropic_client if peer == "anthropic SDK" else openai_client
            value = None if side is None else ratio(samples["throughput_c64"], side, peer)
            cells.append("not measured" if side is None else _times(value))
        label = f"calls/s at concurrency 64 on {transport}, ashford / peer"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# (figure, label, unit, format)
DECISION_FIGURES = (
    ("import_ms", "import (fresh process)", "ms", "{:,.0f}"),
    ("rss_after_import_mib", "RSS after import", "MiB", "{:.1f}"),
    ("cpu_us_in_process", "client CPU per call in-process", "us", "{:,.0f}"),
    ("cpu_us_loopback", "client CPU per call loopback, sequential", "us", "{:,.0f}"),
    ("throughput_c64", "calls/s at concurrency 64, loopback", "", "{:,.0f}"),
    ("stream_us_per_chunk", "stream CPU per chunk", "us", "{:.1f}"),
)


def decision_figures(load: Results) -> str:
    """Medians of the full run, per vendor's floor, ashford_llm and each peer."""
    run = load("results.json")
    columns = (
        ("raw httpx (floor)", FLOOR),
        ("ashford OpenAI", "ashford bare"),
        ("openai SDK", "openai SDK"),
        ("LiteLLM", "litellm"),
        ("pydantic-ai", "pydantic-ai"),
        ("any-llm", "any-llm"),
        ("raw httpx, Anthropic (floor)", FLOOR_ANTHROPIC),
        ("ashford Anthropic", "ashford anthropic"),
        ("anthropic SDK", "anthropic SDK"),
    )
    versions = run["meta"]["versions"]
    lines = [
        "| figure | " + " | ".join(title for title, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for figure, label, unit, fmt in DECISION_FIGURES:
        cells = []
        for _, client in columns:
            value = _median(run, figure, client)
            cells.append("-" if value is None else fmt.format(value))
        suffix = f", {unit}" if unit else ""
        lines.append(f"| {label}{suffix} | " + " | ".join(cells) + " |")
    aiohttp = _median(run, "throughput_c64", "ashford bare, aiohttp")
    lines += [
        "",
        f"Peers: openai {versions.get('openai')}, anthropic {versions.get('anthropic')}, "
        f"litellm {versions.get('litellm')}, pydantic-ai-slim {versions.get('pydantic-ai-slim')}, "
        f"any-llm-sdk {versions.get('any-llm-sdk')}; ashford_llm on its own httpx2 "
        f"{versions.get('httpx2')} client (httpx {versions.get('httpx')} for the floor). "
        f"Import and RSS are whole-library figures (ashford_llm's column covers both vendors; "
        f"the floor's import is httpx's). On the httpx-aiohttp transport ashford's OpenAI "
        f"provider served {aiohttp:,.0f} calls/s at concurrency 64; no Anthropic client was "
        f"measured on that transport.",
    ]
    return "\n".join(lines)


def goal_value(name: str, fmt: str = "{:.2f}x") -> Callable[[Results], str]:
    """One goal's measured value from the full run, for a sentence."""

    def render(load: Results) -> str:
        for goal in load("results.json")["goals"]:
            if goal["goal"] == name:
                return fmt.format(goal["ratio"])
        raise RenderError(f"results.json has no goal {name!r}")

    return render


# --- the helpers' results files -------------------------------------------------------------


def _optional(load: Results, name: str) -> dict[str, Any] | None:
    """Returns a results file, or None when it was not measured."""
    try:
        return load(name)
    except RenderError:
        return None


def instructions(load: Results) -> str:
    """Instructions per in-process call and per 1,000-chunk stream, and their ratios."""
    calls = load("instructions.json")
    stream_file = _optional(load, "instructions_stream.json")
    streams = {row["client"]: row for row in (stream_file or {"rows": []})["rows"]}
    lines = [
        "| client | instructions per call | / floor | per 1,000-chunk stream | / floor |",
        "|---|---|---|---|---|",
    ]
    for row in calls["rows"]:
        stream = streams.get(row["client"])
        cells = [f"{row['instructions']:,.0f}", _ratio3(row["ratio_to_floor"])]
        if stream is None:
            cells += ["-", "-"]
        else:
            cells += [f"{stream['instructions']:,.0f}", _ratio3(stream["ratio_to_floor"])]
        lines.append(f"| {row['client']} | " + " | ".join(cells) + " |")
    first = calls["meta"]["parameters"]
    note = f"Per call: {first['calls']} against {first['low_calls']} calls"
    sources = [f"`{calls['meta']['command']}`"]
    if stream_file is None:
        note += "; streams were not measured in this run"
    else:
        second = stream_file["meta"]["parameters"]
        note += f"; per stream: {second['calls']} against {second['low_calls']} streams"
        sources.append(f"`{stream_file['meta']['command']}`")
    lines += ["", f"{note} ({', '.join(sources)}, {calls['meta']['date']})."]
    return "\n".join(lines)


def _ratio3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def instructions_layers(load: Results) -> str:
    """Instructions per call of the recommended stack with and without Cache, Budget, Cost."""
    result = load("instructions_layers.json")
    lines = ["| client | instructions per call | / floor |", "|---|---|---|"]
    for row in result["rows"]:
        ratio = _ratio3(row["ratio_to_floor"])
        lines.append(f"| {row['client']} | {row['instructions']:,.0f} | {ratio} |")
    meta = result["meta"]
    parameters = meta["parameters"]
    lines += [
        "",
        f"Per call: {parameters['calls']} against {parameters['low_calls']} calls "
        f"(`{meta['command']}`, {meta['date']}).",
    ]
    return "\n".join(lines)


def instruction_ratio(
    client: str, stream: bool = False, file: str | None = None
) -> Callable[[Results], str]:
    """One client's instruction ratio to its floor, for a sentence."""

    def render(load: Results) -> str:
        name = file or ("instructions_stream.json" if stream else "instructions.json")
        found = _optional(load, name) if stream else load(name)
        if found is None:
            return "not measured"
        for row in found["rows"]:
            if row["client"] == client:
                return _ratio3(row["ratio_to_floor"])
        raise RenderError(f"{name} has no client {client!r}")

    return render


def import_time(load: Results) -> str:
    """Fresh-process import times (wall and CPU) and the ashford_llm / httpx ratios."""
    result = load("import_time.json")
    lines = [
        "| import | wall ms, median (min-max) | CPU ms, median (min-max) | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    for name, wall in result["samples_ms"].items():
        cpu = result["cpu_ms"][name]
        rss = result.get("rss_mib", {}).get(name)
        lines.append(
            f"| {name} | {statistics.median(wall):.0f} ({min(wall):.0f}-{max(wall):.0f}) "
            f"| {statistics.median(cpu):.0f} ({min(cpu):.0f}-{max(cpu):.0f}) "
            f"| {'-' if not rss else f'{statistics.median(rss):.1f}'} |"
        )
    meta = result["meta"]
    lines += [
        "",
        f"`import ashford_llm` (providers, middleware, testing) / `import httpx`: wall time "
        f"{result['ratio']:.2f}x, CPU time {result['cpu_ratio']:.2f}x; with httpx2, which a "
        f"provider built without a client loads, CPU time "
        f"{result['cpu_ratio_with_default_client']:.2f}x (goal <= "
        f"{result['bound']}x), each the median of {meta['parameters']['runs']} round-by-round "
        f"ratios; each round starts one fresh process per statement, in turn "
        f"(`{meta['command']}`, {meta['date']}; 1-minute load average "
        f"{meta['load_average'][0]:.1f} at the end, so wall times include waiting for a core).",
    ]
    return "\n".join(lines)


def import_ratio(load: Results) -> str:
    """The import_time.py ratios, for a sentence."""
    result = load("import_time.json")
    return f"wall {result['ratio']:.2f}x, CPU {result['cpu_ratio']:.2f}x"


def import_ratio_default(load: Results) -> str:
    """import_time.py's CPU ratio with httpx2 loaded too (a provider's own client)."""
    return f"CPU {load('import_time.json')['cpu_ratio_with_default_client']:.2f}x"


def pool_limits(load: Results) -> str:
    """Calls/s per server and concurrency for the provider built without a client, per limit."""
    result = load("pool_limits.json")
    lines = [
        "| server | concurrency | client | limits (connections / keep-alive) "
        "| calls/s, median (min-max) | CPU/call us | / openai SDK |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        values = row["calls_per_s"]
        share = "-" if row["ratio_to_sdk"] is None else f"{row['ratio_to_sdk']:.2f}x"
        lines.append(
            f"| {row['server']} | {row['concurrency']} | {row['client']} | {row['limits']} "
            f"| {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) "
            f"| {statistics.median(row['cpu_us_per_call']):.0f} | {share} |"
        )
    meta = result["meta"]
    parameters = meta["parameters"]
    levels = " and ".join(str(level) for level in parameters["concurrency"])
    lines += [
        "",
        f"{parameters['rounds']} interleaved rounds of {parameters['calls']:,} calls at "
        f"concurrency {levels} on each server, fresh clients each round; every ashford row is "
        f"`OpenAIProvider` built without `http_client` (`{meta['command']}`, {meta['date']}, "
        f"{parameters['seconds']} s; 1-minute load average {meta['load_average'][0]:.1f} at the "
        f"end: read the ratios, which come from this one run).",
    ]
    return "\n".join(lines)


def pool_default_ratio(load: Results) -> str:
    """The shipped default's calls/s over the openai SDK's per server and level, for a sentence."""
    rows = load("pool_limits.json")["rows"]
    parts = [
        f"{row['server']} server at concurrency {row['concurrency']} {row['ratio_to_sdk']:.2f}x"
        for row in rows
        if row["client"] == "ashford default" and row["ratio_to_sdk"] is not None
    ]
    if not parts:
        raise RenderError("pool_limits.json has no ashford default row with a ratio")
    return ", ".join(parts)


# (label, client in results.json) for the transport decision
TRANSPORTS = (
    ("httpx2 (the default)", "ashford bare"),
    ("httpx 0.28, old default limits", "ashford bare, httpx 0.28"),
    ("httpx-aiohttp", "ashford bare, aiohttp"),
)
# (label, import_time.json statement)
TRANSPORT_IMPORTS = (
    ("httpx2", "httpx2"),
    ("httpx 0.28", "httpx"),
    ("httpx-aiohttp", "httpx_aiohttp"),
)


def transport_figures(load: Results) -> str:
    """The three transports under OpenAIProvider: the full run's figures and the imports."""
    run = load("results.json")
    imports = load("import_time.json")
    lines = [
        "| figure | " + " | ".join(label for label, _ in TRANSPORTS) + " | openai SDK |",
        "|---|" + "---|" * (len(TRANSPORTS) + 1),
    ]
    rows = (
        ("cpu_us_loopback", "client CPU per call, sequential loopback, us", "{:,.0f}"),
        ("throughput_c64", "calls/s at concurrency 64", "{:,.0f}"),
        ("cpu_us_c64", "client CPU per call at concurrency 64, us", "{:,.0f}"),
        ("stream_us_per_chunk", "stream CPU per chunk, us", "{:.1f}"),
    )
    for figure, label, fmt in rows:
        cells = []
        for _, client in (*TRANSPORTS, ("", "openai SDK")):
            value = _median(run, figure, client)
            cells.append("-" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, key, fmt in (
        ("import CPU (fresh process), ms", "cpu_ms", "{:.0f}"),
        ("peak RSS after import, MiB", "rss_mib", "{:.1f}"),
    ):
        cells = [
            fmt.format(statistics.median(imports[key][name])) if name in imports[key] else "-"
            for _, name in TRANSPORT_IMPORTS
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " | - |")
    throughput = run["samples"].get("throughput_c64", {})
    ratios = [ratio(throughput, client, "openai SDK") for _, client in TRANSPORTS]
    shown = ", ".join(
        f"{label} {value:.2f}x"
        for (label, _), value in zip(TRANSPORTS, ratios, strict=True)
        if value is not None
    )
    lines += [
        "",
        f"Calls/s at concurrency 64 against the openai SDK in the same rounds: {shown}. "
        f"Run figures: `{run['meta']['command']}`; imports: "
        f"`{imports['meta']['command']}` ({imports['meta']['date']}), the transport's own "
        f"import (httpx-aiohttp's includes httpx and aiohttp).",
    ]
    return "\n".join(lines)


# --- Redis (redis_rate.json) ----------------------------------------------------------------


def _redis_run(load: Results, name: str) -> dict[str, Any]:
    runs: dict[str, Any] = load("redis_rate.json")["runs"]
    if name not in runs:
        raise RenderError(f"redis_rate.json has no run {name!r}")
    run: dict[str, Any] = runs[name]
    return run


def redis_steady(load: Results) -> str:
    """The requests and settled-tokens runs: the measured rate against the budget."""
    lines = [
        "| run | calls per process (in the window) | measured, per minute | budget | error |",
        "|---|---|---|---|---|",
    ]
    for name, label, unit in (
        ("requests", "requests", "requests"),
        ("tokens", "tokens, settled", "tokens"),
    ):
        run = _redis_run(load, name)
        budget = run[f"{unit}_per_minute_budget"]
        measured = run[f"{unit}_per_minute"]
        calls = " / ".join(f"{n:,}" for n in run["calls_per_process"])
        window = " / ".join(f"{n:,}" for n in run["window_calls_per_process"])
        extra = f" ({run['requests_per_minute']:,.0f} calls)" if unit == "tokens" else ""
        lines.append(
            f"| {label} | {calls} ({window} over {run['window_seconds']:.1f} s) "
            f"| {measured:,.1f} {unit}{extra} | {budget:,.0f} | {measured / budget - 1:+.2%} |"
        )
    run = _redis_run(load, "requests")
    meta = load("redis_rate.json")["meta"]
    errors = sum(sum(_redis_run(load, n)["errors"].values()) for n in ("requests", "tokens"))
    unexpected = sum(_redis_run(load, n)["unexpected"] for n in ("requests", "tokens"))
    lines += [
        "",
        f"{run['processes']} processes x {run['concurrency']} callers, {run['seconds']:g} s "
        f"each, {meta['parameters']['redis_server'].split(' sha=')[0]} on loopback, "
        f"{meta['cpus']} cores (1-minute load average {meta['load_average'][0]:.1f} after the "
        f"last run); typed errors: {errors}, unexpected "
        f"exceptions: {unexpected} ({meta['date']}, one run each).",
    ]
    return "\n".join(lines)


def redis_restart(load: Results) -> str:
    """The restart runs under each outage policy."""
    lines = [
        "| policy | calls | errors | outage warnings / recoveries |",
        "|---|---|---|---|",
    ]
    for name in ("restart-open", "restart-closed"):
        run = _redis_run(load, name)
        errors = ", ".join(f"{n:,} `{kind}`" for kind, n in run["errors"].items()) or "none"
        lines.append(
            f"| {run['policy']} | {sum(run['calls_per_process']):,} | {errors} "
            f"| {run['warnings']} / {run['recoveries']} |"
        )
    run = _redis_run(load, "restart-open")
    lines += [
        "",
        f"{run['processes']} processes x {run['concurrency']} callers, {run['seconds']:g} s, "
        f"{run['requests_per_minute_budget']:,.0f} requests per minute, Redis killed at "
        f"{run['restart_at']:g} s and down {run['down']:g} s.",
    ]
    return "\n".join(lines)


def redis_settled_calls(load: Results) -> str:
    """Calls per minute the settled token budget admitted, for a sentence."""
    return f"{_redis_run(load, 'tokens')['requests_per_minute']:,.0f}"


def redis_average_tokens(load: Results) -> str:
    """Average tokens a settled call was charged, for a sentence."""
    run = _redis_run(load, "tokens")
    return f"{run['tokens_per_minute'] / run['requests_per_minute']:.1f}"


# --- the fault-injection soak (soak.json) --------------------------------------------------


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def _breach_kind(breach: str) -> str:
    """A breach without its call's numbers and its error's own message, to group alike ones."""
    return re.sub(r"\d+(?:\.\d+)?", "N", re.sub(r" \([^()]*\)$", "", breach))


def soak(load: Results) -> str:
    """The full soak's figures, its breaches grouped by kind, and how it was run."""
    run = load("soak.json")
    meta, settings, breaches = run["meta"], run["settings"], run["violations"]
    pending = sum(
        int(found.group(1))
        for breach in breaches
        if (found := re.fullmatch(r"(\d+) task\(s\) still pending: .*", breach))
    )
    growth = (run["rss_end_kib"] - run["rss_checkpoint_kib"]) / 1024
    checkpoint = max(1, settings["calls"] // 10)
    rows = (
        ("calls (streamed)", f"{run['calls']:,} ({run['streamed']:,})"),
        ("faults injected", f"{sum(run['faults'].values()):,}: {_counts(run['faults'])}"),
        ("successes", f"{run['successes']:,}"),
        ("typed failures", f"{run['calls'] - run['successes']:,}: {_counts(run['failures'])}"),
        (
            "server requests = attempts sent (refused by an open circuit)",
            f"{run['server_requests']:,} = {run['attempts'] - run.get('refused', 0):,} "
            f"({run.get('refused', 0):,})",
        ),
        (
            "retries (most attempts in a call)",
            f"{run['retries']:,} ({run['max_attempts']}): after {_counts(run['retry_causes'])}",
        ),
        (
            "fallback switches (calls answered by another vendor)",
            f"{run.get('switches', 0):,} ({run.get('fallbacks', 0):,}): after "
            f"{_counts(run.get('switch_causes', {}))}",
        ),
        (
            "outage failures; circuit transitions",
            f"{_counts(run.get('outage_failures', {}))}; "
            f"{_counts(run.get('circuit_transitions', {}))}",
        ),
        (
            "failed attempts; failures or retries no injected fault explains",
            f"{run['failed_attempts']:,}; {run['unexplained']:,}",
        ),
        (
            "latency p50 / p99 / max",
            f"{run['p50_ms']:,.0f} / {run['p99_ms']:,.0f} / {run['max_ms']:,.0f} ms",
        ),
        ("spans ended", f"{run['spans']:,}"),
        (
            "event-loop lag p99 / max",
            f"{run['loop_lag_p99_ms']:,.0f} / {run['loop_lag_max_ms']:,.0f} ms",
        ),
        (
            "loopback sockets open before / after closing",
            f"{run['sockets_before_close']} / {run['sockets_after_close']}",
        ),
        ("pending tasks at the end", f"{pending}"),
        (
            f"RSS after {checkpoint:,} / {run['calls']:,} calls",
            f"{run['rss_checkpoint_kib'] / 1024:.1f} / {run['rss_end_kib'] / 1024:.1f} MB "
            f"({growth:+.1f} MB)",
        ),
        ("wall time", f"{run['wall_s']:.1f} s ({run['calls'] / run['wall_s']:.0f} calls/s)"),
        ("breaches", f"{len(breaches):,}"),
    )
    lines = ["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    if breaches:
        kinds = Counter(_breach_kind(breach) for breach in breaches)
        lines += ["", "Breaches by kind (N stands for a call's own numbers):", ""]
        lines += [f"- {count:,} x `{kind}`" for kind, count in kinds.most_common()]
    lines += [
        "",
        f"`{meta['command']}` ({meta['date']}): seed {settings['seed']}, "
        f"{settings['concurrency']} calls in flight, faults on {settings['fault_rate']:.0%} of "
        f"requests; {meta['cpus']} CPUs ({meta['cpu_model']}), CPython {meta['python']}, client "
        f"and server in one process; 1-minute load average "
        f"{meta['load_average_at_start'][0]:.1f} at the start and "
        f"{meta['load_average'][0]:.1f} at the end.",
    ]
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Results], str]] = {
    "run-machine": run_machine,
    "run-tables": run_tables,
    "run-peers": run_peers,
    "decision-figures": decision_figures,
    "goal-import": goal_value("import ashford_llm / import httpx"),
    "goal-bare-in-process": goal_value("bare CPU in-process / floor"),
    "goal-bare-loopback": goal_value("bare CPU loopback / floor"),
    "goal-anthropic-loopback": goal_value("anthropic bare CPU loopback / its floor"),
    "goal-rss": goal_value("RSS after import MiB", "{:.1f} MiB"),
    "goal-stack-in-process": goal_value("stack CPU in-process / floor"),
    "goal-stack-loopback": goal_value("stack CPU loopback / floor"),
    "goal-throughput": goal_value("throughput c=64 / openai SDK"),
    "goal-throughput-aiohttp": goal_value("throughput c=64, aiohttp / openai SDK (stretch)"),
    "goal-cpu-aiohttp": goal_value("CPU loopback, aiohttp / raw httpx (stretch)"),
    "goal-throughput-stretch": goal_value("throughput c=64 / openai SDK (stretch)"),
    "goal-cpu-stretch": goal_value("CPU loopback / raw httpx (stretch)"),
    "goal-stream": goal_value("stream CPU per chunk / floor"),
    "goal-stack-stream": goal_value("stack stream CPU per chunk / floor"),
    "instructions": instructions,
    "instr-bare": instruction_ratio("ashford bare"),
    "instr-anthropic": instruction_ratio("ashford anthropic"),
    "instr-stack": instruction_ratio("ashford stack"),
    "instructions-layers": instructions_layers,
    "layers-stack": instruction_ratio("ashford stack", file="instructions_layers.json"),
    "layers-miss": instruction_ratio(
        "ashford full stack, cache miss", file="instructions_layers.json"
    ),
    "layers-hit": instruction_ratio(
        "ashford full stack, cache hit", file="instructions_layers.json"
    ),
    "instr-stack-batch": instruction_ratio("ashford stack, batch spans"),
    "instr-stack-api": instruction_ratio("ashford stack, OTel API only"),
    "instr-stream-stack": instruction_ratio("ashford stack", stream=True),
    "instr-stream-bare": instruction_ratio("ashford bare", stream=True),
    "instr-stream-anthropic": instruction_ratio("ashford anthropic", stream=True),
    "import-time": import_time,
    "import-ratio": import_ratio,
    "import-ratio-default": import_ratio_default,
    "pool-limits": pool_limits,
    "transport-figures": transport_figures,
    "pool-default-ratio": pool_default_ratio,
    "redis-steady": redis_steady,
    "redis-restart": redis_restart,
    "redis-settled-calls": redis_settled_calls,
    "redis-average-tokens": redis_average_tokens,
    "soak": soak,
}


def loader(results: Path) -> Results:
    """Returns a function reading (once) the named results file under `results`."""
    cache: dict[str, dict[str, Any]] = {}

    def load(name: str) -> dict[str, Any]:
        if name not in cache:
            path = results / name
            if not path.exists():
                raise RenderError(f"missing results file {path.name}")
            cache[name] = json.loads(path.read_text())
        return cache[name]

    return load


def render(text: str, load: Results) -> str:
    """Returns `text` with every results block rendered; RenderError on a bad marker."""
    closed = {match.group(1) for match in BLOCK.finditer(text)}
    for match in OPEN.finditer(text):
        if match.group(1) not in closed:
            raise RenderError(f"results:{match.group(1)} has no closing marker")

    def replace(match: re.Match[str]) -> str:
        name, old = match.group(1), match.group(2)
        if name not in RENDERERS:
            raise RenderError(f"unknown results block {name!r}")
        new = RENDERERS[name](load)
        if old.startswith("\n"):  # a block of its own: blank lines around the table
            new = f"\n\n{new}\n\n"
        return f"<!-- results:{name} -->{new}<!-- /results:{name} -->"

    return BLOCK.sub(replace, text)


def stale_blocks(text: str, load: Results) -> list[str]:
    """Names the blocks of `text` whose content differs from their rendering."""
    old = [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]
    new = [(m.group(1), m.group(2)) for m in BLOCK.finditer(render(text, load))]
    return sorted({name for (name, was), (_, now) in zip(old, new, strict=True) if was != now})


def main(argv: list[str] | None = None) -> int:
    """Rewrites the docs, or with --check reports the stale ones; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    load = loader(args.results)
    status = 0
    for doc in DOCS:
        path = ROOT / doc
        text = path.read_text()
        if args.check:
            stale = stale_blocks(text, load)
            if stale:
                print(f"{doc}: stale {', '.join(stale)}; run benchmarks/render_docs.py")
                status = 1
        else:
            new = render(text, load)
            if new != text:
                path.write_text(new)
                print(f"rendered {doc}")
    return status


if __name__ == "__main__":
    sys.exit(main())
