"""The client's pre-flight check: the request rules of the server's ``ScenarioRequest`` and
``AISafetyValidator`` (Sources/KairosAPI, Sources/KairosEngine/AISafetyDomain.swift), run
before anything is sent so a bad scenario fails at once with every issue by path.

Native scenarios are checked for their shape only (an object with ``seed``, ``agents`` and
``initialState``); their physics ranges are the server's to judge, as are unknown catalog ids,
domains and engine versions (a newer server may offer them).
"""
from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence

from .errors import ValidationError, ValidationIssue

MAX_SEED = (1 << 53) - 1
MAX_TICKS_PER_REQUEST = 10_000
MAX_STREAM_TICKS = 1_000_000

EVENT_TYPES = ("CAPABILITY_JUMP", "ALIGNMENT_BREAKTHROUGH", "GUARDRAIL_FAILURE", "GUARDRAIL_UPGRADE", "INCIDENT",
               "MORATORIUM")
# The native kind's magnitude range (None: no magnitude field), ENGINE.md.
_MAGNITUDE = {"CAPABILITY_JUMP": (0.0, 10.0), "ALIGNMENT_BREAKTHROUGH": (0.0, 1.0), "GUARDRAIL_FAILURE": (0.0, 1.0),
              "GUARDRAIL_UPGRADE": (0.0, 1.0), "INCIDENT": (0.0, 1.0), "MORATORIUM": None}


def _fmt(x: float) -> str:
    from ._canonical import ecmascript_number
    return ecmascript_number(x)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def closest_name(name: str, candidates: Sequence[str]) -> Optional[str]:
    """The closest candidate by edit distance, when close enough to suggest (the server's rule)."""
    a = name.lower()
    best = None
    for cand in candidates:
        b = cand.lower()
        row = list(range(len(b) + 1))
        for i in range(1, len(a) + 1):
            prev = row[0]
            row[0] = i
            for j in range(1, len(b) + 1):
                cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (0 if a[i - 1] == b[j - 1] else 1))
                prev = cur
        dist = row[len(b)] if a else len(b)
        if best is None or dist < best[1]:
            best = (cand, dist)
    if best is None:
        return None
    limit = max(1, min(3, (len(name) + 2) // 3))
    return best[0] if 0 < best[1] <= limit and best[1] < len(name) else None


class _Issues:
    def __init__(self) -> None:
        self.issues: List[ValidationIssue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(ValidationIssue(path, message))

    @staticmethod
    def join(base: str, key: str) -> str:
        return f"{base}.{key}" if base else key

    def obj(self, v: Any, path: str, allowed: Sequence[str]) -> Optional[Mapping[str, Any]]:
        if not isinstance(v, Mapping):
            self.add(path, f"expected an object, got {_type_name(v)}")
            return None
        for k in v:
            if k not in allowed:
                hint = closest_name(k, allowed)
                self.add(self.join(path, k), "unknown field" + (f' (did you mean "{hint}"?)' if hint else ""))
        return v

    def required(self, o: Mapping[str, Any], key: str, path: str) -> Any:
        if key not in o:
            self.add(self.join(path, key), "is required")
            return _MISSING
        return o[key]

    def number(self, v: Any, path: str, lo: float, hi: float) -> Optional[float]:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.add(path, f"expected a number, got {_type_name(v)}")
            return None
        if isinstance(v, float) and not math.isfinite(v):
            self.add(path, "must be a finite number")
            return None
        if not lo <= v <= hi:
            self.add(path, f"must be between {_fmt(lo)} and {_fmt(hi)}")
            return None
        return float(v)

    def integer(self, v: Any, path: str, lo: float, hi: float) -> Optional[int]:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.add(path, f"expected an integer, got {_type_name(v)}")
            return None
        if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
            self.add(path, "must be an integer")
            return None
        if not lo <= v <= hi:
            self.add(path, f"must be an integer between {_fmt(lo)} and {_fmt(hi)}")
            return None
        return int(v)

    def string(self, v: Any, path: str) -> Optional[str]:
        if not isinstance(v, str):
            self.add(path, f"expected a string, got {_type_name(v)}")
            return None
        return v

    def array(self, v: Any, path: str) -> Optional[Sequence[Any]]:
        if not isinstance(v, (list, tuple)):
            self.add(path, f"expected an array, got {_type_name(v)}")
            return None
        return v


_MISSING = object()


def _check_ai_safety(v: Any, path: str, c: _Issues) -> None:
    o = c.obj(v, path, ["seed", "initialStability", "settings", "models", "events"])
    if o is None:
        return
    if "seed" in o:
        c.integer(o["seed"], c.join(path, "seed"), 0, MAX_SEED)
    if "initialStability" in o:
        c.number(o["initialStability"], c.join(path, "initialStability"), 0, 1)
    if "settings" in o and not isinstance(o["settings"], Mapping):
        c.add(c.join(path, "settings"), f"expected an object, got {_type_name(o['settings'])}")
    names: List[str] = []
    models = c.required(o, "models", path)
    if models is not _MISSING:
        lst = c.array(models, c.join(path, "models"))
        if lst is not None:
            if len(lst) > 1000:
                c.add(c.join(path, "models"), "at most 1000 models")
            for i, item in enumerate(lst[:1000]):
                mp = f"{c.join(path, 'models')}[{i}]"
                m = c.obj(item, mp, ["name", "capability_index", "alignment_score", "guardrail_coverage",
                                     "growth_rate", "lambda", "gamma"])
                if m is None:
                    continue
                nv = c.required(m, "name", mp)
                name = c.string(nv, c.join(mp, "name")) if nv is not _MISSING else None
                if name is not None:
                    if not name:
                        c.add(c.join(mp, "name"), "must not be empty")
                    elif name in names:
                        c.add(c.join(mp, "name"), f'duplicate model name "{name}"')
                    names.append(name)
                for key, hi in (("capability_index", 1_000_000.0), ("alignment_score", 100.0),
                                ("guardrail_coverage", 100.0)):
                    val = c.required(m, key, mp)
                    if val is not _MISSING:
                        c.number(val, c.join(mp, key), 0, hi)
                for key in ("growth_rate", "lambda", "gamma"):
                    if key in m:
                        c.number(m[key], c.join(mp, key), 0, 1)
    if "events" in o:
        lst = c.array(o["events"], c.join(path, "events"))
        for i, item in enumerate(lst or []):
            ep = f"{c.join(path, 'events')}[{i}]"
            e = c.obj(item, ep, ["tick", "type", "target", "magnitude", "ticks"])
            if e is None:
                continue
            tv = c.required(e, "tick", ep)
            if tv is not _MISSING:
                c.integer(tv, c.join(ep, "tick"), 0, MAX_SEED)
            kind = None
            ty = c.required(e, "type", ep)
            if ty is not _MISSING:
                text = c.string(ty, c.join(ep, "type"))
                if text is not None:
                    if text in EVENT_TYPES:
                        kind = text
                    else:
                        hint = closest_name(text, EVENT_TYPES)
                        c.add(c.join(ep, "type"), f'unknown event type "{text}"'
                              + (f' (did you mean "{hint}"?)' if hint else "")
                              + f"; expected one of {', '.join(EVENT_TYPES)}")
            if "target" in e:
                t = c.string(e["target"], c.join(ep, "target"))
                if t is not None and t not in names:
                    hint = closest_name(t, names)
                    c.add(c.join(ep, "target"), f'unknown model "{t}"' + (f' (did you mean "{hint}"?)' if hint else ""))
            if kind is not None:
                rng = _MAGNITUDE[kind]
                if "magnitude" in e:
                    if rng is None:
                        c.add(c.join(ep, "magnitude"), f"not a field of {kind}")
                    else:
                        c.number(e["magnitude"], c.join(ep, "magnitude"), *rng)
                if "ticks" in e:
                    if kind == "MORATORIUM":
                        c.integer(e["ticks"], c.join(ep, "ticks"), 0, 1_000_000)
                    else:
                        c.add(c.join(ep, "ticks"), f"not a field of {kind}")


def _check_native(v: Any, path: str, c: _Issues) -> None:
    o = c.obj(v, path, ["seed", "agents", "initialState", "events", "settings"])
    if o is None:
        return
    for key in ("seed", "agents", "initialState"):
        if key not in o:
            c.add(c.join(path, key), "is required")
    if "seed" in o:
        c.integer(o["seed"], c.join(path, "seed"), 0, MAX_SEED)
    if "agents" in o:
        c.array(o["agents"], c.join(path, "agents"))
    if "initialState" in o and not isinstance(o["initialState"], Mapping):
        c.add(c.join(path, "initialState"), f"expected an object, got {_type_name(o['initialState'])}")
    if "events" in o:
        c.array(o["events"], c.join(path, "events"))


def check_request(body: Mapping[str, Any], *, max_ticks: Optional[int]) -> None:
    """Raises :class:`ValidationError` (status None) listing every issue of a run/create body."""
    c = _Issues()
    allowed = ["scenarioId", "scenario", "domain", "input", "ticks", "organizationId", "engineVersion"]
    o = c.obj(body, "", allowed)
    if o is not None:
        if "ticks" in o:
            c.integer(o["ticks"], "ticks", 1, max_ticks if max_ticks is not None else MAX_SEED)
        if "engineVersion" in o:
            c.string(o["engineVersion"], "engineVersion")
        if "organizationId" in o:
            c.string(o["organizationId"], "organizationId")
        sources = [k for k in ("scenarioId", "scenario", "domain") if k in o]
        if not sources:
            c.add("", "provide exactly one of scenarioId, scenario, or domain with input")
        if len(sources) > 1:
            c.add("", f"provide exactly one of scenarioId, scenario, or domain with input (got {', '.join(sources)})")
        if "input" in o and "domain" not in o:
            c.add("input", "input needs domain")
        if "domain" in o and "input" not in o:
            c.add("input", "is required with domain")
        if len(sources) == 1:
            if sources[0] == "scenarioId":
                c.string(o["scenarioId"], "scenarioId")
            elif sources[0] == "scenario":
                _check_native(o["scenario"], "scenario", c)
            else:
                domain = c.string(o["domain"], "domain")
                if domain == "ai-safety" and "input" in o:
                    _check_ai_safety(o["input"], "input", c)
    if c.issues:
        raise ValidationError(c.issues)


def check_ticks(ticks: Any, *, path: str = "ticks", max_ticks: int = MAX_TICKS_PER_REQUEST) -> int:
    c = _Issues()
    value = c.integer(ticks, path, 1, max_ticks)
    if c.issues or value is None:
        raise ValidationError(c.issues)
    return value
