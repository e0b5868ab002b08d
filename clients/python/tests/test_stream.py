"""stream_run over the WebSocket: constant memory, digests, steps/s."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import simulate_digest
from figures import record
from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario

REQUEST = (AISafetyScenario("sweep_900", seed=900)
           .add_model(name="model", capability_index=900, alignment_score=70, guardrail_coverage=60)
           .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3)).to_request()

# Streams N ticks in a fresh interpreter and reports its peak RSS (VmHWM) and the rate.
PROGRAM = textwrap.dedent("""
    import asyncio, json, sys, time
    from kairos import KairosClient
    url, key, ticks, mode, request = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
    client = KairosClient(url, key)
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    start = time.perf_counter()
    cpu = time.process_time()
    low = 1.0
    if mode == "sync":
        stream = client.stream_run(request, ticks=ticks)
        for step in stream:
            low = min(low, step.stability)
    else:
        async def go():
            global low
            stream = client.astream_run(request, ticks=ticks)
            async for step in stream:
                low = min(low, step.stability)
            return stream
        stream = asyncio.run(go())
    elapsed = time.perf_counter() - start
    print(json.dumps({"kib": hwm(), "seconds": elapsed, "cpu": time.process_time() - cpu, "digest": stream.completion.digest,
                      "ticks": stream.completion.ticks, "low": low}))
""")


def stream_in_subprocess(server, ticks: int, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROGRAM, server.url, server.keys["main"], str(ticks), mode,
                          json.dumps(REQUEST)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_flat(server, small: int, large: int, mode: str) -> None:
    a = stream_in_subprocess(server, small, mode)
    b = stream_in_subprocess(server, large, mode)
    assert a["ticks"] == small and b["ticks"] == large
    assert b["digest"] == simulate_digest(server.binary, REQUEST, large)
    growth_mib = (b["kib"] - a["kib"]) / 1024
    record(f"stream_run ({mode}): {large:,} ticks in {b['seconds']:.1f} s = {large / b['seconds']:,.0f} steps/s "
           f"(client CPU {b['cpu']:.1f} s: {large / b['cpu']:,.0f} steps per CPU-second); "
           f"client peak RSS {a['kib'] / 1024:.1f} MiB at {small:,} ticks, {b['kib'] / 1024:.1f} MiB at {large:,}")
    # Flat: ten times the ticks may not cost more than a few MiB (a list of steps would
    # cost ~1 KiB a step: ~90 MiB here at 10^5).
    assert growth_mib < 6, f"peak RSS grew {growth_mib:.1f} MiB from {small} to {large} ticks"


def test_stream_memory_is_flat_light(server):
    check_flat(server, 2_000, 20_000, "sync")


@pytest.mark.heavy
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_100k_ticks_in_constant_memory(server, mode):
    check_flat(server, 10_000, 100_000, mode)


def test_stream_million(server):
    ticks = int(os.environ.get("KAIROS_STREAM_TICKS", "0") or 0)
    if not ticks:
        pytest.skip("set KAIROS_STREAM_TICKS=N (e.g. 1000000) to stream N ticks")
    check_flat(server, 10_000, ticks, "sync")


def test_breaking_out_closes_the_socket(server):
    client = KairosClient(server.url, server.keys["main"])
    stream = client.stream_run(REQUEST, ticks=500_000)
    for step in stream:
        if step.tick >= 250:
            break
    stream.close()
    assert stream._ws is None and stream.completion is None
    with stream:
        assert list(stream) == []  # a closed stream yields nothing more
    # The client still works, and a fresh stream runs to the end.
    fresh = client.stream_run(REQUEST, ticks=100)
    assert len(list(fresh)) == 100 and fresh.completion.ticks == 100


def test_stream_steps_carry_the_wire_fields(server):
    client = KairosClient(server.url, server.keys["main"])
    steps = list(client.stream_run(REQUEST, ticks=150))
    trace = client.run(REQUEST, ticks=150)
    assert [s.to_wire() for s in steps] == [s.to_wire() for s in trace.steps]
    assert steps[100].move == "capability_jump" and steps[100].t == steps[100].tick
