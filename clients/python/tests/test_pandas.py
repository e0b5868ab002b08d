"""Trace.to_pandas(): one row a step, flattened state columns."""
import pytest

from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyEventType, AISafetyScenario

pd = pytest.importorskip("pandas")


def test_to_pandas(server):
    scenario = (AISafetyScenario("df", seed=7)
                .add_model(name="frontier", capability_index=900, alignment_score=60, guardrail_coverage=50)
                .add_model(name="lab", capability_index=300, alignment_score=80, guardrail_coverage=70)
                .add_event(50, AISafetyEventType.CAPABILITY_JUMP, target="frontier", magnitude=0.5))
    trace = KairosClient(server.url, server.keys["main"]).run(scenario, ticks=400)
    df = trace.to_pandas()
    assert len(df) == 400
    for column in ("tick", "move", "stability", "basin", "phase", "pressure", "ceiling", "warning", "loss",
                   "frontier.capability", "frontier.alignment", "frontier.guardrail", "frontier.lambda",
                   "lab.gamma", "lab.pressure"):
        assert column in df.columns, column
    assert list(df["tick"]) == [s.tick for s in trace.steps]
    assert df["stability"].mean() == pytest.approx(trace.mean_stability(), rel=1e-12)
    assert df.loc[trace.steps[50].tick, "move"] == "capability_jump"
    assert df["frontier.capability"].iloc[-1] == trace.steps[-1].agents[0].capability
    assert int(df["loss"].notna().sum()) == len(trace.basin_losses())
