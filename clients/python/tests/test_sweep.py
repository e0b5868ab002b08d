"""The capability sweep with asyncio.gather: the same values and digests as
examples/capability_sweep.krs on the embedded engine."""
from __future__ import annotations

import asyncio
import functools
import re
import shutil
import tempfile
import time
from pathlib import Path

from conftest import REPO, run_cli
from figures import record
from kairos import KairosClient, Trace
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario

CAPS = list(range(100, 1001, 18))


@functools.lru_cache(maxsize=None)
def embedded_sweep(binary: str) -> dict:
    """Runs the example itself, plus one line a trace with its digest and exact figures."""
    tmp = tempfile.mkdtemp(prefix="kairos-sweep-")
    try:
        script = Path(tmp) / "capability_sweep_digests.krs"
        script.write_text((REPO / "examples" / "capability_sweep.krs").read_text() + "\n"
                          'for t in traces {\n'
                          '  print("row {t.seed} {t.digest} {t.final_phase} {t.mean_stability} {len(t.losses)} '
                          '{len(t.steps)}")\n'
                          '}\n')
        out = run_cli(binary, "run", str(script))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = {}
    for m in re.finditer(r"^row (\d+) (sha256:[0-9a-f]{64}) (\w+) (\S+) (\d+) (\d+)$", out, re.M):
        rows[int(m.group(1))] = (m.group(2), m.group(3), float(m.group(4)), int(m.group(5)), int(m.group(6)))
    return rows


def scenario(cap: int) -> AISafetyScenario:
    return (AISafetyScenario(f"sweep_{cap}", seed=cap)
            .add_model(name="model", capability_index=cap, alignment_score=70, guardrail_coverage=60)
            .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3))


def test_async_sweep_equals_the_embedded_engine(server):
    expected = embedded_sweep(server.binary)
    assert sorted(expected) == CAPS

    async def sweep() -> list:
        async with KairosClient(server.url, server.keys["main"]) as client:
            return await asyncio.gather(*(client.arun(scenario(cap), ticks=500) for cap in CAPS))

    started = time.perf_counter()
    traces = asyncio.run(sweep())
    elapsed = time.perf_counter() - started
    record(f"asyncio.gather sweep in-process: 51 runs × 500 ticks in {elapsed:.2f} s")
    assert len(traces) == 51
    for cap, trace in zip(CAPS, traces):
        assert isinstance(trace, Trace)
        digest, phase, mean, losses, steps = expected[cap]
        assert trace.digest == digest, cap
        assert trace.computed_digest() == digest, cap
        assert (trace.final_phase(), len(trace.basin_losses()), len(trace.steps)) == (phase, losses, steps), cap
        assert trace.mean_stability() == mean, cap  # bit for bit: summed in order as the engine does
        assert trace.metadata.seed == cap and trace.metadata.engine_version


def test_sync_run_of_the_same_scenario_matches(server):
    expected = embedded_sweep(server.binary)
    with KairosClient(server.url, server.keys["main"]) as client:
        for cap in (100, 550, 1000):
            trace = client.run(scenario(cap), ticks=500)
            assert trace.digest == expected[cap][0]
