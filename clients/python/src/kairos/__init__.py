"""Kairos: the Python SDK of the Kairos simulation API (``kairos serve``).

::

    from kairos import KairosClient
    from kairos.domains.ai_safety import AISafetyScenario, AISafetyEventType

    client = KairosClient()      # KAIROS_URL and KAIROS_API_KEY from the environment
    scenario = (
        AISafetyScenario("sweep_550", seed=550)
        .add_model(name="model", capability_index=550, alignment_score=70, guardrail_coverage=60)
        .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3)
    )
    trace = client.run(scenario, ticks=500)
    print(trace.final_phase(), trace.mean_stability(), len(trace.basin_losses()), trace.digest)
"""
__version__ = "0.1.0"

from . import errors  # noqa: E402
from ._canonical import canonical_json, canonical_step, ecmascript_number  # noqa: E402
from .client import DEFAULT_URL, AsyncRunStream, KairosClient, RunStream, ScenarioLike  # noqa: E402
from .domains.ai_safety import AISafetyEventType, AISafetyScenario  # noqa: E402
from .errors import (APIConnectionError, APITimeoutError, AuthenticationError, ConfigurationError,  # noqa: E402
                     DigestMismatchError, EngineVersionError, IdempotencyError, KairosError, NotFoundError,
                     PermissionDeniedError, RateLimitError, SimulationError, ValidationError, ValidationIssue)
from .models import (AgentSnapshot, BasinLoss, Health, Organization, Paradox, Prophecy, RunResult,  # noqa: E402
                     ForkOrigin, Simulation, SimulationEvent, SimulationPage, StabilityWarning, StepResult, StreamCompletion,
                     Trace, TraceMetadata, TraceStep, WorldState)

__all__ = [
    "__version__", "KairosClient", "RunStream", "AsyncRunStream", "ScenarioLike", "DEFAULT_URL", "errors",
    "AISafetyScenario", "AISafetyEventType",
    "Trace", "TraceStep", "TraceMetadata", "WorldState", "AgentSnapshot", "StabilityWarning", "BasinLoss", "Prophecy",
    "Paradox", "RunResult", "ForkOrigin", "Simulation", "SimulationPage", "StepResult", "SimulationEvent", "Health", "Organization",
    "StreamCompletion",
    "KairosError", "AuthenticationError", "PermissionDeniedError", "NotFoundError", "RateLimitError",
    "ValidationError", "ValidationIssue", "EngineVersionError", "IdempotencyError", "SimulationError",
    "APIConnectionError", "APITimeoutError", "DigestMismatchError", "ConfigurationError",
    "canonical_json", "canonical_step", "ecmascript_number",
]
