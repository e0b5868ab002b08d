#!/usr/bin/env python3
"""Opens N idle/garbage/slow connections to a fresh `kairos serve` on loopback and probes
/v1/health meanwhile (issue 16's attack, bounded: stops by itself).

Usage: scripts/dev/connection-flood.py [--connections 10000] [--server-args "--idle-timeout 10"]
Needs the debug binary (KAIROS_BIN overrides). Raise `ulimit -n` above N + a few hundred.
"""
import argparse
import os
import resource
import shlex
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kairos_server import start_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def health(port, timeout=3.0):
    """Status of one GET /v1/health (0: no answer) and the seconds it took."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(64)
            return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1 ") else 0, time.monotonic() - started
    except OSError:
        return 0, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--server-args", default="--idle-timeout 10 --read-timeout 10")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 1024)), hard))
    binary = os.environ.get("KAIROS_BIN") or os.path.join(ROOT, ".build/debug/kairos")
    db = os.path.join(tempfile.mkdtemp(prefix="kairos-flood-"), "kairos.db")
    server, port = start_server(binary, db, *shlex.split(args.server_args))
    held, refused, failed, probes = [], 0, 0, []
    started = time.monotonic()
    try:
        for i in range(args.connections):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            kind = i % 3
            try:
                if kind == 0:
                    time.sleep(0)
                    s.setblocking(True)
                    s.settimeout(0.5)
                    s.sendall(b"FOO / HTTP/1.1\r\n\r\n")
                elif kind == 1:
                    s.setblocking(True)
                    s.settimeout(0.5)
                    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            except OSError:
                failed += 1
            held.append(s)
            if i % 1000 == 999:
                probes.append((i + 1, *health(port)))
        opened = time.monotonic() - started
        # Then health every 0.5 s until it answers 200 (bounded).
        after = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status, took = health(port)
            if status == 200:
                after = time.monotonic() - started
                break
            time.sleep(0.5)
        for s in held:
            try:
                s.setblocking(True)
                s.settimeout(0.01)
                if s.recv(12).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except OSError:
                pass
        print(f"{args.connections} connections opened in {opened:.1f} s ({failed} sends failed); "
              f"health probes (after N connections, status, seconds): {[(n, st, round(t, 3)) for n, st, t in probes]}; "
              f"health 200 at {after if after is None else round(after, 1)} s after the start; {refused} saw a 503")
    finally:
        for s in held:
            s.close()
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
