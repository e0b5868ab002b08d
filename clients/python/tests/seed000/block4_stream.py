# Yields TraceStep objects iteratively over a WebSocket
for step in client.stream_run(scenario, ticks=100_000):
    if step.stability < 0.1:
        print(f"Danger at tick {step.t}")
