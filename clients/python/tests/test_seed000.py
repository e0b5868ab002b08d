"""Seed 000's code blocks, as written, against a real `kairos serve` (KAIROS_URL, KAIROS_API_KEY)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli, simulate_digest
from figures import record
from kairos import EngineVersionError, KairosClient, RunStream, Trace
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario

BLOCKS = Path(__file__).parent / "seed000"
SEED = REPO / "docs" / "seeds" / "000_dcfe1829a5ca9017.txt"


def block(name: str) -> str:
    return (BLOCKS / name).read_text()


def sweep_scenario(cap: int) -> AISafetyScenario:
    return (AISafetyScenario(f"sweep_{cap}", seed=cap)
            .add_model(name="model", capability_index=cap, alignment_score=70, guardrail_coverage=60)
            .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3))


@pytest.mark.parametrize("name", sorted(p.name for p in BLOCKS.glob("block*.py")))
def test_each_block_is_the_seeds_code(name):
    """Every line of the block is the seed's, in order and contiguous (leading whitespace aside)."""
    seed_lines = [ln.strip() for ln in SEED.read_text().splitlines()]
    lines = [ln.strip() for ln in block(name).splitlines() if ln.strip()]
    starts = [i for i in range(len(seed_lines)) if seed_lines[i:i + len(lines)] == lines]
    assert starts, f"{name} is not a contiguous excerpt of the seed"


def test_block1_constructs_a_client_without_any_request():
    ns: dict = {}
    exec(compile(block("block1_construct.py"), "block1_construct.py", "exec"), ns)
    client = ns["client"]
    assert isinstance(client, KairosClient)
    assert (client.base_url, client.api_key, client.timeout, client.engine_version, client.max_retries,
            client.retry_backoff) == ("https://api.anankelabs.ai/v1", "krs_...", 30.0, "1.4.4", 3, 1.0)
    assert client._http is None and client._ahttp is None  # nothing was opened


def test_block2_pins_an_engine_the_server_lacks_and_gets_the_available_list(kairos_env):
    ns: dict = {"KairosClient": KairosClient}
    exec(compile(block("block2_pin.py"), "block2_pin.py", "exec"), ns)
    client = ns["client"]
    assert client.base_url == kairos_env.url + "/v1" and client.api_key == kairos_env.keys["main"]
    offered = client.health().engine_versions
    assert offered and "1.4.4" not in offered
    with pytest.raises(EngineVersionError) as info:
        client.run(sweep_scenario(550), ticks=10)
    e = info.value
    assert (e.requested, e.available, e.status, e.code) == ("1.4.4", offered, 400, "ENGINE_VERSION_UNAVAILABLE")
    assert e.request_id and "1.4.4" in str(e) and offered[0] in str(e)


def test_block3_runs_eagerly_billed_to_org_id(kairos_env):
    my_scenario = sweep_scenario(640)
    client = KairosClient()
    ns: dict = {"client": client, "my_scenario": my_scenario}
    exec(compile(block("block3_run.py"), "block3_run.py", "exec"), ns)
    trace = ns["trace"]
    assert isinstance(trace, Trace)
    assert len(trace.steps) == 1000 and [s.t for s in trace.steps[:3]] == [trace.steps[0].tick, trace.steps[1].tick,
                                                                          trace.steps[2].tick]
    assert trace.digest == simulate_digest(kairos_env.binary, my_scenario.to_request(), 1000)
    sim = client.get_simulation(trace.metadata.simulation_id)
    assert sim.organization_id == "org_id"


def test_block4_streams_100k_ticks_and_reports_danger(kairos_env, capsys):
    scenario = sweep_scenario(900)
    client = KairosClient()
    streams = []
    original = client.stream_run

    def recording_stream_run(*args, **kwargs) -> RunStream:
        stream = original(*args, **kwargs)
        streams.append(stream)
        return stream

    client.stream_run = recording_stream_run  # type: ignore[method-assign]
    started = time.perf_counter()
    exec(compile(block("block4_stream.py"), "block4_stream.py", "exec"), {"client": client, "scenario": scenario})
    elapsed = time.perf_counter() - started
    printed = capsys.readouterr().out.splitlines()
    (stream,) = streams
    assert stream.completion is not None and stream.completion.ticks == 100_000
    record(f"seed 000 stream_run block: 100 000 ticks in {elapsed:.1f} s ({100_000 / elapsed:,.0f} steps/s)")
    # The same run on the embedded engine: the digest and the danger ticks.
    ndjson = subprocess.run([kairos_env.binary, "simulate", "-", "--ticks", "100000", "--output", "ndjson"],
                            input=json.dumps(scenario.to_request()), capture_output=True, text=True, check=True).stdout
    lines = ndjson.splitlines()
    assert len(lines) == 100_000
    import hashlib
    assert stream.completion.digest == "sha256:" + hashlib.sha256(ndjson.encode()).hexdigest()
    danger = [f"Danger at tick {json.loads(ln)['tick']}" for ln in lines
              if json.loads(ln)["state"]["stability"] < 0.1]
    assert danger, "the scenario was chosen to reach danger"
    assert printed == danger


def parse_sweep(text: str, pattern: str) -> dict:
    rows = {}
    for line in text.splitlines():
        m = re.search(pattern, line)
        if m:
            rows[int(m.group("cap"))] = (m.group("phase"), float(m.group("stability")), int(m.group("losses")))
    return rows


def test_block5_capability_sweep_matches_the_krs_example(kairos_env):
    env = {**os.environ, "KAIROS_URL": kairos_env.url, "KAIROS_API_KEY": kairos_env.keys["main"]}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(BLOCKS / "block5_sweep.py")], capture_output=True, text=True, env=env,
                         timeout=300)
    python_s = time.perf_counter() - started
    assert out.returncode == 0, out.stderr
    started = time.perf_counter()
    krs = run_cli(kairos_env.binary, "run", "examples/capability_sweep.krs")
    krs_s = time.perf_counter() - started
    record(f"capability sweep (51 × 500 ticks): seed 000 Python block {python_s:.2f} s (process, asyncio.gather "
           f"over HTTP) vs `kairos run examples/capability_sweep.krs` {krs_s:.2f} s (embedded)")
    ours = parse_sweep(out.stdout, r"cap=\s*(?P<cap>\d+) phase=(?P<phase>\w+)\s+stability=(?P<stability>[\d.]+) "
                                   r"losses=(?P<losses>\d+)")
    theirs = parse_sweep(krs, r"cap=(?P<cap>\d+) phase=(?P<phase>\w+) stability=(?P<stability>[\d.]+) "
                              r"losses=(?P<losses>\d+)")
    assert sorted(ours) == list(range(100, 1001, 18)) and len(ours) == 51
    assert sorted(theirs) == sorted(ours)
    for cap in ours:
        phase, stability, losses = ours[cap]
        k_phase, k_stability, k_losses = theirs[cap]
        assert (phase, losses) == (k_phase, k_losses), cap
        assert abs(stability - k_stability) <= 0.00005 + 1e-12, cap  # both rounded to 4 places
