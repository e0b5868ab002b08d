"""Every error class of kairos.errors, triggered for real against `kairos serve`."""
from __future__ import annotations

import asyncio
import socket
import uuid

import pytest

import kairos.errors as errors
from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario


def good() -> AISafetyScenario:
    return (AISafetyScenario("ok", seed=1)
            .add_model(name="model", capability_index=500, alignment_score=70, guardrail_coverage=60)
            .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3))


def assert_envelope(e: errors.KairosError, status: int, code: str) -> None:
    assert (e.status, e.code) == (status, code)
    assert e.request_id and e.request_id in str(e)
    assert e.message and f"HTTP {status}" in str(e)


def test_hierarchy_does_not_shadow_builtins():
    assert errors.PermissionDeniedError is not PermissionError
    assert not hasattr(errors, "PermissionError") and not hasattr(errors, "ConnectionError")
    for cls in (errors.AuthenticationError, errors.PermissionDeniedError, errors.NotFoundError, errors.RateLimitError,
                errors.ValidationError, errors.EngineVersionError, errors.IdempotencyError, errors.SimulationError,
                errors.APIConnectionError, errors.ConfigurationError):
        assert issubclass(cls, errors.KairosError)
    assert issubclass(errors.ValidationError, ValueError) and issubclass(errors.DigestMismatchError,
                                                                          errors.APIConnectionError)


def test_authentication_error_for_a_wrong_key(server):
    client = KairosClient(server.url, "krs_" + "x" * 40)
    with pytest.raises(errors.AuthenticationError) as info:
        client.list_simulations()
    assert_envelope(info.value, 401, "UNAUTHORIZED")


def test_authentication_error_for_another_organizations_simulation(server):
    mine = KairosClient(server.url, server.keys["main"]).create_simulation(scenario_id="capability-divergence")
    with pytest.raises(errors.AuthenticationError) as info:
        KairosClient(server.url, server.keys["other"]).get_simulation(mine.id)
    assert_envelope(info.value, 401, "UNAUTHORIZED")


def test_permission_denied_without_the_write_scope(server):
    with pytest.raises(errors.PermissionDeniedError) as info:
        KairosClient(server.url, server.keys["reader"]).run(good(), ticks=10)
    assert_envelope(info.value, 403, "FORBIDDEN")


def test_not_found(server):
    client = KairosClient(server.url, server.keys["main"])
    with pytest.raises(errors.NotFoundError) as info:
        client.get_simulation(str(uuid.uuid4()))
    assert_envelope(info.value, 404, "NOT_FOUND")
    with pytest.raises(errors.NotFoundError):
        client.get_scenario("no-such-scenario")
    with pytest.raises(errors.NotFoundError):
        client.create_from_domain("weather", {"models": []})


def test_validation_error_before_sending_names_every_field(server):
    client = KairosClient(server.url, server.keys["main"])
    bad = (AISafetyScenario("bad", seed=1)
           .add_model(name="model", capability_index=500, alignment_score=170, guardrail_coverage=60)
           .add_event(100, "CAPABILITY_JUMPS", target="modle", magnitude=0.3))
    before = client.list_simulations().total
    with pytest.raises(errors.ValidationError) as info:
        client.run(bad, ticks=500)
    e = info.value
    assert e.status is None and e.request_id is None and e.code == "VALIDATION_ERROR"
    assert [i.path for i in e.issues] == ["input.models[0].alignment_score", "input.events[0].type",
                                          "input.events[0].target"]
    assert 'did you mean "CAPABILITY_JUMP"' in e.issues[1].message and 'did you mean "model"' in e.issues[2].message
    with pytest.raises(errors.ValidationError) as info:
        client.run(good(), ticks=10_001 * 100 + 1)  # over the stream's 10^6 too
    assert [i.path for i in info.value.issues] == ["ticks"]
    assert client.list_simulations().total == before  # nothing reached the server


def test_validation_error_from_the_server_has_paths(server):
    client = KairosClient(server.url, server.keys["main"])
    native = {"seed": 1, "initialState": {"stability": 0.8},
              "agents": [{"id": "a", "policy": {"lambda": 5, "gamma": 0.5},
                          "state": {"capability": 100, "alignment": 0.7, "guardrail": 0.6}}]}
    with pytest.raises(errors.ValidationError) as info:
        client.run(native, ticks=10)
    e = info.value
    assert_envelope(e, 400, "VALIDATION_ERROR")
    assert "scenario.agents[0].policy.lambda" in [i.path for i in e.issues]


def test_engine_version_error_lists_the_available_versions(server):
    client = KairosClient(server.url, server.keys["main"], engine_version="9.9.9")
    offered = client.health().engine_versions
    with pytest.raises(errors.EngineVersionError) as info:
        client.create_simulation(scenario_id="capability-divergence")
    e = info.value
    assert_envelope(e, 400, "ENGINE_VERSION_UNAVAILABLE")
    assert e.requested == "9.9.9" and e.available == offered and len(offered) >= 1
    with pytest.raises(errors.EngineVersionError):
        list(client.stream_run(good(), ticks=20_000))  # the stream's error frame maps the same way


def test_idempotency_error_when_a_key_is_reused_with_another_body(server):
    client = KairosClient(server.url, server.keys["main"])
    key = "kc-test-" + str(uuid.uuid4())
    client._make_key = lambda: key
    first = client.create_simulation(scenario_id="capability-divergence")
    assert client.create_simulation(scenario_id="capability-divergence").id == first.id  # replayed
    # The key's scope is identity + method + path: another body on the same path is refused.
    with pytest.raises(errors.IdempotencyError) as info:
        client.create_simulation({"scenarioId": "capability-divergence", "organizationId": "org_id"})
    e = info.value
    assert_envelope(e, 409, "IDEMPOTENCY_KEY_REUSE")
    assert e.idempotency_key == key


def test_rate_limit_error_carries_retry_after(strict_server):
    client = KairosClient(strict_server.url, strict_server.keys["community"], max_retries=0)
    created = 0
    with pytest.raises(errors.RateLimitError) as info:
        for _ in range(20):
            client.create_simulation(scenario_id="capability-divergence")
            created += 1
    assert created == 10  # the community tier's creates a minute (seed 002)
    e = info.value
    assert_envelope(e, 429, "RATE_LIMITED")
    assert e.retry_after is not None and 0 < e.retry_after <= 60


def test_simulation_error_for_a_payload_over_one_mib(server):
    client = KairosClient(server.url, server.keys["main"])
    agents = [{"id": f"agent-{i:06d}", "policy": {"lambda": 0.3, "gamma": 0.5},
               "state": {"capability": 100, "alignment": 0.7, "guardrail": 0.6}} for i in range(12_000)]
    with pytest.raises(errors.SimulationError) as info:
        client.run({"seed": 1, "initialState": {"stability": 0.8}, "agents": agents}, ticks=1)
    assert_envelope(info.value, 413, "PAYLOAD_TOO_LARGE")


def test_connection_error_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = KairosClient(f"http://127.0.0.1:{port}", "krs_x", max_retries=1, retry_backoff=0.01)
    with pytest.raises(errors.APIConnectionError) as info:
        client.health()
    assert info.value.status is None and "cannot connect" in str(info.value)
    with pytest.raises(errors.APIConnectionError):
        asyncio.run(client.ahealth())
    with pytest.raises(errors.APIConnectionError):
        list(client.stream_run(good(), ticks=10))


def test_configuration_errors():
    for kwargs in ({"url": "ftp://x"}, {"url": "not a url"}, {"timeout": 0}, {"max_retries": -1},
                   {"retry_backoff": -1}, {"engine_version": "1.4"}, {"api_key": "krs_a", "token": "t"}):
        with pytest.raises(errors.ConfigurationError):
            KairosClient(**kwargs)


def test_async_errors_match_the_sync_ones(server):
    async def go() -> None:
        async with KairosClient(server.url, server.keys["reader"]) as client:
            with pytest.raises(errors.PermissionDeniedError):
                await client.arun(good(), ticks=10)
            with pytest.raises(errors.NotFoundError):
                await client.aget_simulation(str(uuid.uuid4()))
            with pytest.raises(errors.PermissionDeniedError):
                async for _ in client.astream_run(good(), ticks=10):
                    pass

    asyncio.run(go())
