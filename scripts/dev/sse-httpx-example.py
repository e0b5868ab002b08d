# Seed 003's Python example, run as written: only the URL and the key are swapped (taken from
# KAIROS_EVENTS_URL and KAIROS_API_KEY). It streams until stopped; run it against a playing
# simulation (httpx's default 5 s read timeout ends it on an idle stream, whose heartbeat is
# every 30 s). Needs `pip install httpx`. LiveServerTests runs it when KAIROS_HEAVY_TESTS=1.
import os

import json
import httpx

url = os.environ["KAIROS_EVENTS_URL"]
headers = {"X-Api-Key": os.environ["KAIROS_API_KEY"]}

with httpx.stream("GET", url, headers=headers) as response:
    for line in response.iter_lines():
        if line.startswith("data:"):
            payload = line.removeprefix("data:").strip()
            if payload:
                event = json.loads(payload)
                print(event)
