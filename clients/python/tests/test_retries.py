"""Retries, idempotency keys, SSE reconnection and digest checks against a fault-injecting
proxy (tests/faultproxy.py) in front of the real server."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

import kairos.errors as errors
from faultproxy import CutStream, DropAfterForward, DropBeforeForward, FaultProxy, Status, Tamper
from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario


def envelope(code: str, message: str = "injected") -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": None, "requestId": "req_fault"}}).encode()


@pytest.fixture()
def proxy(server):
    p = FaultProxy(server.host, server.port)
    yield p
    p.close()


def client_for(proxy: FaultProxy, server, **kw) -> KairosClient:
    kw.setdefault("retry_backoff", 0.05)
    return KairosClient(proxy.url, server.keys["main"], **kw)


def scenario(cap: int = 500) -> AISafetyScenario:
    return (AISafetyScenario(f"s{cap}", seed=cap)
            .add_model(name="model", capability_index=cap, alignment_score=70, guardrail_coverage=60)
            .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3))


def test_502_and_503_are_retried_with_the_same_idempotency_key(proxy, server):
    proxy.add(Status(code=503, path="/v1/simulations/run"), Status(code=502, path="/v1/simulations/run"))
    trace = client_for(proxy, server).run(scenario(), ticks=50)
    assert len(trace.steps) == 50
    posts = [h for m, p, h in proxy.requests if m == "POST"]
    assert len(posts) == 3
    keys = {h.get("idempotency-key") for h in posts}
    assert len(keys) == 1 and next(iter(keys)).startswith("kc-")


def test_backoff_is_exponential_with_bounded_jitter(proxy, server):
    client = client_for(proxy, server, retry_backoff=0.2)
    client._random = lambda: 0.0
    proxy.add(Status(code=503), Status(code=503))
    started = time.perf_counter()
    client.health()
    low = time.perf_counter() - started
    assert 0.6 <= low < 2.5  # 0.2 + 0.4 (upper bound loose: a shared machine)
    client._random = lambda: 0.999
    proxy.add(Status(code=503), Status(code=503))
    started = time.perf_counter()
    client.health()
    high = time.perf_counter() - started
    assert 1.0 <= high < 3.0  # (0.2 + 0.2) + (0.4 + 0.2): the jitter adds up to 0.4


def test_429_waits_retry_after(proxy, server):
    proxy.add(Status(code=429, headers={"Retry-After": "1"}, body=envelope("RATE_LIMITED")))
    client = client_for(proxy, server, retry_backoff=0.0)
    started = time.perf_counter()
    assert client.list_simulations(limit=1).limit == 1
    assert time.perf_counter() - started >= 1.0


def test_retries_run_out(proxy, server):
    client = client_for(proxy, server, max_retries=2)
    proxy.add(*[Status(code=503, body=envelope("INTERNAL_ERROR", "down")) for _ in range(3)])
    with pytest.raises(errors.SimulationError) as info:
        client.health()
    assert info.value.status == 503 and len(proxy.requests) == 3
    proxy.reset()
    proxy.add(*[Status(code=429, headers={"Retry-After": "0.1"}, body=envelope("RATE_LIMITED")) for _ in range(3)])
    with pytest.raises(errors.RateLimitError) as info:
        client.health()
    assert info.value.retry_after == 0.1 and len(proxy.requests) == 3
    proxy.reset()
    proxy.add(Status(code=500, body=envelope("INTERNAL_ERROR")))
    with pytest.raises(errors.SimulationError):
        client.health()
    assert len(proxy.requests) == 1  # 500 is not retried


def test_a_create_whose_connection_dropped_is_replayed_not_duplicated(proxy, server):
    client = client_for(proxy, server)
    before = client.list_simulations(limit=1).total
    proxy.add(DropAfterForward(method="POST", path="/v1/simulations"))
    sim = client.create_simulation(scenario_id="capability-divergence")
    assert client.list_simulations(limit=1).total == before + 1
    posts = [h for m, p, h in proxy.requests if m == "POST"]
    assert len(posts) == 2 and posts[0]["idempotency-key"] == posts[1]["idempotency-key"]
    assert client.get_simulation(sim.id).id == sim.id


def test_without_idempotency_keys_a_dropped_create_is_not_retried(proxy, server):
    client = client_for(proxy, server, idempotency_keys=False)
    before = client.list_simulations(limit=1).total
    proxy.add(DropAfterForward(method="POST", path="/v1/simulations"))
    with pytest.raises(errors.APIConnectionError):
        client.create_simulation(scenario_id="capability-divergence")
    posts = [h for m, p, h in proxy.requests if m == "POST"]
    assert len(posts) == 1 and "idempotency-key" not in posts[0]
    assert client.list_simulations(limit=1).total == before + 1  # it was executed, once


def test_dropped_gets_are_retried(proxy, server):
    proxy.add(DropBeforeForward(method="GET"), DropBeforeForward(method="GET"))
    assert client_for(proxy, server).health().status
    assert len(proxy.requests) == 3


def test_409_in_progress_is_retried_but_key_reuse_is_not(proxy, server):
    client = client_for(proxy, server)
    proxy.add(Status(code=409, path="/v1/simulations", body=envelope("IDEMPOTENCY_REQUEST_IN_PROGRESS")))
    assert client.create_simulation(scenario_id="capability-divergence").id
    proxy.reset()
    proxy.add(Status(code=409, path="/v1/simulations", body=envelope("IDEMPOTENCY_KEY_REUSE")))
    with pytest.raises(errors.IdempotencyError):
        client.create_simulation(scenario_id="capability-divergence")
    assert len(proxy.requests) == 1


def test_a_tampered_trace_fails_its_digest(proxy, server):
    proxy.add(Tamper(path="/v1/simulations/run", old=b'"move":"idle"', new=b'"move":"idla"'))
    with pytest.raises(errors.DigestMismatchError) as info:
        client_for(proxy, server).run(scenario(), ticks=20)
    assert info.value.expected != info.value.computed


def test_a_refused_websocket_upgrade_is_retried(proxy, server):
    proxy.add(Status(code=503, path="/v1/simulations/run/stream"))
    stream = client_for(proxy, server).stream_run(scenario(), ticks=300)
    steps = list(stream)
    assert len(steps) == 300 and stream.completion is not None
    upgrades = [p for m, p, h in proxy.requests if p.endswith("/run/stream")]
    assert len(upgrades) == 2


def test_events_reconnect_with_last_event_id_and_lose_nothing(proxy, server):
    client = client_for(proxy, server)
    sim = client.create_simulation(scenario(700))
    client.step(sim.id, 30)
    # Cut the stream after 7 events, then after 5 more: the client reconnects twice.
    proxy.add(CutStream(path=f"/v1/simulations/{sim.id}/events", events=7),
              CutStream(path=f"/v1/simulations/{sim.id}/events", events=5))
    ticks = []
    ids = []
    for event in client.events(sim.id, last_event_id="0-0"):
        assert event.type != "heartbeat"  # absorbed (this server sends one a second)
        ids.append(event.id)
        if event.type == "tick":
            ticks.append(event.data["t"])
        if ticks and ticks[-1] >= 29:
            break
    assert len(ids) == len(set(ids)) and all(i is not None for i in ids)
    assert ticks == list(range(ticks[0], 30)) and ticks[0] <= 1
    gets = [h for m, p, h in proxy.requests if p.endswith("/events")]
    assert len(gets) == 3
    assert gets[0]["last-event-id"] == "0-0"
    # Each reconnect resumes after the last event delivered (heartbeats, every second here,
    # count towards the cut but are not delivered).
    resumed = [ids.index(h["last-event-id"]) for h in gets[1:]]
    assert resumed[0] < resumed[1] and resumed[0] <= 6 and resumed[1] <= 11


def test_async_gather_survives_faults(proxy, server):
    proxy.add(*[Status(code=503, path="/v1/simulations/run") for _ in range(10)],
              Status(code=429, path="/v1/simulations/run", headers={"Retry-After": "0.2"}, body=envelope("RATE_LIMITED")))

    async def go() -> list:
        async with client_for(proxy, server) as client:
            return await asyncio.gather(*(client.arun(scenario(100 + 10 * i), ticks=100) for i in range(60)))

    traces = asyncio.run(go())
    assert len(traces) == 60 and all(len(t.steps) == 100 for t in traces)
    assert len({t.metadata.simulation_id for t in traces}) == 60
    posts = [h for m, p, h in proxy.requests if m == "POST"]
    statuses = sorted(st for m, p, st in proxy.answers if m == "POST")
    # 60 runs + 11 faults; a run the server answers with 409 IN_PROGRESS (its own retry
    # racing the first attempt) is retried too, with the same key: one key a run.
    assert len(posts) >= 71, statuses
    assert len({h["idempotency-key"] for h in posts}) == 60, statuses
    assert statuses.count(503) >= 10 and statuses.count(429) >= 1 and statuses.count(201) + statuses.count(200) >= 60
