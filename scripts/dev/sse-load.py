#!/usr/bin/env python3
"""1 000 concurrent SSE clients on one playing simulation (issue 6), no dependencies.

Starts `kairos serve` (a release build by default) with a raised --rate-limit-multiplier,
creates a key and a simulation, opens CLIENTS raw-socket SSE streams (asyncio), plays the
simulation for SECONDS at SPEED, pauses it, and checks that every client received every tick
id from 0 to the final tick exactly once (none missing, none duplicated). Prints the figures
and the server's peak RSS (VmHWM).

    scripts/dev/sse-load.py [--clients 1000] [--seconds 10] [--speed 1] [--binary .build/release/kairos]
    scripts/dev/sse-load.py --cluster DIR [--clients 1000] …

With --cluster, no server is started: DIR is a running `scripts/cluster up` (its
KAIROS_CLUSTER_DIR, started with a raised --rate-limit-multiplier); clients are spread
round-robin over its replicas, commands go through HAProxy, and each replica's peak RSS is shown.
"""
import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import urllib.request

from kairos_server import create_key, peak_rss_kib, start_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def http(base, method, path, key, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"X-Api-Key": key})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Client:
    """One SSE stream: de-chunks the body and records the id of every tick event."""

    def __init__(self):
        self.ticks = []
        self.status = None
        self.heartbeats = 0

    async def run(self, host, port, path, key, ready):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Api-Key: {key}\r\n"
                     f"Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        ready()
        if self.status != 200:
            writer.close()
            return
        body = b""
        try:
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                chunk = await reader.readexactly(size + 2)
                body += chunk[:-2]
                while b"\n\n" in body:
                    frame, body = body.split(b"\n\n", 1)
                    lines = frame.split(b"\n")
                    event = next((l[7:] for l in lines if l.startswith(b"event: ")), b"")
                    if event == b"tick":
                        self.ticks.append(next(l[4:] for l in lines if l.startswith(b"id: ")).decode())
                    elif event == b"heartbeat":
                        self.heartbeats += 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def main_async(args, base, port, key, sim, server_pid, ports=None, pids=None):
    clients = [Client() for _ in range(args.clients)]
    connected = 0
    all_ready = asyncio.Event()

    def ready():
        nonlocal connected
        connected += 1
        if connected == args.clients:
            all_ready.set()

    started = time.monotonic()
    ports = ports or [port]
    tasks = [asyncio.create_task(c.run("127.0.0.1", ports[i % len(ports)], f"{sim}/events", key, ready))
             for i, c in enumerate(clients)]
    await asyncio.wait_for(all_ready.wait(), timeout=120)
    statuses = {}
    for c in clients:
        statuses[c.status] = statuses.get(c.status, 0) + 1
    print(f"{args.clients} clients connected in {time.monotonic() - started:.2f} s (statuses {statuses})")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, http, base, "PUT", f"{sim}/time-control", key, {"action": "play", "speed": args.speed})
    played = time.monotonic()
    await asyncio.sleep(args.seconds)
    paused = await loop.run_in_executor(None, http, base, "PUT", f"{sim}/time-control", key, {"action": "pause"})
    final = paused["tick"]
    print(f"played {final} ticks in {time.monotonic() - played:.2f} s at speed {args.speed}")
    expected = list(range(final))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(len(set(c.ticks)) < final for c in clients):
        await asyncio.sleep(0.2)
    peaks = [peak_rss_kib(pid) for pid in (pids or [server_pid])]
    peak = max(peaks)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # A tick event's id is <t>-<n> (n > 0 when a status change or decree came first in group t).
    received = [[int(i.split("-")[0]) for i in c.ticks] for c in clients]
    missing = sum(len(set(expected) - set(r)) for r in received)
    duplicated = sum(len(c.ticks) - len(set(c.ticks)) for c in clients)
    out_of_order = sum(1 for r in received if r != sorted(r))
    complete = sum(1 for r in received if r == expected)
    print(f"clients {args.clients}, ticks 0..{final - 1} ({final}), complete {complete}, missing {missing}, "
          f"duplicated {duplicated}, out of order {out_of_order}, server peak RSS {peak / 1024:.1f} MiB")
    if pids:
        print("peak RSS per replica: " + ", ".join(f"{p / 1024:.1f} MiB" for p in peaks))
    return complete == args.clients and final > 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--speed", type=float, default=1)
    parser.add_argument("--binary", default=os.environ.get("KAIROS_BINARY", os.path.join(ROOT, ".build/release/kairos")))
    parser.add_argument("--cluster", help="state folder of a running scripts/cluster up")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the server inherits it
    if args.cluster:
        def read(name):
            with open(os.path.join(args.cluster, name)) as f:
                return f.read().strip()
        n = int(read("replicas"))
        ports = [int(read(f"replica-{i}.port")) for i in range(1, n + 1)]
        pids = [int(read(f"replica-{i}.pid")) for i in range(1, n + 1)]
        key = read("key")
        base = "http://127.0.0.1:" + read("port")
        sim = "/v1/simulations/" + http(base, "POST", "/v1/simulations", key, {"scenarioId": "capability-divergence"})["id"]
        ok = asyncio.run(main_async(args, base, ports[0], key, sim, pids[0], ports, pids))
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    work = tempfile.mkdtemp(prefix="kairos-sse-load-")
    db = os.path.join(work, "kairos.db")
    key = create_key(args.binary, db, "--org", "load", "--tier", "professional", "--scopes", "simulation:read,simulation:write")
    multiplier = max(1, (args.clients + 4) // 5)
    server, port = start_server(args.binary, db, "--rate-limit-multiplier", str(multiplier))
    try:
        base = f"http://127.0.0.1:{port}"
        sim = "/v1/simulations/" + http(base, "POST", "/v1/simulations", key, {"scenarioId": "capability-divergence"})["id"]
        ok = asyncio.run(main_async(args, base, port, key, sim, server.pid))
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
