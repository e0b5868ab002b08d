# Pins your client to a specific release of the continuous physics engine.
client = KairosClient(engine_version="1.4.4")
