"""An incremental ``text/event-stream`` reader (the WHATWG rules: ``field: value`` lines,
``data`` lines joined by newlines, a blank line ends an event, ``:`` lines are comments,
CRLF, CR or LF line ends). Mirrors the Swift client's ``ServerSentEventParser``."""
from __future__ import annotations

from typing import List, NamedTuple, Optional


class RawEvent(NamedTuple):
    id: Optional[str]
    event: str
    data: str


class SSEParser:
    def __init__(self) -> None:
        self._buffer = b""
        self._id: Optional[str] = None
        self._event = ""
        self._data: List[str] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> List[RawEvent]:
        """Feeds bytes; returns the events they complete."""
        events: List[RawEvent] = []
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        data = self._buffer + chunk
        start = 0
        n = len(data)
        i = 0
        while i < n:
            b = data[i]
            if b == 0x0A or b == 0x0D:
                line = data[start:i]
                if b == 0x0D:
                    if i + 1 < n:
                        if data[i + 1] == 0x0A:
                            i += 1
                    else:
                        self._pending_cr = True
                event = self._line(line)
                if event is not None:
                    events.append(event)
                start = i + 1
            i += 1
        self._buffer = data[start:]
        return events

    def _line(self, raw: bytes) -> Optional[RawEvent]:
        if not raw:
            if not self._data and not self._event:
                return None
            event = RawEvent(self._id, self._event or "message", "\n".join(self._data))
            self._event = ""
            self._data = []
            return event
        if raw[:1] == b":":
            return None
        text = raw.decode("utf-8", "replace")
        field, sep, value = text.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None
