"""``KairosClient``: every endpoint of the Kairos REST API, sync and async (``a``-prefixed).

The Swift SDK (``Sources/KairosClient``, docs/client.md) is the model: the same retries,
errors, idempotency keys, digest checks and WebSocket/SSE behaviour.
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import re
import time
import uuid
from typing import (Any, AsyncIterator, Callable, Dict, Generator, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)
from urllib.parse import quote, urlsplit

import httpx

from . import __version__
from ._canonical import TraceDigest, canonical_json, canonical_step
from ._sse import SSEParser
from ._validation import MAX_STREAM_TICKS, MAX_TICKS_PER_REQUEST, check_request, check_ticks
from .domains.ai_safety import AISafetyScenario
from .errors import (APIConnectionError, APITimeoutError, ConfigurationError, DigestMismatchError, EngineVersionError,
                     KairosError, ValidationError, ValidationIssue, error_from_response)
from .models import (Health, Organization, RunResult, Simulation, SimulationEvent, SimulationPage, StepResult,
                     StreamCompletion, Trace, TraceMetadata, TraceStep)

__all__ = ["KairosClient", "RunStream", "AsyncRunStream", "ScenarioLike", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = f"kairos-python-sdk/{__version__}"
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_MAX_BACKOFF = 60.0
# Steps the stream asks for in one frame (the run request's ``stepsPerFrame``).
STEPS_PER_FRAME = 256
_MAX_FRAME = 1 << 22

#: What ``run``/``stream_run``/``create_simulation`` take: an ``AISafetyScenario``; a native
#: scenario dict (``{"seed", "agents", "initialState", …}``); a request-shaped dict
#: (``{"scenarioId": …}``, ``{"scenario": …}``, ``{"domain": "ai-safety", "input": …}``, as
#: ``kairos compile`` prints, whose ``ticks``, ``engineVersion`` and ``organizationId`` are defaults); or a
#: catalog id string.
ScenarioLike = Union[AISafetyScenario, Mapping[str, Any], str]

_SOURCE_KEYS = ("scenarioId", "scenario", "domain")


class _Call:
    __slots__ = ("method", "path", "query", "body", "accept", "engine")

    def __init__(self, method: str, path: str, *, query: Optional[Sequence[Tuple[str, str]]] = None,
                 body: Any = None, accept: str = "application/json", engine: Optional[str] = None) -> None:
        self.method = method
        self.path = path
        self.query = list(query or [])
        self.body = body
        self.accept = accept
        self.engine = engine


class _Answer:
    __slots__ = ("status", "headers", "content")

    def __init__(self, status: int, headers: httpx.Headers, content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    @property
    def request_id(self) -> Optional[str]:
        return self.headers.get("x-request-id")

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as e:
            raise APIConnectionError(f"the server's answer is not JSON: {e}", status=self.status,
                                     request_id=self.request_id) from None


_Flow = Generator[_Call, _Answer, Any]


def _retry_after(headers: Any) -> Optional[float]:
    text = headers.get("retry-after") if headers is not None else None
    if text is None:
        return None
    try:
        seconds = float(str(text).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 and seconds != float("inf") else None


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


class _RequestSource:
    """A scenario argument resolved: the members naming it, and the defaults it carries."""

    __slots__ = ("members", "ticks", "engine", "organization_id", "is_domain", "seed", "scenario_id")

    def __init__(self, scenario: Optional[ScenarioLike], scenario_id: Optional[str]) -> None:
        self.ticks: Optional[int] = None
        self.engine: Optional[str] = None
        self.organization_id: Optional[str] = None
        self.seed: Optional[int] = None
        self.scenario_id: Optional[str] = None
        if scenario is not None and scenario_id is not None:
            raise ValidationError([ValidationIssue("", "give a scenario or scenario_id, not both")])
        if scenario_id is not None:
            scenario = {"scenarioId": scenario_id}
        if scenario is None:
            raise ValidationError([ValidationIssue("", "provide exactly one of scenarioId, scenario, or domain with input")])
        if isinstance(scenario, AISafetyScenario):
            self.members: Dict[str, Any] = scenario.to_request()
            self.seed = scenario.seed if isinstance(scenario.seed, int) else None
        elif isinstance(scenario, str):
            self.members = {"scenarioId": scenario}
        elif hasattr(scenario, "to_request") and callable(getattr(scenario, "to_request")):
            self.members = dict(scenario.to_request())  # type: ignore[union-attr]
        elif isinstance(scenario, Mapping):
            if any(k in scenario for k in _SOURCE_KEYS):
                self.members = {k: v for k, v in scenario.items() if k not in ("ticks", "engineVersion", "organizationId")}
                t = scenario.get("ticks")
                self.ticks = t if isinstance(t, int) and not isinstance(t, bool) else None
                e = scenario.get("engineVersion")
                self.engine = e if isinstance(e, str) else None
                o = scenario.get("organizationId")
                self.organization_id = o if isinstance(o, str) else None
            else:
                self.members = {"scenario": dict(scenario)}
        else:
            raise ValidationError([ValidationIssue("", f"cannot run a {type(scenario).__name__}: give an AISafetyScenario, "
                                                       "a scenario dict, a request dict or a catalog id")])
        sid = self.members.get("scenarioId")
        self.scenario_id = sid if isinstance(sid, str) else None
        if self.seed is None:
            inner = self.members.get("scenario") if "scenario" in self.members else self.members.get("input")
            s = inner.get("seed") if isinstance(inner, Mapping) else None
            self.seed = s if isinstance(s, int) and not isinstance(s, bool) else None
        self.is_domain = "domain" in self.members

    def body(self, ticks: Optional[int], organization_id: Optional[str], engine: Optional[str]) -> Dict[str, Any]:
        body = dict(self.members)
        if ticks is not None:
            body["ticks"] = ticks
        organization = organization_id if organization_id is not None else self.organization_id
        if organization is not None:
            body["organizationId"] = organization
        if engine is not None:
            body["engineVersion"] = engine
        return body


def _checked_trace(data: Any, request_id: Optional[str]) -> Trace:
    """A trace from its JSON whose steps hash to ``metadata.digest``."""
    try:
        meta = data["metadata"]
        raw_steps = data["steps"]
        digest = TraceDigest()
        steps = []
        for s in raw_steps:
            digest.add_line(canonical_step(s))
            steps.append(TraceStep.from_wire(s))
        expected = meta["digest"]
        metadata = TraceMetadata(meta.get("simulationId"), meta.get("scenarioId"), meta.get("engineVersion"),
                                 meta.get("seed"), meta.get("ticks", len(steps)), expected)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise APIConnectionError(f"the server's answer is not a valid trace ({type(e).__name__}: {e})",
                                 request_id=request_id) from None
    computed = digest.hexdigest()
    if computed != expected:
        raise DigestMismatchError(f"the trace's steps do not match its digest ({expected}, computed {computed})",
                                  expected=expected, computed=computed, request_id=request_id)
    return Trace(metadata, data.get("initialState"), steps)


def _ndjson_steps(answer: _Answer) -> Tuple[List[TraceStep], str]:
    steps: List[TraceStep] = []
    digest = TraceDigest()
    for number, line in enumerate(answer.content.split(b"\n")[:-1] if answer.content.endswith(b"\n")
                                  else answer.content.split(b"\n"), start=1):
        if not line:
            continue
        digest.add_line(line)
        try:
            steps.append(TraceStep.from_wire(json.loads(line)))
        except (ValueError, KeyError, TypeError) as e:
            raise APIConnectionError(f"line {number} of the NDJSON trace is not a step ({e})",
                                     request_id=answer.request_id) from None
    return steps, digest.hexdigest()


class KairosClient:
    """The Kairos API client (seed 000 "KairosClient Reference").

    ::

        from kairos import KairosClient
        with KairosClient() as client:                 # KAIROS_URL, KAIROS_API_KEY
            trace = client.run(scenario_id="capability-divergence", ticks=500)
            print(trace.final_phase(), trace.mean_stability(), len(trace.basin_losses()), trace.digest)

    Every method has an ``async`` twin with an ``a`` prefix (``arun``, ``astream_run``,
    ``aevents``, …) on the same client, safe under ``asyncio.gather`` of many calls.

    Retries: 429 (after ``Retry-After`` seconds, else the backoff), 502, 503 and 409
    IDEMPOTENCY_REQUEST_IN_PROGRESS are retried up to ``max_retries`` times, waiting
    ``retry_backoff × 2ⁿ`` seconds (at most 60) plus up to ``retry_backoff`` of random
    jitter. Connection errors are retried for GET and PUT, and for a POST only because it
    carries an ``Idempotency-Key`` (every POST does by default, the same key on each retry,
    so the server replays the first answer instead of creating a second simulation). With
    ``idempotency_keys=False`` a POST whose connection failed is never sent again.

    :param url: the server (``https://host``, ``http://127.0.0.1:8080``, with or without
        ``/v1``); default ``KAIROS_URL``, else ``http://127.0.0.1:8080``.
    :param api_key: ``krs_…``; default ``KAIROS_API_KEY``.
    :param timeout: seconds each request attempt may take.
    :param engine_version: pins every simulation created or run to this engine
        (``MAJOR.MINOR.PATCH``); a version the server does not offer raises
        :class:`~kairos.errors.EngineVersionError` listing the ones it does.
    :param max_retries: retries of transient failures (see above).
    :param retry_backoff: base delay in seconds of the exponential backoff.
    :param token: a bearer JWT instead of an API key (default ``KAIROS_TOKEN`` when no key).
    :param idempotency_keys: whether every POST carries an ``Idempotency-Key``.
    :raises ConfigurationError: an unusable URL, timeout, retry setting or engine version.
    """

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, timeout: float = 30.0,
                 engine_version: Optional[str] = None, max_retries: int = 3, retry_backoff: float = 1.0, *,
                 token: Optional[str] = None, idempotency_keys: bool = True) -> None:
        self.base_url = self._api_root(url if url is not None else (_env("KAIROS_URL") or DEFAULT_URL))
        if api_key is not None and token is not None:
            raise ConfigurationError("give an API key or a token, not both (the API takes exactly one)")
        self.api_key = api_key if api_key is not None else (_env("KAIROS_API_KEY") if token is None else None)
        self.token = token if token is not None else (_env("KAIROS_TOKEN") if self.api_key is None else None)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise ConfigurationError("timeout must be a positive number of seconds")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError("max_retries must be an integer, 0 or more")
        if (isinstance(retry_backoff, bool) or not isinstance(retry_backoff, (int, float))
                or not 0 <= retry_backoff < float("inf")):
            raise ConfigurationError("retry_backoff must be 0 or more seconds")
        if engine_version is not None and (not isinstance(engine_version, str) or not _SEMVER.match(engine_version)):
            raise ConfigurationError(f'engine version "{engine_version}" is not MAJOR.MINOR.PATCH')
        self.timeout = float(timeout)
        self.engine_version = engine_version
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.idempotency_keys = idempotency_keys
        # Test hooks (like the Swift client's Hooks): the jitter's randomness and the keys.
        self._random: Callable[[], float] = random.random
        self._make_key: Callable[[], str] = lambda: "kc-" + str(uuid.uuid4())
        self._http: Optional[httpx.Client] = None
        self._ahttp: Optional[httpx.AsyncClient] = None
        self._ahttp_loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed = False

    def __repr__(self) -> str:
        return (f"KairosClient(url={self.base_url!r}, engine_version={self.engine_version!r}, "
                f"max_retries={self.max_retries}, timeout={self.timeout})")

    @staticmethod
    def _api_root(url: str) -> str:
        """``http://h:p``, ``http://h:p/``, ``http://h:p/v1`` → ``http://h:p/v1``."""
        if not isinstance(url, str):
            raise ConfigurationError(f"{url!r} is not an http:// or https:// URL")
        text = url.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f'"{url}" is not an http:// or https:// URL')
        if not text.endswith("/v1"):
            text += "/v1"
        return text

    # ------------------------------------------------------------------ lifecycle

    def _headers(self) -> Dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if self.api_key:
            headers["X-Api-Key"] = self.api_key
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def _sync_http(self) -> httpx.Client:
        if self._closed:
            raise ConfigurationError("the client is closed")
        if self._http is None:
            self._http = httpx.Client(headers=self._headers(), timeout=self.timeout)
        return self._http

    def _async_http(self) -> httpx.AsyncClient:
        if self._closed:
            raise ConfigurationError("the client is closed")
        loop = asyncio.get_running_loop()
        if self._ahttp is None or self._ahttp_loop is not loop:
            # An AsyncClient belongs to the event loop it was first used on: each
            # asyncio.run() gets its own (the seed's sweep builds the client inside one).
            self._ahttp = httpx.AsyncClient(headers=self._headers(), timeout=self.timeout,
                                            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))
            self._ahttp_loop = loop
        return self._ahttp

    def close(self) -> None:
        """Closes the connections (the client cannot be used afterwards). Async code should
        prefer :meth:`aclose` (or ``async with``), which also closes the async connections."""
        self._closed = True
        if self._http is not None:
            self._http.close()
            self._http = None
        self._ahttp = None
        self._ahttp_loop = None

    async def aclose(self) -> None:
        """Closes the sync and async connections."""
        ahttp, loop = self._ahttp, self._ahttp_loop
        self.close()
        if ahttp is not None and loop is asyncio.get_running_loop():
            await ahttp.aclose()

    def __enter__(self) -> "KairosClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "KairosClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the request loop

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _backoff(self, attempt: int) -> float:
        """``retry_backoff × 2^attempt`` (at most 60 s) plus up to ``retry_backoff`` of jitter."""
        return min(self.retry_backoff * (2 ** min(attempt, 30)), _MAX_BACKOFF) + self._random() * self.retry_backoff

    def _retry_delay(self, answer: _Answer, attempt: int) -> Optional[float]:
        """The delay before retrying ``answer``, or None when it is not retried."""
        if answer.status == 429:
            after = _retry_after(answer.headers)
            return after if after is not None else self._backoff(attempt)
        if answer.status in (502, 503):
            return self._backoff(attempt)
        if answer.status == 409:
            try:
                code = json.loads(answer.content)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
            return self._backoff(attempt) if code == "IDEMPOTENCY_REQUEST_IN_PROGRESS" else None
        return None

    def _request_args(self, call: _Call, key: Optional[str]) -> Dict[str, Any]:
        headers = {"Accept": call.accept}
        if key is not None:
            headers["Idempotency-Key"] = key
        args: Dict[str, Any] = {"method": call.method, "url": self._url(call.path), "headers": headers}
        if call.query:
            args["params"] = call.query
        if call.body is not None:
            headers["Content-Type"] = "application/json"
            args["content"] = canonical_json(call.body).encode("utf-8")
        return args

    def _connection_error(self, call: _Call, error: Exception) -> APIConnectionError:
        where = f"{call.method} {self._url(call.path)}"
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(f"{where}: timed out after {self.timeout:g} s")
        if isinstance(error, httpx.ConnectError):
            return APIConnectionError(f"{where}: cannot connect ({error})")
        if isinstance(error, httpx.RemoteProtocolError):
            return APIConnectionError(f"{where}: the server closed the connection ({error})")
        return APIConnectionError(f"{where}: {type(error).__name__}: {error}")

    def _final_error(self, call: _Call, answer: _Answer, key: Optional[str]) -> KairosError:
        return error_from_response(answer.status, answer.content, request_id=answer.request_id,
                                   retry_after=_retry_after(answer.headers),
                                   requested_engine=call.engine or self.engine_version, idempotency_key=key)

    def _send(self, call: _Call) -> _Answer:
        http = self._sync_http()
        key = self._make_key() if call.method == "POST" and self.idempotency_keys else None
        args = self._request_args(call, key)
        attempt = 0
        while True:
            try:
                response = http.request(**args)
                answer = _Answer(response.status_code, response.headers, response.content)
            except httpx.TransportError as e:
                # A POST may have been executed before the connection failed: only its
                # Idempotency-Key makes sending it again safe.
                if (call.method != "POST" or key is not None) and attempt < self.max_retries:
                    time.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise self._connection_error(call, e) from e
            if 200 <= answer.status < 300:
                return answer
            delay = self._retry_delay(answer, attempt) if attempt < self.max_retries else None
            if delay is not None:
                time.sleep(delay)
                attempt += 1
                continue
            error = self._final_error(call, answer, key)
            if isinstance(error, EngineVersionError) and not error.available and call.path != "/health":
                try:
                    error.available.extend(self.health().engine_versions)
                except KairosError:
                    pass
            raise error

    async def _asend(self, call: _Call) -> _Answer:
        http = self._async_http()
        key = self._make_key() if call.method == "POST" and self.idempotency_keys else None
        args = self._request_args(call, key)
        attempt = 0
        while True:
            try:
                response = await http.request(**args)
                answer = _Answer(response.status_code, response.headers, response.content)
            except httpx.TransportError as e:
                if (call.method != "POST" or key is not None) and attempt < self.max_retries:
                    await asyncio.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise self._connection_error(call, e) from e
            if 200 <= answer.status < 300:
                return answer
            delay = self._retry_delay(answer, attempt) if attempt < self.max_retries else None
            if delay is not None:
                await asyncio.sleep(delay)
                attempt += 1
                continue
            error = self._final_error(call, answer, key)
            if isinstance(error, EngineVersionError) and not error.available and call.path != "/health":
                try:
                    error.available.extend((await self.ahealth()).engine_versions)
                except KairosError:
                    pass
            raise error

    def _drive(self, flow: _Flow) -> Any:
        try:
            call = next(flow)
            while True:
                call = flow.send(self._send(call))
        except StopIteration as stop:
            return stop.value

    async def _adrive(self, flow: _Flow) -> Any:
        try:
            call = next(flow)
            while True:
                call = flow.send(await self._asend(call))
        except StopIteration as stop:
            return stop.value

    # ------------------------------------------------------------------ flows (one request or more)

    @staticmethod
    def _sim_path(simulation_id: str, suffix: str = "") -> str:
        if not isinstance(simulation_id, str) or not simulation_id:
            raise ValidationError([ValidationIssue("id", "a simulation id is required")])
        return "/simulations/" + quote(simulation_id, safe="") + suffix

    def _decode(self, what: str, answer: _Answer, make: Callable[[Any], Any]) -> Any:
        data = answer.json()
        try:
            return make(data)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise APIConnectionError(f"the server's answer is not a valid {what} ({type(e).__name__}: {e})",
                                     status=answer.status, request_id=answer.request_id) from None

    def _health_flow(self) -> _Flow:
        answer = yield _Call("GET", "/health")
        return self._decode("health status", answer, lambda d: Health(
            d["status"], d.get("version"), [str(v) for v in d.get("engineVersions", [])], d.get("storage"), d))

    def _json_flow(self, call: _Call) -> _Flow:
        answer = yield call
        return answer.json()

    def _text_flow(self, call: _Call) -> _Flow:
        answer = yield call
        return answer.content.decode("utf-8", "replace")

    def _run_body(self, scenario: Optional[ScenarioLike], scenario_id: Optional[str], ticks: Optional[int],
                  organization_id: Optional[str], max_ticks: int) -> Tuple[Dict[str, Any], Optional[str], _RequestSource]:
        source = _RequestSource(scenario, scenario_id)
        engine = self.engine_version or source.engine
        count = ticks if ticks is not None else source.ticks
        body = source.body(count, organization_id, engine)
        check_request(body, max_ticks=max_ticks)
        return body, engine, source

    def _create_flow(self, scenario: Optional[ScenarioLike], scenario_id: Optional[str],
                     organization_id: Optional[str]) -> _Flow:
        source = _RequestSource(scenario, scenario_id)
        engine = self.engine_version or source.engine
        body = source.body(None, organization_id, engine)
        check_request(body, max_ticks=MAX_TICKS_PER_REQUEST)
        path = "/simulations/from-domain" if source.is_domain else "/simulations"
        answer = yield _Call("POST", path, body=body, engine=engine)
        return self._decode("simulation", answer, Simulation.from_wire)

    def _run_simulation_flow(self, scenario: Optional[ScenarioLike], scenario_id: Optional[str], ticks: Optional[int],
                             organization_id: Optional[str]) -> _Flow:
        body, engine, _ = self._run_body(scenario, scenario_id, ticks, organization_id, MAX_TICKS_PER_REQUEST)
        answer = yield _Call("POST", "/simulations/run", body=body, engine=engine)
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("simulationId"), str) or "trace" not in data:
            raise APIConnectionError("the server's answer is not a run result", status=answer.status,
                                     request_id=answer.request_id)
        trace = _checked_trace(data["trace"], answer.request_id)
        return RunResult(data["simulationId"], str(data.get("engineVersion", trace.metadata.engine_version)), trace)

    def _run_ndjson_flow(self, scenario: Optional[ScenarioLike], scenario_id: Optional[str], ticks: Optional[int],
                         organization_id: Optional[str]) -> _Flow:
        body, engine, _ = self._run_body(scenario, scenario_id, ticks, organization_id, MAX_TICKS_PER_REQUEST)
        answer = yield _Call("POST", "/simulations/run", body=body, accept="application/x-ndjson", engine=engine)
        steps, digest = _ndjson_steps(answer)
        header = answer.headers.get("x-trace-digest")
        if header is not None and header != digest:
            raise DigestMismatchError(f"the NDJSON body does not match X-Trace-Digest ({header}, computed {digest})",
                                      expected=header, computed=digest, request_id=answer.request_id)
        return answer.headers.get("x-simulation-id", ""), steps, digest

    def _streamed_trace_flow(self, completion: StreamCompletion, steps: List[TraceStep], source: _RequestSource) -> _Flow:
        answer = yield _Call("GET", self._sim_path(completion.simulation_id))
        sim = self._decode("simulation", answer, Simulation.from_wire)
        meta = TraceMetadata(completion.simulation_id, sim.scenario_id or source.scenario_id, sim.engine_version,
                             source.seed, len(steps), completion.digest)
        return Trace(meta, None, steps)

    def _list_flow(self, limit: int, offset: int, organization_id: Optional[str]) -> _Flow:
        query = [("limit", str(limit)), ("offset", str(offset))]
        if organization_id is not None:
            query.append(("organizationId", organization_id))
        answer = yield _Call("GET", "/simulations", query=query)
        return self._decode("simulation page", answer, lambda d: SimulationPage(
            [Simulation.from_wire(s) for s in d["data"]], d["pagination"]["limit"], d["pagination"]["offset"],
            d["pagination"]["total"]))

    def _get_flow(self, simulation_id: str) -> _Flow:
        answer = yield _Call("GET", self._sim_path(simulation_id))
        return self._decode("simulation", answer, Simulation.from_wire)

    def _step_flow(self, simulation_id: str, ticks: int) -> _Flow:
        check_ticks(ticks)
        answer = yield _Call("POST", self._sim_path(simulation_id, "/step"), body={"ticks": ticks})
        return self._decode("step result", answer, lambda d: StepResult(d["state"], d["ticks"], d.get("tick")))

    def _fork_flow(self, simulation_id: str, tick: int) -> _Flow:
        if isinstance(tick, bool) or not isinstance(tick, int) or tick < 0:
            raise ValidationError([ValidationIssue("tick", "must be a whole number >= 0 (at most the simulation's tick)")])
        answer = yield _Call("POST", self._sim_path(simulation_id, "/fork"), body={"tick": tick})
        return self._decode("simulation", answer, Simulation.from_wire)

    @staticmethod
    def _from_tick_query(from_tick: int) -> List[Tuple[str, str]]:
        if isinstance(from_tick, bool) or not isinstance(from_tick, int) or from_tick < 0:
            raise ValidationError([ValidationIssue("fromTick", "must be a whole number >= 0 (at most the simulation's tick)")])
        return [("fromTick", str(from_tick))] if from_tick else []

    def _trace_flow(self, simulation_id: str, from_tick: int = 0) -> _Flow:
        query = self._from_tick_query(from_tick)
        answer = yield _Call("GET", self._sim_path(simulation_id, "/trace"), query=query)
        return _checked_trace(answer.json(), answer.request_id)

    def _trace_ndjson_flow(self, simulation_id: str, from_tick: int = 0) -> _Flow:
        query = self._from_tick_query(from_tick)
        answer = yield _Call("GET", self._sim_path(simulation_id, "/trace"), query=query, accept="application/x-ndjson")
        return _ndjson_steps(answer)

    def _policy_flow(self, simulation_id: str, agent_id: str, lambda_: Optional[float], gamma: Optional[float]) -> _Flow:
        policy: Dict[str, float] = {}
        if lambda_ is not None:
            policy["lambda"] = lambda_
        if gamma is not None:
            policy["gamma"] = gamma
        answer = yield _Call("PUT", self._sim_path(simulation_id, "/agent-policy"),
                             body={"agentId": agent_id, "policy": policy})
        return answer.json()

    def _time_control_flow(self, simulation_id: str, action: str, speed: Optional[float]) -> _Flow:
        if action not in ("play", "pause", "step"):
            raise ValidationError([ValidationIssue("action", 'must be one of "play", "pause", "step"')])
        body: Dict[str, Any] = {"action": action}
        if speed is not None:
            body["speed"] = speed
        answer = yield _Call("PUT", self._sim_path(simulation_id, "/time-control"), body=body)
        return answer.json()

    def _decree_flow(self, simulation_id: str, decree: Optional[Mapping[str, Any]], fields: Dict[str, Any]) -> _Flow:
        body = dict(decree) if decree is not None else {}
        body.update({("lambda" if k == "lambda_" else k): v for k, v in fields.items() if v is not None})
        if "kind" not in body:
            raise ValidationError([ValidationIssue("kind", "is required (a native event kind, ENGINE.md)")])
        answer = yield _Call("POST", self._sim_path(simulation_id, "/decrees"), body=body)
        return answer.json()

    def _list_data_flow(self, call: _Call) -> _Flow:
        answer = yield call
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise APIConnectionError("the server's answer is not a list", status=answer.status,
                                     request_id=answer.request_id)
        return data["data"]

    def _organization_flow(self, organization_id: Optional[str]) -> _Flow:
        query = [("organizationId", organization_id)] if organization_id is not None else []
        answer = yield _Call("GET", "/organization", query=query)
        return self._decode("organization", answer, lambda d: Organization(d["id"], d.get("tier"), d.get("limits") or {}, d))

    # ------------------------------------------------------------------ public routes

    def health(self) -> Health:
        """``GET /health``: status, server version, the engine versions offered, storage."""
        return self._drive(self._health_flow())

    async def ahealth(self) -> Health:
        """Async :meth:`health`."""
        return await self._adrive(self._health_flow())

    def openapi(self) -> Dict[str, Any]:
        """``GET /openapi.json``: the OpenAPI 3.1 document."""
        return self._drive(self._json_flow(_Call("GET", "/openapi.json")))

    async def aopenapi(self) -> Dict[str, Any]:
        """Async :meth:`openapi`."""
        return await self._adrive(self._json_flow(_Call("GET", "/openapi.json")))

    def docs_page(self) -> str:
        """``GET /docs``: the interactive reference page (HTML)."""
        return self._drive(self._text_flow(_Call("GET", "/docs", accept="text/html")))

    async def adocs_page(self) -> str:
        """Async :meth:`docs_page`."""
        return await self._adrive(self._text_flow(_Call("GET", "/docs", accept="text/html")))

    def scenarios(self) -> List[Dict[str, Any]]:
        """``GET /scenarios``: the built-in catalog (id, title, description, defaultTicks, agents, scenario)."""
        return self._drive(self._list_data_flow(_Call("GET", "/scenarios")))

    async def ascenarios(self) -> List[Dict[str, Any]]:
        """Async :meth:`scenarios`."""
        return await self._adrive(self._list_data_flow(_Call("GET", "/scenarios")))

    def get_scenario(self, scenario_id: str) -> Dict[str, Any]:
        """``GET /scenarios/{id}``: one catalog scenario (``NotFoundError`` if unknown)."""
        return self._drive(self._json_flow(_Call("GET", "/scenarios/" + quote(scenario_id, safe=""))))

    async def aget_scenario(self, scenario_id: str) -> Dict[str, Any]:
        """Async :meth:`get_scenario`."""
        return await self._adrive(self._json_flow(_Call("GET", "/scenarios/" + quote(scenario_id, safe=""))))

    # ------------------------------------------------------------------ simulations

    def create_simulation(self, scenario: Optional[ScenarioLike] = None, organization_id: Optional[str] = None, *,
                          scenario_id: Optional[str] = None) -> Simulation:
        """A new paused simulation at tick 0: ``POST /simulations`` (catalog id or native
        scenario) or ``POST /simulations/from-domain`` (an ``AISafetyScenario`` or domain dict)."""
        return self._drive(self._create_flow(scenario, scenario_id, organization_id))

    async def acreate_simulation(self, scenario: Optional[ScenarioLike] = None, organization_id: Optional[str] = None, *,
                                 scenario_id: Optional[str] = None) -> Simulation:
        """Async :meth:`create_simulation`."""
        return await self._adrive(self._create_flow(scenario, scenario_id, organization_id))

    def create_from_domain(self, domain: str, input: Mapping[str, Any], organization_id: Optional[str] = None) -> Simulation:
        """``POST /simulations/from-domain`` with a domain id (``"ai-safety"``) and its input."""
        return self.create_simulation({"domain": domain, "input": dict(input)}, organization_id)

    async def acreate_from_domain(self, domain: str, input: Mapping[str, Any],
                                  organization_id: Optional[str] = None) -> Simulation:
        """Async :meth:`create_from_domain`."""
        return await self.acreate_simulation({"domain": domain, "input": dict(input)}, organization_id)

    def run(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
            organization_id: Optional[str] = None, *, scenario_id: Optional[str] = None) -> Trace:
        """Runs a scenario to completion and returns its :class:`Trace` (seed 000 ``client.run``).

        Up to 10 000 ticks this is ``POST /simulations/run``; longer runs go through the
        WebSocket stream and are collected in memory (use :meth:`stream_run` to keep memory
        flat). Either way the steps are checked against the server's digest on arrival
        (:class:`~kairos.errors.DigestMismatchError` otherwise). ``ticks`` defaults to the
        request dict's own ``ticks``, else the server's default (the catalog's).
        """
        if ticks is not None and not isinstance(ticks, bool) and isinstance(ticks, int) and ticks > MAX_TICKS_PER_REQUEST:
            stream = self.stream_run(scenario, ticks, organization_id, scenario_id=scenario_id)
            steps = list(stream)
            assert stream.completion is not None
            return self._drive(self._streamed_trace_flow(stream.completion, steps, stream._source))
        return self._drive(self._run_simulation_flow(scenario, scenario_id, ticks, organization_id)).trace

    async def arun(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                   organization_id: Optional[str] = None, *, scenario_id: Optional[str] = None) -> Trace:
        """Async :meth:`run`."""
        if ticks is not None and not isinstance(ticks, bool) and isinstance(ticks, int) and ticks > MAX_TICKS_PER_REQUEST:
            stream = self.astream_run(scenario, ticks, organization_id, scenario_id=scenario_id)
            steps = [s async for s in stream]
            assert stream.completion is not None
            return await self._adrive(self._streamed_trace_flow(stream.completion, steps, stream._source))
        return (await self._adrive(self._run_simulation_flow(scenario, scenario_id, ticks, organization_id))).trace

    def run_simulation(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                       organization_id: Optional[str] = None, *, scenario_id: Optional[str] = None) -> RunResult:
        """``POST /simulations/run`` (1–10 000 ticks): the simulation id, engine and checked trace."""
        return self._drive(self._run_simulation_flow(scenario, scenario_id, ticks, organization_id))

    async def arun_simulation(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                              organization_id: Optional[str] = None, *,
                              scenario_id: Optional[str] = None) -> RunResult:
        """Async :meth:`run_simulation`."""
        return await self._adrive(self._run_simulation_flow(scenario, scenario_id, ticks, organization_id))

    def run_ndjson(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                   organization_id: Optional[str] = None, *,
                   scenario_id: Optional[str] = None) -> Tuple[str, List[TraceStep], str]:
        """``POST /simulations/run`` with ``Accept: application/x-ndjson``: ``(simulation_id,
        steps, digest)``, the digest of the lines checked against ``X-Trace-Digest``."""
        return self._drive(self._run_ndjson_flow(scenario, scenario_id, ticks, organization_id))

    async def arun_ndjson(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                          organization_id: Optional[str] = None, *,
                          scenario_id: Optional[str] = None) -> Tuple[str, List[TraceStep], str]:
        """Async :meth:`run_ndjson`."""
        return await self._adrive(self._run_ndjson_flow(scenario, scenario_id, ticks, organization_id))

    def list_simulations(self, limit: int = 50, offset: int = 0, organization_id: Optional[str] = None) -> SimulationPage:
        """``GET /simulations``: one page (limit 1–200) of the caller's simulations."""
        return self._drive(self._list_flow(limit, offset, organization_id))

    async def alist_simulations(self, limit: int = 50, offset: int = 0,
                                organization_id: Optional[str] = None) -> SimulationPage:
        """Async :meth:`list_simulations`."""
        return await self._adrive(self._list_flow(limit, offset, organization_id))

    def get_simulation(self, simulation_id: str) -> Simulation:
        """``GET /simulations/{id}``."""
        return self._drive(self._get_flow(simulation_id))

    async def aget_simulation(self, simulation_id: str) -> Simulation:
        """Async :meth:`get_simulation`."""
        return await self._adrive(self._get_flow(simulation_id))

    def step(self, simulation_id: str, ticks: int) -> StepResult:
        """``POST /simulations/{id}/step``: advances 1–10 000 ticks."""
        return self._drive(self._step_flow(simulation_id, ticks))

    async def astep(self, simulation_id: str, ticks: int) -> StepResult:
        """Async :meth:`step`."""
        return await self._adrive(self._step_flow(simulation_id, ticks))

    def fork(self, simulation_id: str, tick: int) -> Simulation:
        """``POST /simulations/{id}/fork``: a new simulation in the state ``simulation_id`` had after
        tick ``tick - 1`` (its steps before ``tick``, the decrees and policy changes applied before
        ``tick``), paused at ``tick``, with ``forked_from`` set. Stepping it with no new decree
        repeats the original's steps from ``tick`` on, byte for byte."""
        return self._drive(self._fork_flow(simulation_id, tick))

    async def afork(self, simulation_id: str, tick: int) -> Simulation:
        """Async :meth:`fork`."""
        return await self._adrive(self._fork_flow(simulation_id, tick))

    def get_trace(self, simulation_id: str, from_tick: int = 0) -> Trace:
        """``GET /simulations/{id}/trace`` as JSON (the digest checked against the steps).

        ``from_tick``: only the steps from that tick on (``metadata.ticks`` and ``digest`` then
        describe those steps)."""
        return self._drive(self._trace_flow(simulation_id, from_tick))

    async def aget_trace(self, simulation_id: str, from_tick: int = 0) -> Trace:
        """Async :meth:`get_trace`."""
        return await self._adrive(self._trace_flow(simulation_id, from_tick))

    def get_trace_ndjson(self, simulation_id: str, from_tick: int = 0) -> Tuple[List[TraceStep], str]:
        """``GET /simulations/{id}/trace`` as NDJSON: the steps and the digest of the body.

        ``from_tick``: only the steps from that tick on, so a caller holding the first
        ``from_tick`` steps downloads only the new ones."""
        return self._drive(self._trace_ndjson_flow(simulation_id, from_tick))

    async def aget_trace_ndjson(self, simulation_id: str, from_tick: int = 0) -> Tuple[List[TraceStep], str]:
        """Async :meth:`get_trace_ndjson`."""
        return await self._adrive(self._trace_ndjson_flow(simulation_id, from_tick))

    def set_agent_policy(self, simulation_id: str, agent_id: str, lambda_: Optional[float] = None,
                         gamma: Optional[float] = None) -> Dict[str, Any]:
        """``PUT /simulations/{id}/agent-policy``: new λ and/or γ for one agent, from the next tick."""
        return self._drive(self._policy_flow(simulation_id, agent_id, lambda_, gamma))

    async def aset_agent_policy(self, simulation_id: str, agent_id: str, lambda_: Optional[float] = None,
                                gamma: Optional[float] = None) -> Dict[str, Any]:
        """Async :meth:`set_agent_policy`."""
        return await self._adrive(self._policy_flow(simulation_id, agent_id, lambda_, gamma))

    def time_control(self, simulation_id: str, action: str, speed: Optional[float] = None) -> Dict[str, Any]:
        """``PUT /simulations/{id}/time-control``: ``"play"`` (speed 0.1–10), ``"pause"`` or ``"step"``."""
        return self._drive(self._time_control_flow(simulation_id, action, speed))

    async def atime_control(self, simulation_id: str, action: str, speed: Optional[float] = None) -> Dict[str, Any]:
        """Async :meth:`time_control`."""
        return await self._adrive(self._time_control_flow(simulation_id, action, speed))

    def submit_decree(self, simulation_id: str, decree: Optional[Mapping[str, Any]] = None, *,
                      kind: Optional[str] = None, target: Optional[str] = None, magnitude: Optional[float] = None,
                      ticks: Optional[int] = None, lambda_: Optional[float] = None,
                      gamma: Optional[float] = None) -> Dict[str, Any]:
        """``POST /simulations/{id}/decrees``: a decree (a native event: ``kind`` such as
        ``"shock"``, ``target``, ``magnitude``…) applied at the next tick computed; returns
        ``{id, simulationId, tick, decree}``."""
        return self._drive(self._decree_flow(simulation_id, decree, dict(
            kind=kind, target=target, magnitude=magnitude, ticks=ticks, lambda_=lambda_, gamma=gamma)))

    async def asubmit_decree(self, simulation_id: str, decree: Optional[Mapping[str, Any]] = None, *,
                             kind: Optional[str] = None, target: Optional[str] = None,
                             magnitude: Optional[float] = None, ticks: Optional[int] = None,
                             lambda_: Optional[float] = None, gamma: Optional[float] = None) -> Dict[str, Any]:
        """Async :meth:`submit_decree`."""
        return await self._adrive(self._decree_flow(simulation_id, decree, dict(
            kind=kind, target=target, magnitude=magnitude, ticks=ticks, lambda_=lambda_, gamma=gamma)))

    def prophecies(self, simulation_id: str) -> List[Dict[str, Any]]:
        """``GET /simulations/{id}/prophecies``: every prophecy so far and its resolution."""
        return self._drive(self._list_data_flow(_Call("GET", self._sim_path(simulation_id, "/prophecies"))))

    async def aprophecies(self, simulation_id: str) -> List[Dict[str, Any]]:
        """Async :meth:`prophecies`."""
        return await self._adrive(self._list_data_flow(_Call("GET", self._sim_path(simulation_id, "/prophecies"))))

    # ------------------------------------------------------------------ organization

    def organization(self, organization_id: Optional[str] = None) -> Organization:
        """``GET /organization`` (org:read): the caller's organization, tier and limits."""
        return self._drive(self._organization_flow(organization_id))

    async def aorganization(self, organization_id: Optional[str] = None) -> Organization:
        """Async :meth:`organization`."""
        return await self._adrive(self._organization_flow(organization_id))

    def usage(self, **query: str) -> Dict[str, Any]:
        """``GET /usage`` (usage:read): simulations created, ticks computed and requests per
        route class, per day (``from_``/``to`` as ``YYYY-MM-DD``, ``organizationId``)."""
        return self._drive(self._json_flow(_Call("GET", "/usage", query=self._usage_query(query))))

    async def ausage(self, **query: str) -> Dict[str, Any]:
        """Async :meth:`usage`."""
        return await self._adrive(self._json_flow(_Call("GET", "/usage", query=self._usage_query(query))))

    @staticmethod
    def _usage_query(query: Mapping[str, str]) -> List[Tuple[str, str]]:
        names = {"from_": "from", "organization_id": "organizationId"}
        return [(names.get(k, k), str(v)) for k, v in query.items() if v is not None]

    # ------------------------------------------------------------------ the WebSocket run stream

    def _ws_url(self) -> str:
        url = self.base_url
        if url.startswith("https://"):
            url = "wss://" + url[len("https://"):]
        elif url.startswith("http://"):
            url = "ws://" + url[len("http://"):]
        return url + "/simulations/run/stream"

    def stream_run(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                   organization_id: Optional[str] = None, *, scenario_id: Optional[str] = None) -> "RunStream":
        """Streams a run over ``GET /simulations/run/stream`` (WebSocket), yielding
        :class:`TraceStep` s as they are read — the server is held back by the reader, so memory
        stays flat for up to 1 000 000 ticks (seed 000 ``stream_run``).

        The digest of the frames is checked against the server's last frame (the iteration
        raises :class:`~kairos.errors.DigestMismatchError` otherwise); afterwards
        ``stream.completion`` holds the simulation id and digest. Breaking out of the loop
        (or ``stream.close()``, or ``with``) closes the socket and stops the run.
        The scenario is checked before the socket opens.
        """
        body, engine, source = self._run_body(scenario, scenario_id, ticks, organization_id, MAX_STREAM_TICKS)
        return RunStream(self, body, engine, source)

    def astream_run(self, scenario: Optional[ScenarioLike] = None, ticks: Optional[int] = None,
                    organization_id: Optional[str] = None, *, scenario_id: Optional[str] = None) -> "AsyncRunStream":
        """Async :meth:`stream_run`: ``async for step in client.astream_run(...)``."""
        body, engine, source = self._run_body(scenario, scenario_id, ticks, organization_id, MAX_STREAM_TICKS)
        return AsyncRunStream(self, body, engine, source)

    def _ws_refusal(self, error: Exception, engine: Optional[str]) -> Optional[Tuple[KairosError, Optional[float]]]:
        """The typed error of a refused upgrade, and the delay before retrying it (None: no retry)."""
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        if response is None or status is None:
            return None
        headers = httpx.Headers(list(response.headers.raw_items()) if hasattr(response.headers, "raw_items")
                                else dict(response.headers))
        answer = _Answer(status, headers, bytes(response.body or b""))
        err = error_from_response(status, answer.content, request_id=answer.request_id,
                                  retry_after=_retry_after(headers), requested_engine=engine or self.engine_version,
                                  idempotency_key=None)
        return err, self._retry_delay(answer, 0)

    @staticmethod
    def _frame_error(data: Mapping[str, Any], engine: Optional[str]) -> KairosError:
        env = data.get("error")
        code = env.get("code") if isinstance(env, dict) else None
        status = {"VALIDATION_ERROR": 400, "ENGINE_VERSION_UNAVAILABLE": 400, "UNAUTHORIZED": 401, "FORBIDDEN": 403,
                  "NOT_FOUND": 404, "RATE_LIMITED": 429, "PAYLOAD_TOO_LARGE": 413}.get(str(code), 500)
        return error_from_response(status, json.dumps(data).encode(), request_id=None, retry_after=None,
                                   requested_engine=engine, idempotency_key=None)

    # ------------------------------------------------------------------ live events (SSE)

    def events(self, simulation_id: str, last_event_id: Optional[str] = None, *,
               include_heartbeats: bool = False) -> Iterator[SimulationEvent]:
        """The live events of a simulation (``GET /simulations/{id}/events``, seed 003).

        From now on, or — with ``last_event_id`` (``<tick>-<n>``) — every event after that one
        (replayed from the stored trace), then live ones. When the connection drops the client
        reconnects with ``Last-Event-ID`` set to the last event delivered, so nothing is lost or
        repeated; it gives up after ``max_retries`` failed reconnects in a row
        (:class:`~kairos.errors.APIConnectionError`). Heartbeats are absorbed unless
        ``include_heartbeats``. The iteration ends after the ``simulation:status`` event
        saying ``completed``; break out of the loop to stop earlier.
        """
        path = self._sim_path(simulation_id, "/events")
        http = self._sync_http()
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                with http.stream("GET", self._url(path), headers=headers,
                                 timeout=httpx.Timeout(self.timeout, read=None)) as response:
                    if response.status_code != 200:
                        answer = _Answer(response.status_code, response.headers, response.read())
                        delay = self._retry_delay(answer, failures) if failures < self.max_retries else None
                        if delay is None:
                            raise self._final_error(_Call("GET", path), answer, None)
                        time.sleep(delay)
                        failures += 1
                        continue
                    parser = SSEParser()
                    for chunk in response.iter_raw():
                        for raw in parser.feed(chunk):
                            event = self._sse_event(raw, include_heartbeats)
                            if event is None:
                                continue
                            if raw.id:
                                last = raw.id
                            failures = 0
                            yield event
                            if self._completes(event):
                                return
            except httpx.TransportError as e:
                if failures >= self.max_retries:
                    raise self._connection_error(_Call("GET", path), e) from e
            else:
                if failures >= self.max_retries:
                    raise APIConnectionError(f"GET {self._url(path)}: the event stream keeps closing")
            time.sleep(self._backoff(failures))
            failures += 1

    async def aevents(self, simulation_id: str, last_event_id: Optional[str] = None, *,
                      include_heartbeats: bool = False) -> AsyncIterator[SimulationEvent]:
        """Async :meth:`events`: ``async for event in client.aevents(id)``."""
        path = self._sim_path(simulation_id, "/events")
        http = self._async_http()
        last = last_event_id
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last is not None:
                headers["Last-Event-ID"] = last
            try:
                async with http.stream("GET", self._url(path), headers=headers,
                                       timeout=httpx.Timeout(self.timeout, read=None)) as response:
                    if response.status_code != 200:
                        answer = _Answer(response.status_code, response.headers, await response.aread())
                        delay = self._retry_delay(answer, failures) if failures < self.max_retries else None
                        if delay is None:
                            raise self._final_error(_Call("GET", path), answer, None)
                        await asyncio.sleep(delay)
                        failures += 1
                        continue
                    parser = SSEParser()
                    async for chunk in response.aiter_raw():
                        for raw in parser.feed(chunk):
                            event = self._sse_event(raw, include_heartbeats)
                            if event is None:
                                continue
                            if raw.id:
                                last = raw.id
                            failures = 0
                            yield event
                            if self._completes(event):
                                return
            except httpx.TransportError as e:
                if failures >= self.max_retries:
                    raise self._connection_error(_Call("GET", path), e) from e
            else:
                if failures >= self.max_retries:
                    raise APIConnectionError(f"GET {self._url(path)}: the event stream keeps closing")
            await asyncio.sleep(self._backoff(failures))
            failures += 1

    @staticmethod
    def _sse_event(raw: Any, include_heartbeats: bool) -> Optional[SimulationEvent]:
        if raw.event == "heartbeat" and not include_heartbeats:
            return None
        data: Any = None
        if raw.data:
            try:
                data = json.loads(raw.data)
            except ValueError:
                data = raw.data
        return SimulationEvent(raw.event, raw.id or None, data)

    @staticmethod
    def _completes(event: SimulationEvent) -> bool:
        return (event.type == "simulation:status" and isinstance(event.data, dict)
                and event.data.get("status") == "completed")


class _StreamState:
    """What both stream flavours share: the frame decoder and digest check.

    The request asks for ``STEPS_PER_FRAME`` steps a frame (``stepsPerFrame``): such frames
    hold whole NDJSON lines, each with its newline. A server that predates the field refuses
    it before the first step; the stream then asks again for one step a frame."""

    def __init__(self, client: KairosClient, body: Dict[str, Any], engine: Optional[str], source: _RequestSource) -> None:
        self._client = client
        self._body = body
        self._engine = engine
        self._source = source
        self._request = canonical_json(dict(body, stepsPerFrame=STEPS_PER_FRAME))
        self._digest = TraceDigest()
        self._pending: "collections.deque[TraceStep]" = collections.deque()
        self.completion: Optional[StreamCompletion] = None
        self.count = 0

    def _frame(self, frame: Union[bytes, str]) -> bool:
        """Takes one frame: its steps join ``_pending``; False for the last frame (then
        ``completion`` is set)."""
        raw = frame.encode("utf-8") if isinstance(frame, str) else frame
        if raw.endswith(b"\n"):
            self._digest.add_lines(raw)
            for line in raw.split(b"\n")[:-1]:
                try:
                    step = TraceStep.from_wire(json.loads(line))
                except (KeyError, TypeError, ValueError) as e:
                    raise APIConnectionError(f"step {self.count + 1} of the stream is not a step ({e})") from None
                self._pending.append(step)
                self.count += 1
            return True
        try:
            data = json.loads(raw)
        except ValueError:
            raise APIConnectionError(f"frame {self.count + 1} of the stream is not JSON") from None
        if not isinstance(data, dict):
            raise APIConnectionError(f"frame {self.count + 1} of the stream is not an object")
        if "error" in data:
            error = self._client._frame_error(data, self._engine)
            if (isinstance(error, ValidationError) and self.count == 0 and self._request != canonical_json(self._body)
                    and any(i.path == "stepsPerFrame" for i in error.issues)):
                raise _OneStepPerFrame() from None
            raise error
        if data.get("done") is True:
            expected = data.get("digest", "")
            computed = self._digest.hexdigest()
            if computed != expected:
                raise DigestMismatchError(
                    f"the streamed steps do not match the server's digest ({expected}, computed {computed})",
                    expected=str(expected), computed=computed)
            self.completion = StreamCompletion(str(data.get("simulationId", "")), str(expected), self.count)
            return False
        try:
            step = TraceStep.from_wire(data)
        except (KeyError, TypeError, ValueError) as e:
            raise APIConnectionError(f"frame {self.count + 1} of the stream is not a step ({e})") from None
        self._digest.add_line(raw)
        self.count += 1
        self._pending.append(step)
        return True

    def _one_step_per_frame(self) -> None:
        """Asks again without ``stepsPerFrame`` (a server before it refused the field)."""
        self._request = canonical_json(self._body)
        self._digest = TraceDigest()
        self._pending.clear()
        self.count = 0

    @property
    def simulation_id(self) -> Optional[str]:
        return self.completion.simulation_id if self.completion else None

    @property
    def digest(self) -> Optional[str]:
        return self.completion.digest if self.completion else None


class _OneStepPerFrame(Exception):
    """The server refused ``stepsPerFrame`` before any step: ask again without it."""


class RunStream(_StreamState):
    """The steps of a streamed run (``client.stream_run``), read from the socket as you
    iterate; ``completion`` (simulation id, digest, ticks) once the iteration has ended."""

    def __init__(self, client: KairosClient, body: Dict[str, Any], engine: Optional[str], source: _RequestSource) -> None:
        super().__init__(client, body, engine, source)
        self._ws: Any = None
        self._done = False

    def _open(self) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        client = self._client
        attempt = 0
        while True:
            try:
                # __enter__ opens the connection on every websockets version (17 warns when a
                # sync connect() is used without it); close() below ends it.
                self._ws = connect(client._ws_url(), additional_headers=client._headers(), user_agent_header=USER_AGENT,
                                   open_timeout=client.timeout, max_size=_MAX_FRAME, compression=None).__enter__()
                break
            except InvalidStatus as e:
                refusal = client._ws_refusal(e, self._engine)
                if refusal is None:
                    raise APIConnectionError(f"GET {client._ws_url()}: the server refused the WebSocket upgrade") from e
                error, delay = refusal
                if delay is not None and attempt < client.max_retries:
                    time.sleep(delay)
                    attempt += 1
                    continue
                raise error from None
            except (OSError, InvalidHandshake, TimeoutError) as e:
                if attempt < client.max_retries:
                    time.sleep(client._backoff(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(f"{client._ws_url()}: {type(e).__name__}: {e}") from e
        self._ws.send(self._request)

    def __iter__(self) -> "RunStream":
        return self

    def __next__(self) -> TraceStep:
        from websockets.exceptions import ConnectionClosed

        if self._pending:
            return self._pending.popleft()
        if self._done:
            raise StopIteration
        if self._ws is None:
            self._open()
        try:
            while True:
                try:
                    frame = self._ws.recv(timeout=self._client.timeout, decode=False)
                except TimeoutError:
                    raise APITimeoutError(f"{self._client._ws_url()}: no frame for {self._client.timeout:g} s") from None
                except ConnectionClosed as e:
                    raise APIConnectionError(f"{self._client._ws_url()}: the stream ended before its last frame "
                                             f"({self.count} steps; {e})") from None
                try:
                    more = self._frame(frame)
                except _OneStepPerFrame:
                    ws, self._ws = self._ws, None
                    ws.close()
                    self._one_step_per_frame()
                    self._open()
                    continue
                if not more:
                    self._shutdown()
                    if self._pending:
                        return self._pending.popleft()
                    raise StopIteration
                if self._pending:
                    return self._pending.popleft()
        except EngineVersionError as e:
            self.close()
            if not e.available:
                try:
                    e.available.extend(self._client.health().engine_versions)
                except KairosError:
                    pass
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Closes the socket (stopping the run on the server if it was not finished); steps
        already received and not yet taken are dropped."""
        self._pending.clear()
        self._shutdown()

    def _shutdown(self) -> None:
        self._done = True
        if self._ws is not None:
            ws, self._ws = self._ws, None
            try:
                ws.close()
            except Exception:  # pragma: no cover - best effort
                pass

    def __enter__(self) -> "RunStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover
            pass


class AsyncRunStream(_StreamState):
    """Async :class:`RunStream`: ``async for step in client.astream_run(...)``."""

    def __init__(self, client: KairosClient, body: Dict[str, Any], engine: Optional[str], source: _RequestSource) -> None:
        super().__init__(client, body, engine, source)
        self._ws: Any = None
        self._done = False

    async def _open(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        client = self._client
        attempt = 0
        while True:
            try:
                self._ws = await connect(client._ws_url(), additional_headers=client._headers(),
                                         user_agent_header=USER_AGENT, open_timeout=client.timeout,
                                         max_size=_MAX_FRAME, compression=None)
                break
            except InvalidStatus as e:
                refusal = client._ws_refusal(e, self._engine)
                if refusal is None:
                    raise APIConnectionError(f"GET {client._ws_url()}: the server refused the WebSocket upgrade") from e
                error, delay = refusal
                if delay is not None and attempt < client.max_retries:
                    await asyncio.sleep(delay)
                    attempt += 1
                    continue
                raise error from None
            except (OSError, InvalidHandshake, asyncio.TimeoutError) as e:
                if attempt < client.max_retries:
                    await asyncio.sleep(client._backoff(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(f"{client._ws_url()}: {type(e).__name__}: {e}") from e
        await self._ws.send(self._request)

    def __aiter__(self) -> "AsyncRunStream":
        return self

    async def __anext__(self) -> TraceStep:
        from websockets.exceptions import ConnectionClosed

        if self._pending:
            return self._pending.popleft()
        if self._done:
            raise StopAsyncIteration
        try:
            if self._ws is None:
                await self._open()
            while True:
                try:
                    frame = await self._ws.recv(decode=False)
                except ConnectionClosed as e:
                    raise APIConnectionError(f"{self._client._ws_url()}: the stream ended before its last frame "
                                             f"({self.count} steps; {e})") from None
                try:
                    more = self._frame(frame)
                except _OneStepPerFrame:
                    ws, self._ws = self._ws, None
                    await ws.close()
                    self._one_step_per_frame()
                    await self._open()
                    continue
                if not more:
                    await self._ashutdown()
                    if self._pending:
                        return self._pending.popleft()
                    raise StopAsyncIteration
                if self._pending:
                    return self._pending.popleft()
        except EngineVersionError as e:
            await self.aclose()
            if not e.available:
                try:
                    e.available.extend((await self._client.ahealth()).engine_versions)
                except KairosError:
                    pass
            raise
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Closes the socket (stopping the run on the server if it was not finished); steps
        already received and not yet taken are dropped."""
        self._pending.clear()
        await self._ashutdown()

    async def _ashutdown(self) -> None:
        self._done = True
        if self._ws is not None:
            ws, self._ws = self._ws, None
            try:
                await ws.close()
            except Exception:  # pragma: no cover - best effort
                pass

    async def __aenter__(self) -> "AsyncRunStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A loop that broke out without ``aclose()``: drop the connection (which stops the
        # run) rather than leave it open until the server's ping times out.
        ws = self._ws
        if ws is not None:
            try:
                ws.transport.abort()
            except Exception:  # pragma: no cover - best effort
                pass
