"""The ``ai-safety`` domain (seed 000): models scored 0–100 and AI-safety events, sent as
``{"domain": "ai-safety", "input": {...}}`` for the server to lower to a native scenario.

    scenario = (
        AISafetyScenario("sweep_550", seed=550)
        .add_model(name="model", capability_index=550, alignment_score=70, guardrail_coverage=60)
        .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3)
    )
    trace = client.run(scenario, ticks=500)

The builder is immutable: ``add_model`` and ``add_event`` return a new scenario (so one base
scenario can be extended in many ways in a sweep); chain them or assign the result.
"""
from __future__ import annotations

import copy
import enum
from typing import Any, Dict, List, Mapping, Optional, Union

from .._validation import check_request

__all__ = ["AISafetyScenario", "AISafetyEventType", "DOMAIN"]

DOMAIN = "ai-safety"


class AISafetyEventType(str, enum.Enum):
    """The domain's event types (and the native kind each becomes)."""

    CAPABILITY_JUMP = "CAPABILITY_JUMP"  # capability_jump, magnitude 0–10
    ALIGNMENT_BREAKTHROUGH = "ALIGNMENT_BREAKTHROUGH"  # magnitude 0–1
    GUARDRAIL_FAILURE = "GUARDRAIL_FAILURE"  # magnitude 0–1
    GUARDRAIL_UPGRADE = "GUARDRAIL_UPGRADE"  # magnitude 0–1
    INCIDENT = "INCIDENT"  # a shock to the world, magnitude 0–1
    MORATORIUM = "MORATORIUM"  # no capability growth for `ticks` ticks

    def __str__(self) -> str:
        return self.value



class AISafetyScenario:
    """An ``ai-safety`` domain input built step by step.

    :param name: a label for your own bookkeeping (not sent to the server).
    :param seed: the random seed, an integer 0 … 2^53 − 1.
    :param initial_stability: the world's starting stability (0–1; the server's default 0.8).
    :param settings: engine settings (ENGINE.md), sent as given.
    """

    __slots__ = ("name", "seed", "initial_stability", "settings", "_models", "_events")

    def __init__(self, name: str, seed: int = 0, initial_stability: Optional[float] = None,
                 settings: Optional[Mapping[str, Any]] = None) -> None:
        self.name = name
        self.seed = seed
        self.initial_stability = initial_stability
        self.settings = dict(settings) if settings is not None else None
        self._models: List[Dict[str, Any]] = []
        self._events: List[Dict[str, Any]] = []

    def _copy(self) -> "AISafetyScenario":
        other = AISafetyScenario(self.name, self.seed, self.initial_stability, copy.deepcopy(self.settings))
        other._models = [dict(m) for m in self._models]
        other._events = [dict(e) for e in self._events]
        return other

    def add_model(self, name: str, capability_index: float, alignment_score: float, guardrail_coverage: float,
                  growth_rate: Optional[float] = None, lambda_: Optional[float] = None,
                  gamma: Optional[float] = None) -> "AISafetyScenario":
        """A new scenario with one more model (capability index 0–10^6, alignment score and
        guardrail coverage 0–100, optional growth rate, ``lambda_`` and ``gamma`` 0–1)."""
        model: Dict[str, Any] = {"name": name, "capability_index": capability_index, "alignment_score": alignment_score,
                                 "guardrail_coverage": guardrail_coverage}
        if growth_rate is not None:
            model["growth_rate"] = growth_rate
        if lambda_ is not None:
            model["lambda"] = lambda_
        if gamma is not None:
            model["gamma"] = gamma
        other = self._copy()
        other._models.append(model)
        return other

    def add_event(self, tick: int, type: Union[AISafetyEventType, str], target: Optional[str] = None,
                  magnitude: Optional[float] = None, ticks: Optional[int] = None) -> "AISafetyScenario":
        """A new scenario with one more event at ``tick``; ``target`` names a model (else all),
        ``ticks`` is a moratorium's length."""
        event: Dict[str, Any] = {"tick": tick, "type": type.value if isinstance(type, AISafetyEventType) else type}
        if target is not None:
            event["target"] = target
        if magnitude is not None:
            event["magnitude"] = magnitude
        if ticks is not None:
            event["ticks"] = ticks
        other = self._copy()
        other._events.append(event)
        return other

    @property
    def models(self) -> List[Dict[str, Any]]:
        return [dict(m) for m in self._models]

    @property
    def events(self) -> List[Dict[str, Any]]:
        return [dict(e) for e in self._events]

    def to_input(self) -> Dict[str, Any]:
        """The domain input as sent (``input`` of a from-domain or run request)."""
        out: Dict[str, Any] = {"seed": self.seed}
        if self.initial_stability is not None:
            out["initialStability"] = self.initial_stability
        if self.settings is not None:
            out["settings"] = copy.deepcopy(self.settings)
        out["models"] = self.models
        out["events"] = self.events
        return out

    def to_request(self) -> Dict[str, Any]:
        """``{"domain": "ai-safety", "input": {...}}``."""
        return {"domain": DOMAIN, "input": self.to_input()}

    def validate(self) -> "AISafetyScenario":
        """Checks the input with the server's rules; raises ``kairos.errors.ValidationError``."""
        check_request(self.to_request(), max_ticks=None)
        return self

    def __repr__(self) -> str:
        return (f"AISafetyScenario({self.name!r}, seed={self.seed!r}, models={len(self._models)}, "
                f"events={len(self._events)})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AISafetyScenario) and self.to_input() == other.to_input() and self.name == other.name
