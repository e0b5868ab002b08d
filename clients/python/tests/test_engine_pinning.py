"""engine_version pins every run to one engine: 1.0.0 gets 1.0.0's digests; an engine the
server does not offer raises EngineVersionError with the versions it does."""
import asyncio

import pytest

from conftest import simulate_digest
from kairos import EngineVersionError, KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario

SCENARIO = (AISafetyScenario("pin", seed=4242)
            .add_model(name="model", capability_index=760, alignment_score=65, guardrail_coverage=55)
            .add_event(120, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.4))


def test_pinned_to_1_0_0(server):
    client = KairosClient(server.url, server.keys["main"], engine_version="1.0.0")
    assert "1.0.0" in client.health().engine_versions
    expected = simulate_digest(server.binary, SCENARIO.to_request(), 600, engine="1.0.0")
    trace = client.run(SCENARIO, ticks=600)
    assert trace.metadata.engine_version == "1.0.0" and trace.digest == expected
    stream = client.stream_run(SCENARIO, ticks=600)
    assert len(list(stream)) == 600 and stream.completion.digest == expected
    sim = client.create_simulation(SCENARIO)
    assert sim.engine_version == "1.0.0"
    client.step(sim.id, 600)
    assert client.get_trace(sim.id).digest == expected
    assert asyncio.run(client.arun(SCENARIO, ticks=600)).digest == expected


def test_every_offered_engine_gives_its_embedded_digest(server):
    offered = KairosClient(server.url).health().engine_versions
    latest = simulate_digest(server.binary, SCENARIO.to_request(), 300)
    unpinned = KairosClient(server.url, server.keys["main"]).run(SCENARIO, ticks=300)
    assert unpinned.digest == latest
    for version in offered:
        trace = KairosClient(server.url, server.keys["main"], engine_version=version).run(SCENARIO, ticks=300)
        assert trace.metadata.engine_version == version
        assert trace.digest == simulate_digest(server.binary, SCENARIO.to_request(), 300, engine=version)


def test_unknown_engine_lists_the_available_ones_everywhere(server):
    client = KairosClient(server.url, server.keys["main"], engine_version="0.0.1")
    offered = client.health().engine_versions
    calls = [lambda: client.run(SCENARIO, ticks=10), lambda: client.create_simulation(SCENARIO),
             lambda: client.run_ndjson(SCENARIO, ticks=10), lambda: list(client.stream_run(SCENARIO, ticks=10)),
             lambda: asyncio.run(client.arun(SCENARIO, ticks=10))]
    for call in calls:
        with pytest.raises(EngineVersionError) as info:
            call()
        assert info.value.requested == "0.0.1" and info.value.available == offered
