import asyncio
from kairos import KairosClient
from kairos.domains.ai_safety import AISafetyScenario, AISafetyEventType
async def capability_sweep():
    """Sweep over capability values to find the critical destabilization threshold."""
    client = KairosClient()
    async def run_one(capability):
        scenario = (
        AISafetyScenario(f"sweep_{capability}", seed=capability)
        .add_model(
        name="model",
        capability_index=capability,
        alignment_score=70,
        guardrail_coverage=60,
        )
        .add_event(100, AISafetyEventType.CAPABILITY_JUMP, target="model", magnitude=0.3)
        )
        trace = await client.arun(scenario, ticks=500)
        return {
        "capability": capability,
        "final_phase": trace.final_phase(),
        "mean_stability": trace.mean_stability(),
        "basin_losses": len(trace.basin_losses()),
        }
    # Run 50 simulations concurrently
    tasks = [run_one(cap) for cap in range(100, 1001, 18)]
    results = await asyncio.gather(*tasks)
    for r in results:
        print(f" cap={r['capability']:>4} phase={r['final_phase']:<10} "
        f"stability={r['mean_stability']:.4f} losses={r['basin_losses']}")
asyncio.run(capability_sweep())
