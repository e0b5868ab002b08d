"""Canonical JSON (RFC 8785) and the step digest, without a server."""
import hashlib
import json
import struct

import pytest

from conftest import REPO
from kairos import TraceStep, canonical_json, canonical_step, ecmascript_number
from kairos._sse import SSEParser

NUMBERS = REPO / "Tests" / "KairosEngineTests" / "Fixtures" / "ecmascript-numbers.tsv"


def test_numbers_print_as_ecmascript_does():
    # ~28 000 doubles (bit pattern → Number.prototype.toString), generated with node by
    # scripts/dev/gen-ecmascript-numbers.js: the table the Swift engine is tested against.
    rows = NUMBERS.read_text().splitlines()
    assert len(rows) > 20_000
    wrong = []
    for row in rows:
        bits, expected = row.split("\t")
        value = struct.unpack(">d", bytes.fromhex(bits))[0]
        if ecmascript_number(value) != expected:
            wrong.append((bits, expected, ecmascript_number(value)))
    assert wrong == []


@pytest.mark.parametrize("value,text", [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (100, "100"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (1e-7, "1e-7"), (1e-6, "0.000001"), (0.1 + 0.2, "0.30000000000000004"), (-1.5e-9, "-1.5e-9"),
    (2 ** 53, "9007199254740992"), (2 ** 64, "18446744073709552000"), (123456789012345680000.0, "123456789012345680000"),
])
def test_number_layouts(value, text):
    assert ecmascript_number(value) == text


def test_non_finite_numbers_are_refused():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            canonical_json({"x": bad})


def test_canonical_json_sorts_keys_by_utf16_and_escapes_minimally():
    # U+E000 sorts after U+1F600 in code points but before it in UTF-16 (surrogates D83D…).
    value = {"b": [1.0, True, None], "a": "é\u2028\"\\\n\x01", "\ue000": 1, "\U0001F600": 2}
    assert canonical_json(value) == '{"a":"é\u2028\\"\\\\\\n\\u0001","b":[1,true,null],"\U0001F600":2,"\ue000":1}'


STEP = {
    "tick": 3, "move": "capability_jump",
    "state": {"stability": 0.7910692011571756, "basin": 0, "phase": "strained", "pressure": 0.25, "ceiling": 1.0},
    "warning": {"level": "caution", "threshold": 0.8, "stability": 0.79},
    "loss": None, "prophecy": None, "paradox": None,
    "agents": [{"id": "model", "state": {"capability": 715.0, "alignment": 0.595, "guardrail": 0.6, "pressure": 1e-7},
                "policy": {"lambda": 0.3, "gamma": 0.5}}],
    "extra": "ignored like the Swift client ignores it",
}


def test_canonical_step_is_the_engines_line():
    line = canonical_step(STEP)
    assert line == ('{"agents":[{"id":"model","policy":{"gamma":0.5,"lambda":0.3},"state":{"alignment":0.595,'
                    '"capability":715,"guardrail":0.6,"pressure":1e-7}}],"loss":null,"move":"capability_jump",'
                    '"paradox":null,"prophecy":null,"state":{"basin":0,"ceiling":1,"phase":"strained","pressure":0.25,'
                    '"stability":0.7910692011571756},"tick":3,"warning":{"level":"caution","stability":0.79,'
                    '"threshold":0.8}}')
    without_extra = {k: v for k, v in STEP.items() if k != "extra"}
    assert line == canonical_json(without_extra)
    # The typed step writes the same line back.
    assert TraceStep.from_wire(STEP).canonical() == line
    step = TraceStep.from_wire(json.loads(line))
    assert (step.t, step.stability, step.phase, step.agents[0].lambda_) == (3, 0.7910692011571756, "strained", 0.3)


def test_canonical_step_refuses_a_step_missing_fields():
    broken = dict(STEP)
    del broken["state"]
    with pytest.raises(KeyError):
        canonical_step(broken)


def test_digest_is_sha256_of_the_lines():
    from kairos._canonical import TraceDigest, digest_of_steps

    line = canonical_step(STEP)
    expected = "sha256:" + hashlib.sha256((line + "\n" + line + "\n").encode()).hexdigest()
    assert digest_of_steps([STEP, STEP]) == expected
    d = TraceDigest()
    d.add_line(line.encode())
    d.add_line(line)
    assert d.hexdigest() == expected


def test_sse_parser_follows_the_whatwg_rules():
    p = SSEParser()
    events = []
    stream = (b": comment\r\nevent: tick\r\nid: 1-0\r\ndata: {\"t\":1}\r\n\r\n"
              b"event: heartbeat\ndata:\n\nevent: loss\rid: 2-1\rdata: a\rdata: b\r\r")
    for i in range(len(stream)):  # byte by byte: every split point
        events += p.feed(stream[i:i + 1])
    assert [(e.event, e.id, e.data) for e in events] == [
        ("tick", "1-0", '{"t":1}'), ("heartbeat", "1-0", ""), ("loss", "2-1", "a\nb")]
