"""The client's surface, without a server: the seed's signature, async twins, typing."""
import inspect
from pathlib import Path

import pytest

import kairos
from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario


def test_constructor_signature_is_the_seeds():
    params = inspect.signature(KairosClient.__init__).parameters
    assert [(n, p.default) for n, p in params.items()][1:7] == [
        ("url", None), ("api_key", None), ("timeout", 30.0), ("engine_version", None), ("max_retries", 3),
        ("retry_backoff", 1.0)]


def test_every_method_has_an_async_twin_and_a_docstring():
    public = {n: m for n, m in inspect.getmembers(KairosClient, inspect.isfunction) if not n.startswith("_")}
    sync = [n for n in public if not (n.startswith("a") and n[1:] in public) and n != "aclose"]
    assert "run" in sync and "stream_run" in sync and "events" in sync and len(sync) >= 22
    for name in sync:
        twin = public.get("a" + name) or (public.get("aclose") if name == "close" else None)
        assert twin is not None, f"{name} has no async twin"
        assert inspect.iscoroutinefunction(twin) or inspect.isasyncgenfunction(twin) or name == "stream_run", name
        assert public[name].__doc__ and twin.__doc__, name


def test_package_is_typed():
    assert (Path(kairos.__file__).parent / "py.typed").exists()


def test_env_fallbacks_and_url_forms(monkeypatch):
    monkeypatch.setenv("KAIROS_URL", "http://example.invalid:9000/")
    monkeypatch.setenv("KAIROS_API_KEY", "krs_env")
    c = KairosClient()
    assert (c.base_url, c.api_key, c.token) == ("http://example.invalid:9000/v1", "krs_env", None)
    assert KairosClient("https://h/v1").base_url == "https://h/v1"
    monkeypatch.delenv("KAIROS_URL")
    monkeypatch.delenv("KAIROS_API_KEY")
    monkeypatch.setenv("KAIROS_TOKEN", "jwt")
    c = KairosClient()
    assert (c.base_url, c.api_key, c.token) == ("http://127.0.0.1:8080/v1", None, "jwt")


def test_builder_is_immutable_and_serialises_the_domain_input():
    base = AISafetyScenario("b", seed=3).add_model(name="m", capability_index=10, alignment_score=50,
                                                    guardrail_coverage=40, lambda_=0.2)
    a = base.add_event(5, AISafetyEventType.MORATORIUM, ticks=20)
    b = base.add_event(7, "INCIDENT", magnitude=0.5)
    assert len(base.events) == 0 and len(a.events) == len(b.events) == 1
    assert a.to_request() == {"domain": "ai-safety", "input": {
        "seed": 3, "models": [{"name": "m", "capability_index": 10, "alignment_score": 50, "guardrail_coverage": 40,
                               "lambda": 0.2}],
        "events": [{"tick": 5, "type": "MORATORIUM", "ticks": 20}]}}
    with pytest.raises(kairos.ValidationError) as info:
        base.add_event(5, AISafetyEventType.MORATORIUM, magnitude=0.5).validate()
    assert [str(i) for i in info.value.issues] == ["input.events[0].magnitude: not a field of MORATORIUM"]
