"""Every endpoint method, sync and async, against the real server."""
from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from conftest import simulate_digest
from kairos import (Health, KairosClient, Simulation, SimulationEvent, SimulationPage, StepResult, Trace, TraceStep)
from kairos.errors import ValidationError
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario


def scenario(cap: int = 800) -> AISafetyScenario:
    return (AISafetyScenario(f"s{cap}", seed=cap)
            .add_model(name="model", capability_index=cap, alignment_score=70, guardrail_coverage=60)
            .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3))


@pytest.fixture()
def client(server):
    with KairosClient(server.url, server.keys["main"]) as c:
        yield c


def test_environment_fallbacks(kairos_env):
    client = KairosClient()
    assert client.base_url == kairos_env.url + "/v1" and client.api_key == kairos_env.keys["main"]
    assert KairosClient(kairos_env.url + "/v1/").base_url == kairos_env.url + "/v1"
    assert client.health().status


def test_public_routes(client):
    health = client.health()
    assert isinstance(health, Health) and health.status == "ok" and health.engine_versions
    doc = client.openapi()
    assert doc["openapi"].startswith("3.1") and "/simulations/run" in str(doc["paths"])
    assert "<html" in client.docs_page().lower()
    catalog = client.scenarios()
    ids = [s["id"] for s in catalog]
    assert "capability-divergence" in ids
    entry = client.get_scenario("capability-divergence")
    assert entry["id"] == "capability-divergence" and entry["agents"]


def test_create_step_trace_policy_decree_prophecies(client, server):
    sim = client.create_simulation(scenario())
    assert isinstance(sim, Simulation) and sim.tick == 0 and sim.organization_id == "org_id"
    assert client.get_simulation(sim.id).id == sim.id
    step = client.step(sim.id, 40)
    assert isinstance(step, StepResult) and step.ticks == 40
    ack = client.set_agent_policy(sim.id, "model", lambda_=0.7)
    assert isinstance(ack, dict)
    decree = client.submit_decree(sim.id, kind="shock", magnitude=0.2)
    assert decree["simulationId"] == sim.id and decree["tick"] == 40  # ticks 0…39 are computed: the decree applies at 40
    client.step(sim.id, 10)
    trace = client.get_trace(sim.id)
    assert isinstance(trace, Trace) and len(trace.steps) == 50
    assert trace.steps[40].move in ("policy", "shock")
    steps, digest = client.get_trace_ndjson(sim.id)
    assert digest == trace.digest and [s.tick for s in steps] == [s.tick for s in trace.steps]
    assert all(isinstance(s, TraceStep) for s in steps)
    assert isinstance(client.prophecies(sim.id), list)
    # from_tick: only the new steps cross the network, the digest is the body's.
    tail, tail_digest = client.get_trace_ndjson(sim.id, from_tick=45)
    assert tail == steps[45:] and tail_digest != digest
    assert asyncio.run(_atail(server, sim.id, 45)) == (tail, tail_digest)
    partial = client.get_trace(sim.id, from_tick=45)
    assert partial.steps == trace.steps[45:] and partial.digest == tail_digest
    assert client.get_trace_ndjson(sim.id, from_tick=50)[0] == []
    with pytest.raises(ValidationError) as beyond:
        client.get_trace_ndjson(sim.id, from_tick=51)
    assert beyond.value.status == 400 and beyond.value.issues[0].path == "fromTick"
    with pytest.raises(ValidationError) as negative:
        client.get_trace(sim.id, from_tick=-1)
    assert negative.value.status is None
    page = client.list_simulations(limit=5)
    assert isinstance(page, SimulationPage) and page.limit == 5 and page.total >= 1 and len(page) <= 5


async def _atail(server, simulation_id, from_tick):
    async with KairosClient(server.url, server.keys["main"]) as c:
        return await c.aget_trace_ndjson(simulation_id, from_tick=from_tick)


def test_fork_repeats_the_original_and_branches_alone(client, server):
    sim = client.create_simulation(scenario())
    client.step(sim.id, 60)
    client.submit_decree(sim.id, kind="guardrail_upgrade", target="model", magnitude=0.3)
    client.step(sim.id, 90)
    original, digest = client.get_trace_ndjson(sim.id)
    fork = client.fork(sim.id, 30)
    assert isinstance(fork, Simulation) and fork.id != sim.id and fork.tick == 30 and fork.status == "paused"
    assert fork.forked_from is not None and (fork.forked_from.simulation_id, fork.forked_from.tick) == (sim.id, 30)
    assert client.get_simulation(sim.id).forked_from is None
    # The original's decree at the same tick gives the original back, byte for byte.
    client.step(fork.id, 30)
    client.submit_decree(fork.id, kind="guardrail_upgrade", target="model", magnitude=0.3)
    client.step(fork.id, 90)
    assert client.get_trace_ndjson(fork.id)[1] == digest
    # Another decree changes only the branch.
    branch = asyncio.run(_afork(server, sim.id, 60))
    client.submit_decree(branch.id, kind="shock", magnitude=0.5)
    client.step(branch.id, 90)
    steps, branch_digest = client.get_trace_ndjson(branch.id)
    assert branch_digest != digest and [s.tick for s in steps] == [s.tick for s in original]
    assert steps[:60] == original[:60] and steps[60] != original[60]
    assert client.get_trace_ndjson(sim.id)[1] == digest
    with pytest.raises(ValidationError) as bad:
        client.fork(sim.id, 151)
    assert bad.value.status == 400 and bad.value.issues[0].path == "tick"
    with pytest.raises(ValidationError) as local:
        client.fork(sim.id, -1)
    assert local.value.status is None


async def _afork(server, simulation_id, tick):
    async with KairosClient(server.url, server.keys["main"]) as c:
        return await c.afork(simulation_id, tick)


def test_catalog_ids_and_native_scenarios_as_dicts_or_scenario_id(client, server):
    by_kw = client.run(scenario_id="capability-divergence", ticks=200)
    by_dict = client.run({"scenarioId": "capability-divergence"}, ticks=200)
    by_str = client.run("capability-divergence", ticks=200)
    expected = simulate_digest(server.binary, {"scenarioId": "capability-divergence"}, 200)
    assert by_kw.digest == by_dict.digest == by_str.digest == expected
    assert by_kw.metadata.scenario_id == "capability-divergence"
    native = client.get_scenario("capability-divergence")["scenario"]
    by_native = client.run(native, ticks=200)
    assert by_native.digest == expected
    compiled = {"domain": "ai-safety", "input": scenario(300).to_input(), "ticks": 120}
    assert len(client.run(compiled).steps) == 120  # a `kairos compile` line carries its ticks
    created = client.create_from_domain("ai-safety", scenario(300).to_input())
    assert created.tick == 0


def test_run_simulation_and_ndjson(client, server):
    result = client.run_simulation(scenario(), ticks=300)
    assert result.simulation_id == result.trace.metadata.simulation_id and result.engine_version
    sim_id, steps, digest = client.run_ndjson(scenario(), ticks=300)
    assert sim_id and sim_id != result.simulation_id and len(steps) == 300
    assert digest == result.trace.digest == simulate_digest(server.binary, scenario().to_request(), 300)
    body = "".join(s.canonical() + "\n" for s in steps)
    assert "sha256:" + hashlib.sha256(body.encode()).hexdigest() == digest


def test_run_over_10000_ticks_goes_through_the_websocket(client, server):
    trace = client.run(scenario(), ticks=12_000)
    assert len(trace.steps) == 12_000 and trace.metadata.simulation_id
    assert trace.digest == simulate_digest(server.binary, scenario().to_request(), 12_000)
    assert trace.computed_digest() == trace.digest
    assert trace.metadata.engine_version == client.get_simulation(trace.metadata.simulation_id).engine_version


def test_organization_and_usage(client):
    org = client.organization()
    assert org.tier == "strategic" and org.limits
    usage = client.usage()
    assert isinstance(usage, dict) and usage


def test_time_control_and_live_events(client):
    import threading

    sim = client.create_simulation(scenario(900))
    got = []
    errors_seen = []
    connected = threading.Event()

    def listen() -> None:
        try:
            # Heartbeats (every second on this server) tell the test the stream is open.
            for event in client.events(sim.id, include_heartbeats=True):
                if event.type == "heartbeat":
                    connected.set()
                    continue
                got.append(event)
                if event.type == "tick" and event.data["t"] >= 5:
                    break
        except Exception as e:  # pragma: no cover - reported below
            errors_seen.append(e)
            connected.set()

    listener = threading.Thread(target=listen)
    listener.start()
    assert connected.wait(30)
    client.time_control(sim.id, "play", speed=10)
    listener.join(60)
    client.time_control(sim.id, "pause")
    assert not errors_seen and not listener.is_alive()
    assert all(isinstance(e, SimulationEvent) for e in got)
    kinds = [e.type for e in got]
    assert kinds[0] == "simulation:status" and got[0].data["status"] == "playing"
    ticks = [e.data["t"] for e in got if e.type == "tick"]
    assert ticks == list(range(0, 6))
    assert all(e.id and "-" in e.id for e in got)


def test_async_twins(server):
    async def go() -> None:
        async with KairosClient(server.url, server.keys["main"]) as client:
            assert (await client.ahealth()).status == "ok"
            assert (await client.aopenapi())["openapi"]
            assert await client.ascenarios()
            assert (await client.aget_scenario("capability-divergence"))["id"]
            sim = await client.acreate_simulation(scenario_id="capability-divergence")
            await client.astep(sim.id, 20)
            await client.aset_agent_policy(sim.id, (await client.aget_scenario("capability-divergence"))["agents"][0],
                                           gamma=0.6)
            await client.asubmit_decree(sim.id, {"kind": "reinforce", "magnitude": 0.1})
            await client.astep(sim.id, 5)
            trace = await client.aget_trace(sim.id)
            steps, digest = await client.aget_trace_ndjson(sim.id)
            assert len(trace.steps) == 25 and digest == trace.digest
            assert (await client.aget_simulation(sim.id)).tick == 25
            assert isinstance(await client.aprophecies(sim.id), list)
            assert (await client.alist_simulations(limit=2)).limit == 2
            assert (await client.aorganization()).id
            assert isinstance(await client.ausage(), dict)
            result = await client.arun_simulation(scenario(), ticks=50)
            _, nd_steps, nd_digest = await client.arun_ndjson(scenario(), ticks=50)
            assert nd_digest == result.trace.digest
            big = await client.arun(scenario(), ticks=10_500)
            assert len(big.steps) == 10_500 and big.computed_digest() == big.digest
            count = 0
            stream = client.astream_run(scenario(), ticks=2_000)
            async for step in stream:
                count += 1
            assert count == 2_000 and stream.completion.digest == (await client.arun(scenario(), ticks=2_000)).digest
            await client.atime_control(sim.id, "step")
            events = []
            async for event in client.aevents(sim.id, last_event_id="0-0"):
                events.append(event)
                if event.type == "tick" and event.data["t"] >= 10:
                    break
            assert [e.data["t"] for e in events if e.type == "tick"][-1] == 10

    asyncio.run(go())


def test_one_client_across_event_loops(server):
    client = KairosClient(server.url, server.keys["main"])
    for _ in range(2):  # each asyncio.run has its own loop: the client follows
        assert asyncio.run(client.ahealth()).status == "ok"
    assert client.health().status == "ok"
    client.close()


def test_gather_of_100_mixed_calls(server):
    async def go() -> None:
        client = KairosClient(server.url, server.keys["main"])
        calls = []
        for i in range(100):
            calls.append(client.arun(scenario(100 + i), ticks=50) if i % 2 else client.ahealth())
        results = await asyncio.gather(*calls)
        traces = [r for r in results if isinstance(r, Trace)]
        assert len(traces) == 50 and len({t.metadata.simulation_id for t in traces}) == 50
        await client.aclose()

    asyncio.run(go())


def test_bearer_token_instead_of_a_key(server, monkeypatch):
    token = server.token("alice", "org_id")
    monkeypatch.delenv("KAIROS_API_KEY", raising=False)
    monkeypatch.setenv("KAIROS_URL", server.url)
    monkeypatch.setenv("KAIROS_TOKEN", token)
    client = KairosClient()
    assert client.api_key is None and client.token == token
    trace = client.run(scenario(), ticks=30)
    assert client.get_simulation(trace.metadata.simulation_id).organization_id == "org_id"
    assert len(list(client.stream_run(scenario(), ticks=30))) == 30  # the WebSocket upgrade carries it too
    import kairos.errors as errors
    with pytest.raises(errors.AuthenticationError):
        KairosClient(server.url, token=token[:-4] + "AAAA").list_simulations()
