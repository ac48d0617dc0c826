"""Fresh-process measurements, run by `run.py` as a child: import cost and long-run memory.

`probe.py import STATEMENT [CLIENT BASE_URL]` runs STATEMENT first thing (only a few tiny stdlib
modules are loaded before it), then prints JSON with the monotonic time the import finished
(the parent compares it with the time it started the process: CLOCK_MONOTONIC is system-wide),
the peak RSS, and, given a client and the loopback URL, when its first call had returned.

`probe.py soak CLIENT CALLS` makes CALLS in-process calls and prints the resident set size
after a 1,000-call warm-up and at the end.
"""

import json
import resource
import sys
import time


def _rss_kib() -> int:
    """Returns the current resident set size in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _peak_kib() -> int:
    """Returns the peak resident set size in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def probe_import(statement: str, client: str | None, base_url: str | None) -> None:
    """Imports, then optionally builds a client and makes one call; prints timings."""
    exec(statement)
    imported = time.monotonic()
    result = {"imported": imported, "peak_rss_kib": _peak_kib()}
    if client is not None:
        import asyncio

        from clients import CLIENTS

        async def first_call() -> None:
            bench = CLIENTS[client][0](base_url)
            await bench.complete()
            result["first_call"] = time.monotonic()
            await bench.aclose()

        asyncio.run(first_call())
    print(json.dumps(result))


def probe_soak(client: str, calls: int) -> None:
    """Makes `calls` in-process calls; prints RSS after the warm-up and at the end."""
    import asyncio
    import gc

    from clients import CLIENTS

    warmup = min(1000, calls // 2)

    async def soak() -> dict[str, float]:
        bench = CLIENTS[client][0](None)
        # One pass of the event loop per call, as real I/O gives (see run.py's _sequential).
        for _ in range(warmup):
            await bench.complete()
            await asyncio.sleep(0)
        gc.collect()
        warm = _rss_kib()
        started = time.process_time()
        for _ in range(calls - warmup):
            await bench.complete()
            await asyncio.sleep(0)
        cpu = time.process_time() - started
        gc.collect()
        end = _rss_kib()
        await bench.aclose()
        return {"calls": calls, "rss_warm_kib": warm, "rss_end_kib": end, "cpu_s": cpu}

    print(json.dumps(asyncio.run(soak())))


if __name__ == "__main__":
    if sys.argv[1] == "import":
        probe_import(
            sys.argv[2],
            sys.argv[3] if len(sys.argv) > 3 else None,
            sys.argv[4] if len(sys.argv) > 4 else None,
        )
    else:
        probe_soak(sys.argv[2], int(sys.argv[3]))
