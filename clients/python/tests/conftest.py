"""Fixtures: a real ``kairos serve`` (a temporary SQLite database, keys made with
``kairos keys create``) on a free loopback port, and the ``kairos`` binary for embedded runs.

The binary is ``$KAIROS_BIN``, else ``<repo>/.build/debug/kairos``, else
``<repo>/.build/release/kairos`` (``scripts/test`` builds it before running this suite).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

REPO = Path(__file__).resolve().parents[3]
HEAVY = os.environ.get("KAIROS_HEAVY_TESTS", "") not in ("", "0")
ALL_SCOPES = "simulation:read,simulation:write,org:read,usage:read"


def kairos_binary() -> str:
    env = os.environ.get("KAIROS_BIN")
    if env:
        if not os.access(env, os.X_OK):
            pytest.fail(f"KAIROS_BIN={env} is not an executable", pytrace=False)
        return env
    for candidate in (REPO / ".build" / "debug" / "kairos", REPO / ".build" / "release" / "kairos"):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail("no kairos binary: set KAIROS_BIN or build one (swift build) — the SDK is tested against a real "
                "`kairos serve`", pytrace=False)
    raise AssertionError  # unreachable


@dataclass
class Server:
    """A running ``kairos serve``: its URL (without /v1), database, process and keys by name."""

    url: str
    host: str
    port: int
    db: str
    process: subprocess.Popen
    keys: Dict[str, str]
    binary: str
    jwt_secret: str = ""

    def token(self, sub: str, orgs: str, scopes: str = "simulation:read,simulation:write") -> str:
        """``kairos token create``: a bearer JWT signed with the server's secret."""
        out = subprocess.run([self.binary, "token", "create", "--sub", sub, "--orgs", orgs, "--scopes", scopes],
                             check=True, capture_output=True, text=True,
                             env={**os.environ, "KAIROS_JWT_SECRET": self.jwt_secret}).stdout
        return out.strip().splitlines()[-1].strip()

    def create_key(self, org: str, tier: str = "strategic", scopes: str = ALL_SCOPES) -> str:
        return create_key(self.binary, self.db, org, tier, scopes)


def create_key(binary: str, db: str, org: str, tier: str, scopes: str) -> str:
    """``kairos keys create``: the key, alone on the last line of its output."""
    out = subprocess.run([binary, "keys", "create", "--db", db, "--org", org, "--tier", tier, "--scopes", scopes],
                         check=True, capture_output=True, text=True).stdout
    key = out.strip().splitlines()[-1].strip()
    assert key.startswith("krs_"), out
    return key


def start_server(binary: str, db: str, *options: str, env: Dict[str, str] = None) -> subprocess.Popen:
    return subprocess.Popen([binary, "serve", "--db", db, "--port", "0", "--log-level", "warning", *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _launch(binary: str, tmp: str, keys: Dict[str, tuple], *options: str, env: Dict[str, str] = None) -> Server:
    db = os.path.join(tmp, "kairos.db")
    made = {name: create_key(binary, db, *spec) for name, spec in keys.items()}
    process = start_server(binary, db, *options, env=env)
    line = process.stdout.readline()
    match = re.search(r"http://([0-9.]+):(\d+)", line)
    if not match:
        process.kill()
        err = process.stderr.read()
        raise RuntimeError(f"kairos serve did not start: {line!r} {err!r}")
    host, port = match.group(1), int(match.group(2))
    return Server(f"http://{host}:{port}", host, port, db, process, made, binary)


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


@pytest.fixture(scope="session")
def kairos_bin() -> str:
    return kairos_binary()


@pytest.fixture(scope="session")
def server(kairos_bin: str) -> Iterator[Server]:
    """The main server: limits × 10 (the suite creates a few hundred simulations a minute);
    keys: ``main`` (strategic, every scope, organization ``org_id`` — the seed's
    ``organization_id="org_id"``), ``reader`` (simulation:read only), ``other`` (another
    organization)."""
    tmp = tempfile.mkdtemp(prefix="kairos-sdk-test-")
    keys = {
        "main": ("org_id", "strategic", ALL_SCOPES),
        "reader": ("org_id", "strategic", "simulation:read"),
        "other": ("other-org", "strategic", ALL_SCOPES),
    }
    secret = secrets.token_urlsafe(48)
    s = _launch(kairos_bin, tmp, keys, "--rate-limit-multiplier", "10",
                env={"KAIROS_SSE_HEARTBEAT_SECONDS": "1", "KAIROS_JWT_SECRET": secret})
    s.jwt_secret = secret
    try:
        yield s
    finally:
        _stop(s)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def strict_server(kairos_bin: str) -> Iterator[Server]:
    """A server with the seed's limits as they are (multiplier 1) and a community key: 10
    creates a minute, one SSE stream."""
    tmp = tempfile.mkdtemp(prefix="kairos-sdk-strict-")
    s = _launch(kairos_bin, tmp, {"community": ("small-lab", "community", ALL_SCOPES)})
    try:
        yield s
    finally:
        _stop(s)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture()
def kairos_env(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """KAIROS_URL and KAIROS_API_KEY set to the main server and key (what the seed's code reads)."""
    monkeypatch.setenv("KAIROS_URL", server.url)
    monkeypatch.setenv("KAIROS_API_KEY", server.keys["main"])
    monkeypatch.delenv("KAIROS_TOKEN", raising=False)
    return server


def run_cli(binary: str, *args: str, cwd: str = None, timeout: float = 300) -> str:
    out = subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd or str(REPO), timeout=timeout)
    if out.returncode != 0:
        raise AssertionError(f"kairos {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def simulate_digest(binary: str, request: dict, ticks: int, engine: str = None, tmpdir: str = None) -> str:
    """``kairos simulate FILE --ticks N --output digest`` of a request on the embedded engine."""
    import json

    fd, path = tempfile.mkstemp(suffix=".json", dir=tmpdir)
    with os.fdopen(fd, "w") as f:
        json.dump(request, f)
    try:
        args = ["simulate", path, "--ticks", str(ticks), "--output", "digest"]
        if engine:
            args += ["--engine", engine]
        return run_cli(binary, *args).strip()
    finally:
        os.unlink(path)


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    if HEAVY:
        return
    skip = pytest.mark.skip(reason="heavy: set KAIROS_HEAVY_TESTS=1")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    from figures import FIGURES

    if FIGURES:
        terminalreporter.section("kairos SDK figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
