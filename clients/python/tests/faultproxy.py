"""A fault-injecting HTTP proxy in front of a real ``kairos serve`` (asyncio, its own thread).

Each request the proxy accepts takes the next queued fault whose ``match`` (method, path
prefix) fits it, else it is forwarded untouched. Faults:

- ``Status(code, headers, body)``: answer at once, never forwarding (429 with Retry-After,
  502, 503, …).
- ``DropAfterForward()``: forward, let the server execute it, then close the client's
  connection without an answer (a create whose connection died after it was executed).
- ``DropBeforeForward()``: close the connection without forwarding.
- ``Tamper(old, new)``: forward, then replace ``old`` by ``new`` (same length) in the body.
- ``CutStream(events)``: forward a streaming answer (SSE) but cut the connection after
  ``events`` complete events (``\\n\\n``) have gone through.

``requests`` records ``(method, path, headers)`` of every request received, in order.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Fault:
    method: Optional[str] = None
    path: Optional[str] = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


@dataclass
class Status(Fault):
    code: int = 503
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class DropAfterForward(Fault):
    pass


@dataclass
class DropBeforeForward(Fault):
    pass


@dataclass
class Tamper(Fault):
    old: bytes = b""
    new: bytes = b""


@dataclass
class CutStream(Fault):
    events: int = 1


_REASONS = {200: "OK", 400: "Bad Request", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults: List[Fault] = []
        self.requests: List[Tuple[str, str, Dict[str, str]]] = []
        # (method, path, status) of what the proxy answered: a fault's status, the server's
        # status line, or 0 when it dropped the connection.
        self.answers: List[Tuple[str, str, int]] = []
        self.upstream_requests = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")
        self._server: Optional[asyncio.AbstractServer] = None
        self.port = 0
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.answers.clear()
            self.upstream_requests = 0

    def _take(self, method: str, path: str) -> Optional[Fault]:
        with self._lock:
            for i, f in enumerate(self.faults):
                if f.matches(method, path):
                    return self.faults.pop(i)
        return None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            # Connections still open (an SSE stream the test left): end their handlers.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers: Dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                with self._lock:
                    self.requests.append((method, target, dict(headers)))
                fault = self._take(method, target)
                keep_open = await self._serve(fault, method, target, lines, headers, body, reader, writer)
                if not keep_open:
                    return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _serve(self, fault: Optional[Fault], method: str, target: str, lines: List[str], headers: Dict[str, str],
                     body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        def answered(status: int) -> None:
            with self._lock:
                self.answers.append((method, target, status))

        if isinstance(fault, Status):
            answered(fault.code)
            extra = "".join(f"{k}: {v}\r\n" for k, v in fault.headers.items())
            writer.write((f"HTTP/1.1 {fault.code} {_REASONS.get(fault.code, 'Error')}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(fault.body)}\r\n{extra}\r\n").encode()
                         + fault.body)
            await writer.drain()
            return True
        if isinstance(fault, DropBeforeForward):
            answered(0)
            return False
        # Forward, one upstream connection per request (Connection: close both ways).
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        with self._lock:
            self.upstream_requests += 1
        out = [lines[0]]
        for line in lines[1:]:
            if line and not line.lower().startswith("connection:"):
                out.append(line)
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if upgrade:
            out.append("Connection: Upgrade")
        else:
            out.append("Connection: close")
        up_writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)
        await up_writer.drain()
        try:
            if upgrade:
                await self._pipe_both(reader, writer, up_reader, up_writer)
                return False
            resp_head = await up_reader.readuntil(b"\r\n\r\n")
            status_line, *resp_lines = resp_head.decode("latin-1").split("\r\n")
            answered(0 if isinstance(fault, DropAfterForward) else int(status_line.split(" ")[1]))
            resp_lines = [ln for ln in resp_lines if ln and not ln.lower().startswith("connection:")]
            new_head = ("\r\n".join([status_line, *resp_lines, "Connection: close"]) + "\r\n\r\n").encode("latin-1")
            if isinstance(fault, DropAfterForward):
                await up_reader.read()  # the server has answered: it executed the request
                return False
            if isinstance(fault, Tamper):
                rest = await up_reader.read()
                writer.write(new_head + rest.replace(fault.old, fault.new, 1))
                await writer.drain()
                return False
            writer.write(new_head)
            seen = 0
            carry = b""
            while True:
                chunk = await up_reader.read(65536)
                if not chunk:
                    break
                if isinstance(fault, CutStream):
                    text = carry + chunk
                    cut_at = None
                    start = 0
                    while True:
                        i = text.find(b"\n\n", start)
                        if i < 0:
                            break
                        seen += 1
                        start = i + 2
                        if seen >= fault.events:
                            cut_at = i + 2 - len(carry)
                            break
                    if cut_at is not None:
                        writer.write(chunk[:max(cut_at, 0)])
                        await writer.drain()
                        writer.transport.abort()
                        return False
                    carry = text[-1:]
                writer.write(chunk)
                await writer.drain()
            return False
        finally:
            up_writer.close()

    @staticmethod
    async def _pipe_both(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up_reader: asyncio.StreamReader,
                         up_writer: asyncio.StreamWriter) -> None:
        """Relays an upgraded connection (WebSocket) both ways until either side closes."""

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
