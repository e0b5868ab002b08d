"""What the API answers, as typed Python values.

Steps keep the wire names (``tick``, ``move``, ``state``, ``warning``, ``loss``, ``prophecy``,
``paradox``, ``agents``) and add the seed's shorthands ``step.t`` and ``step.stability``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple

from ._canonical import TraceDigest, canonical_step

if TYPE_CHECKING:  # pragma: no cover
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "WorldState", "AgentSnapshot", "StabilityWarning", "BasinLoss", "Prophecy", "Paradox", "TraceStep",
    "TraceMetadata", "Trace", "RunResult", "Simulation", "SimulationPage", "StepResult", "SimulationEvent",
    "Health", "StreamCompletion", "Organization",
]


class _Value:
    """Slots-based value object: equality and repr over its slots."""

    __slots__: Tuple[str, ...] = ()

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({inner})"


class WorldState(_Value):
    """The world after a tick: ``stability`` S, ``basin``, ``phase`` (stable, strained,
    critical, collapsed), ``pressure``, ``ceiling`` K."""

    __slots__ = ("stability", "basin", "phase", "pressure", "ceiling")

    def __init__(self, stability: float, basin: int, phase: str, pressure: float, ceiling: float) -> None:
        self.stability = stability
        self.basin = basin
        self.phase = phase
        self.pressure = pressure
        self.ceiling = ceiling

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "WorldState":
        return cls(d["stability"], d["basin"], d["phase"], d["pressure"], d["ceiling"])

    def to_wire(self) -> Dict[str, Any]:
        return {"stability": self.stability, "basin": self.basin, "phase": self.phase, "pressure": self.pressure,
                "ceiling": self.ceiling}


class AgentSnapshot(_Value):
    """One agent after a tick: its state (capability, alignment, guardrail, pressure) and
    policy (``lambda_`` — ``lambda`` on the wire — and ``gamma``)."""

    __slots__ = ("id", "capability", "alignment", "guardrail", "pressure", "lambda_", "gamma")

    def __init__(self, id: str, capability: float, alignment: float, guardrail: float, pressure: float,
                 lambda_: float, gamma: float) -> None:
        self.id = id
        self.capability = capability
        self.alignment = alignment
        self.guardrail = guardrail
        self.pressure = pressure
        self.lambda_ = lambda_
        self.gamma = gamma

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "AgentSnapshot":
        s, p = d["state"], d["policy"]
        return cls(d["id"], s["capability"], s["alignment"], s["guardrail"], s["pressure"], p["lambda"], p["gamma"])

    @property
    def state(self) -> Dict[str, float]:
        return {"capability": self.capability, "alignment": self.alignment, "guardrail": self.guardrail,
                "pressure": self.pressure}

    @property
    def policy(self) -> Dict[str, float]:
        return {"lambda": self.lambda_, "gamma": self.gamma}

    def to_wire(self) -> Dict[str, Any]:
        return {"id": self.id, "state": self.state, "policy": self.policy}


class StabilityWarning(_Value):
    """A stability threshold crossed: ``level`` (caution, danger), ``threshold``, ``stability``."""

    __slots__ = ("level", "threshold", "stability")

    def __init__(self, level: str, threshold: float, stability: float) -> None:
        self.level = level
        self.threshold = threshold
        self.stability = stability

    def to_wire(self) -> Dict[str, Any]:
        return {"level": self.level, "threshold": self.threshold, "stability": self.stability}


class BasinLoss(_Value):
    """A basin loss (irreversible collapse): ``tick``, ``magnitude``, ``agent`` (or None), ``basin``."""

    __slots__ = ("tick", "magnitude", "agent", "basin")

    def __init__(self, tick: int, magnitude: float, agent: Optional[str], basin: int) -> None:
        self.tick = tick
        self.magnitude = magnitude
        self.agent = agent
        self.basin = basin

    def to_wire(self) -> Dict[str, Any]:
        return {"tick": self.tick, "magnitude": self.magnitude, "agent": self.agent, "basin": self.basin}


class Prophecy(_Value):
    """A prophecy made at ``tick`` about ``horizon`` ticks ahead."""

    __slots__ = ("id", "tick", "horizon", "predicted_stability", "predicted_loss")

    def __init__(self, id: int, tick: int, horizon: int, predicted_stability: float,
                 predicted_loss: Optional[int]) -> None:
        self.id = id
        self.tick = tick
        self.horizon = horizon
        self.predicted_stability = predicted_stability
        self.predicted_loss = predicted_loss

    def to_wire(self) -> Dict[str, Any]:
        return {"id": self.id, "tick": self.tick, "horizon": self.horizon,
                "predictedStability": self.predicted_stability, "predictedLoss": self.predicted_loss}


class Paradox(_Value):
    """A paradox detected at ``tick`` about prophecy ``prophecy``."""

    __slots__ = ("tick", "prophecy", "kind")

    def __init__(self, tick: int, prophecy: int, kind: str) -> None:
        self.tick = tick
        self.prophecy = prophecy
        self.kind = kind

    def to_wire(self) -> Dict[str, Any]:
        return {"tick": self.tick, "prophecy": self.prophecy, "kind": self.kind}


class TraceStep(_Value):
    """One tick of a simulation (an element of ``trace.steps``, one NDJSON line, one stream
    frame). ``t`` is ``tick`` and ``stability`` is ``state.stability`` (seed 000)."""

    __slots__ = ("tick", "move", "state", "warning", "loss", "prophecy", "paradox", "agents")

    def __init__(self, tick: int, move: str, state: WorldState, warning: Optional[StabilityWarning] = None,
                 loss: Optional[BasinLoss] = None, prophecy: Optional[Prophecy] = None,
                 paradox: Optional[Paradox] = None, agents: Optional[List[AgentSnapshot]] = None) -> None:
        self.tick = tick
        self.move = move
        self.state = state
        self.warning = warning
        self.loss = loss
        self.prophecy = prophecy
        self.paradox = paradox
        self.agents = agents if agents is not None else []

    @property
    def t(self) -> int:
        """The tick (seed 000's ``step.t``)."""
        return self.tick

    @property
    def stability(self) -> float:
        """``state.stability`` (seed 000's ``step.stability``)."""
        return self.state.stability

    @property
    def phase(self) -> str:
        return self.state.phase

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "TraceStep":
        """A step from its JSON object; raises KeyError/TypeError when it is not one."""
        w = d.get("warning")
        lo = d.get("loss")
        pr = d.get("prophecy")
        pa = d.get("paradox")
        return cls(
            d["tick"], d["move"], WorldState.from_wire(d["state"]),
            None if w is None else StabilityWarning(w["level"], w["threshold"], w["stability"]),
            None if lo is None else BasinLoss(lo["tick"], lo["magnitude"], lo.get("agent"), lo["basin"]),
            None if pr is None else Prophecy(pr["id"], pr["tick"], pr["horizon"], pr["predictedStability"],
                                             pr.get("predictedLoss")),
            None if pa is None else Paradox(pa["tick"], pa["prophecy"], pa["kind"]),
            [AgentSnapshot.from_wire(a) for a in d["agents"]],
        )

    def to_wire(self) -> Dict[str, Any]:
        """The step's JSON object, as the API sends it."""
        return {
            "tick": self.tick, "move": self.move, "state": self.state.to_wire(),
            "warning": None if self.warning is None else self.warning.to_wire(),
            "loss": None if self.loss is None else self.loss.to_wire(),
            "prophecy": None if self.prophecy is None else self.prophecy.to_wire(),
            "paradox": None if self.paradox is None else self.paradox.to_wire(),
            "agents": [a.to_wire() for a in self.agents],
        }

    def canonical(self) -> str:
        """The step's canonical NDJSON line (what the digest hashes)."""
        return canonical_step(self.to_wire())


@dataclass(frozen=True)
class TraceMetadata:
    """``trace.metadata``: the simulation, scenario, engine, seed, tick count and digest."""

    simulation_id: Optional[str]
    scenario_id: Optional[str]
    engine_version: Optional[str]
    seed: Optional[int]
    ticks: int
    digest: str


class Trace:
    """A whole run: ``metadata``, ``initial_state`` (the wire object) and ``steps``.

    The client builds a trace only after checking that its steps hash to ``metadata.digest``.
    """

    __slots__ = ("metadata", "initial_state", "steps")

    def __init__(self, metadata: TraceMetadata, initial_state: Optional[Dict[str, Any]], steps: List[TraceStep]) -> None:
        self.metadata = metadata
        self.initial_state = initial_state
        self.steps = steps

    @property
    def digest(self) -> str:
        """``sha256:…`` of the canonical NDJSON of the steps (verified on arrival)."""
        return self.metadata.digest

    @property
    def simulation_id(self) -> Optional[str]:
        return self.metadata.simulation_id

    @property
    def engine_version(self) -> Optional[str]:
        return self.metadata.engine_version

    @property
    def seed(self) -> Optional[int]:
        return self.metadata.seed

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[TraceStep]:
        return iter(self.steps)

    def __repr__(self) -> str:
        return (f"Trace(simulation_id={self.metadata.simulation_id!r}, ticks={len(self.steps)}, "
                f"engine={self.metadata.engine_version!r}, digest={self.metadata.digest!r})")

    def final_phase(self) -> Optional[str]:
        """The phase after the last step (``stable``, ``strained``, ``critical``, ``collapsed``);
        None for an empty trace."""
        return self.steps[-1].state.phase if self.steps else None

    def mean_stability(self) -> Optional[float]:
        """The mean of the steps' stability, summed in order as the engine does (ENGINE.md);
        None for an empty trace."""
        if not self.steps:
            return None
        total = 0.0
        for s in self.steps:  # plain left-to-right sum: math.fsum/sum() would round differently
            total = total + s.state.stability
        return total / len(self.steps)

    def basin_losses(self) -> List[BasinLoss]:
        """Every basin loss, in tick order."""
        return [s.loss for s in self.steps if s.loss is not None]

    def warnings(self) -> List[StabilityWarning]:
        return [s.warning for s in self.steps if s.warning is not None]

    def computed_digest(self) -> str:
        """The digest recomputed from the steps (what ``metadata.digest`` must be)."""
        d = TraceDigest()
        for s in self.steps:
            d.add_line(s.canonical())
        return d.hexdigest()

    def to_ndjson(self) -> str:
        """The canonical NDJSON of the steps (its SHA-256 is the digest)."""
        return "".join(s.canonical() + "\n" for s in self.steps)

    def to_records(self) -> List[Dict[str, Any]]:
        """One flat dict a step: ``tick, move, stability, basin, phase, pressure, ceiling``,
        ``warning`` (level), ``loss`` (magnitude), ``prophecy`` (predicted stability),
        ``paradox`` (kind), and ``<agent>.capability``, ``.alignment``, ``.guardrail``,
        ``.pressure``, ``.lambda``, ``.gamma`` for every agent."""
        rows = []
        for s in self.steps:
            st = s.state
            row: Dict[str, Any] = {
                "tick": s.tick, "move": s.move, "stability": st.stability, "basin": st.basin, "phase": st.phase,
                "pressure": st.pressure, "ceiling": st.ceiling,
                "warning": s.warning.level if s.warning else None,
                "loss": s.loss.magnitude if s.loss else None,
                "prophecy": s.prophecy.predicted_stability if s.prophecy else None,
                "paradox": s.paradox.kind if s.paradox else None,
            }
            for a in s.agents:
                row[f"{a.id}.capability"] = a.capability
                row[f"{a.id}.alignment"] = a.alignment
                row[f"{a.id}.guardrail"] = a.guardrail
                row[f"{a.id}.pressure"] = a.pressure
                row[f"{a.id}.lambda"] = a.lambda_
                row[f"{a.id}.gamma"] = a.gamma
            rows.append(row)
        return rows

    def to_pandas(self) -> "pandas.DataFrame":
        """A DataFrame with one row a step (the columns of :meth:`to_records`), indexed by tick.

        Needs pandas (``pip install 'kairos-sdk[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - exercised only without pandas
            raise ImportError("Trace.to_pandas() needs pandas: pip install 'kairos-sdk[pandas]'") from e
        frame = pd.DataFrame.from_records(self.to_records())
        if len(frame):
            frame = frame.set_index("tick", drop=False)
            frame.index.name = None
        return frame


@dataclass(frozen=True)
class RunResult:
    """``POST /simulations/run``: the new simulation's id, its engine, and the trace."""

    simulation_id: str
    engine_version: str
    trace: Trace


@dataclass(frozen=True)
class StreamCompletion:
    """The last frame of a streamed run: ``{"done": true, "simulationId", "digest"}``."""

    simulation_id: str
    digest: str
    ticks: int


@dataclass(frozen=True)
class ForkOrigin:
    """Where a fork came from: ``forkedFrom: {simulationId, tick}``."""

    simulation_id: str
    tick: int


@dataclass(frozen=True)
class Simulation:
    """A simulation resource: ``{id, scenarioId, organizationId, engineVersion, status, tick,
    createdAt, state}``, and ``forkedFrom`` on a fork (:meth:`KairosClient.fork`)."""

    id: str
    scenario_id: Optional[str]
    organization_id: Optional[str]
    engine_version: Optional[str]
    status: Optional[str]
    tick: Optional[int]
    created_at: Optional[str]
    state: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    forked_from: Optional[ForkOrigin] = None

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> "Simulation":
        origin = d.get("forkedFrom")
        forked_from = ForkOrigin(origin["simulationId"], origin["tick"]) if isinstance(origin, Mapping) else None
        return cls(d["id"], d.get("scenarioId"), d.get("organizationId"), d.get("engineVersion"), d.get("status"),
                   d.get("tick"), d.get("createdAt"), d.get("state") or {}, dict(d), forked_from)


@dataclass(frozen=True)
class SimulationPage:
    """``GET /simulations``: one page and the pagination."""

    data: List[Simulation]
    limit: int
    offset: int
    total: int

    def __iter__(self) -> Iterator[Simulation]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class StepResult:
    """``POST /simulations/{id}/step``: the state after the step, the ticks computed, the tick reached."""

    state: Dict[str, Any]
    ticks: int
    tick: Optional[int]


@dataclass(frozen=True)
class SimulationEvent:
    """One server-sent event (seed 003): ``type`` (tick, loss, warning, paradox, decree,
    prophecy, simulation:status, error), ``id`` (``<tick>-<n>``) and ``data`` (parsed JSON)."""

    type: str
    id: Optional[str]
    data: Any

    @property
    def event(self) -> str:
        return self.type


@dataclass(frozen=True)
class Health:
    """``GET /health``: status, server version, the engine versions offered, storage."""

    status: str
    version: Optional[str]
    engine_versions: List[str]
    storage: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Organization:
    """``GET /organization``: the caller's organization, its tier and limits as enforced."""

    id: str
    tier: Optional[str]
    limits: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
