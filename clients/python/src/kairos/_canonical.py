"""RFC 8785 (JCS) canonical JSON and the trace digest, exactly as the engine writes them.

A trace's digest is ``"sha256:" + hex(SHA-256(line₁ + "\\n" + line₂ + "\\n" + …))`` where each
line is the canonical JSON of one step: object keys sorted by UTF-16 code units, no
whitespace, numbers printed as ECMAScript's ``Number.prototype.toString`` prints them
(``1`` not ``1.0``, ``1e-7``, ``1e+21``, ``-0`` as ``0``), strings with only the escapes
RFC 8785 requires. This module mirrors ``Sources/KairosEngine/CanonicalJSON.swift``.
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable, Mapping, Optional

__all__ = ["canonical_json", "ecmascript_number", "canonical_step", "TraceDigest", "digest_of_steps"]

_TWO_53 = 9_007_199_254_740_992


def ecmascript_number(value: float) -> str:
    """The text ECMAScript's ``Number.prototype.toString`` gives a finite double."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a JSON number")
    if isinstance(value, int):
        if -_TWO_53 < value < _TWO_53:
            return str(value)
        value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        raise ValueError(f"{value!r} has no JSON form (NaN and infinities are not JSON)")
    magnitude = abs(value)
    if magnitude < _TWO_53 and value == int(value):
        return str(int(value))
    text = repr(magnitude)  # Python's shortest round-trip digits, like ECMAScript's
    sign = "-" if value < 0 else ""
    if "e" not in text and not text.endswith("0"):
        # Python prints 1e-4 ≤ x < 1e16 without an exponent, already in ECMAScript's layout.
        return sign + text
    return sign + _relayout(text)


def _relayout(text: str) -> str:
    """Python's ``repr`` text (``1e-07``, ``1.5e+300``, ``1e+16``) in ECMAScript's layout."""
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part)
    lead = 0
    while lead < len(digits) - 1 and digits[lead] == "0":
        lead += 1
    end = len(digits)
    while end > lead + 1 and digits[end - 1] == "0":
        end -= 1
    s = digits[lead:end]
    k = len(s)
    n = point - lead + exponent
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + s
    e = n - 1
    head = s[0] + ("." + s[1:] if k > 1 else "")
    return head + "e" + ("-" if e < 0 else "+") + str(abs(e))


_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def _string(value: str) -> str:
    # json's encoder with ensure_ascii=False escapes exactly what RFC 8785 escapes:
    # \" \\ \b \f \n \r \t and other control characters as \u00xx (lowercase hex).
    return _encode_string(value)


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (int, float)):
        out.append(ecmascript_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> str:
    """The RFC 8785 canonical text of a JSON value (dicts, lists, str, int, float, bool, None)."""
    out: list = []
    _write(value, out)
    return "".join(out)


_n = ecmascript_number
_s = _string


def canonical_step(step: Mapping[str, Any]) -> str:
    """The canonical line of one trace step (as the API sends it in ``trace.steps``).

    Like the Swift client, the step is read as the engine's step type and written back:
    exactly the fields ``agents, loss, move, paradox, prophecy, state, tick, warning`` (absent
    optional ones as ``null``); anything else a server adds is not part of the digest.
    Raises ``KeyError``/``TypeError``/``ValueError`` when the step lacks a required field.
    """
    parts = ['{"agents":[']
    for i, a in enumerate(step["agents"]):
        p, st = a["policy"], a["state"]
        if i:
            parts.append(",")
        parts.append(
            '{"id":%s,"policy":{"gamma":%s,"lambda":%s},"state":{"alignment":%s,"capability":%s,'
            '"guardrail":%s,"pressure":%s}}'
            % (_s(a["id"]), _n(p["gamma"]), _n(p["lambda"]), _n(st["alignment"]), _n(st["capability"]),
               _n(st["guardrail"]), _n(st["pressure"]))
        )
    parts.append('],"loss":')
    loss = step.get("loss")
    if loss is None:
        parts.append("null")
    else:
        agent = loss.get("agent")
        parts.append('{"agent":%s,"basin":%s,"magnitude":%s,"tick":%s}'
                     % ("null" if agent is None else _s(agent), _int(loss["basin"]), _n(loss["magnitude"]),
                        _int(loss["tick"])))
    parts.append(',"move":')
    parts.append(_s(step["move"]))
    parts.append(',"paradox":')
    paradox = step.get("paradox")
    if paradox is None:
        parts.append("null")
    else:
        parts.append('{"kind":%s,"prophecy":%s,"tick":%s}'
                     % (_s(paradox["kind"]), _int(paradox["prophecy"]), _int(paradox["tick"])))
    parts.append(',"prophecy":')
    prophecy = step.get("prophecy")
    if prophecy is None:
        parts.append("null")
    else:
        predicted = prophecy.get("predictedLoss")
        parts.append('{"horizon":%s,"id":%s,"predictedLoss":%s,"predictedStability":%s,"tick":%s}'
                     % (_int(prophecy["horizon"]), _int(prophecy["id"]),
                        "null" if predicted is None else _int(predicted), _n(prophecy["predictedStability"]),
                        _int(prophecy["tick"])))
    state = step["state"]
    phase = state["phase"]
    if phase not in ("stable", "strained", "critical", "collapsed"):
        raise ValueError(f"unknown phase {phase!r}")
    parts.append(',"state":{"basin":%s,"ceiling":%s,"phase":"%s","pressure":%s,"stability":%s},"tick":%s,"warning":'
                 % (_int(state["basin"]), _n(state["ceiling"]), phase, _n(state["pressure"]), _n(state["stability"]),
                    _int(step["tick"])))
    warning = step.get("warning")
    if warning is None:
        parts.append("null")
    else:
        level = warning["level"]
        if level not in ("caution", "danger"):
            raise ValueError(f"unknown warning level {level!r}")
        parts.append('{"level":"%s","stability":%s,"threshold":%s}'
                     % (level, _n(warning["stability"]), _n(warning["threshold"])))
    parts.append("}")
    return "".join(parts)


def _int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, float):
        if value != int(value) or abs(value) >= _TWO_53:
            raise ValueError(f"expected an integer, got {value!r}")
        value = int(value)
    return str(value)


class TraceDigest:
    """An incremental trace digest: add canonical lines (without their newline), then
    :meth:`hexdigest` gives ``sha256:…``."""

    __slots__ = ("_hash", "count")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def add_line(self, line: "bytes | str") -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self._hash.update(line)
        self._hash.update(b"\n")
        self.count += 1

    def add_lines(self, lines: bytes) -> None:
        """Adds whole canonical lines, each already followed by its newline."""
        self._hash.update(lines)
        self.count += lines.count(b"\n")

    def hexdigest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def digest_of_steps(steps: Iterable[Mapping[str, Any]], digest: Optional[TraceDigest] = None) -> str:
    """The digest of wire steps (dicts), each written canonically."""
    d = digest or TraceDigest()
    for step in steps:
        d.add_line(canonical_step(step))
    return d.hexdigest()
