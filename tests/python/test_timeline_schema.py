"""timeline.json (`servesim run --timeline`) against the Chrome trace-event format.

Perfetto's own importer (trace_processor) is not available offline: Debian has no package,
and the `perfetto` package on PyPI downloads its trace_processor_shell binary at first use.
So the file is checked against a JSON Schema of the format written from its specification
(trace_event.schema.json, validated with Debian's python3-jsonschema), plus the pairings a
schema cannot express: every flow start has one end, later than it. The event-level contract
(nesting, the hand-built two-step example) is tests/report/test_timeline.cpp's.
"""
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest

BIN = os.environ["SERVESIM_BIN"]
SRC = Path(os.environ["SERVESIM_SOURCE_DIR"])
SCHEMA = json.loads((Path(__file__).parent / "trace_event.schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def timeline(tmp_path, *args):
    out = tmp_path / "run"
    p = subprocess.run([BIN, "run", "--quiet", "--timeline", "--out", str(out), *args], capture_output=True, text=True, cwd=SRC)
    assert p.returncode == 0, p.stderr
    return json.loads((out / "timeline.json").read_text())


def errors(doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)][:5]


def test_schema_is_a_valid_draft7_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_default_scenario_timeline_matches_the_format(tmp_path):
    # 40 requests of the default scenario: steps, request lifecycles, queue and KV counters
    # (small: the schema check costs about 1 ms per event).
    doc = timeline(tmp_path, "--set", "workload.num_requests=40")
    assert errors(doc) == []
    assert {"X", "b", "e", "C", "M"} <= {e["ph"] for e in doc["traceEvents"]}


def test_preempting_run_timeline_matches_the_format(tmp_path):
    # 100 blocks of 16 tokens (1,600 tokens of KV) for 20 requests: they preempt each other.
    doc = timeline(tmp_path, "--set", "workload.num_requests=20", "--set", "kv.num_gpu_blocks_override=100")
    assert errors(doc) == []
    assert any(e.get("name") == "preempted" for e in doc["traceEvents"])


def test_disaggregated_timeline_matches_the_format_and_pairs_its_flows(tmp_path):
    doc = timeline(tmp_path, str(SRC / "tests/golden/scenarios/disagg_1p1d.json"), "--set", "workload.num_requests=20")
    assert errors(doc) == []
    starts = {(e["cat"], e["id"]): e for e in doc["traceEvents"] if e["ph"] == "s"}
    ends = {(e["cat"], e["id"]): e for e in doc["traceEvents"] if e["ph"] == "f"}
    assert starts and starts.keys() == ends.keys()
    assert all(ends[k]["ts"] >= starts[k]["ts"] for k in starts)


@pytest.mark.parametrize("event", [
    {"ph": "X", "name": "step", "pid": 1, "tid": 0, "ts": 0},                      # a complete event needs dur
    {"ph": "C", "name": "queue", "pid": 1, "ts": 0, "args": {"waiting": "3"}},     # counter values are numbers
    {"ph": "b", "name": "request", "pid": 2, "tid": 0, "ts": 0, "cat": "request"},  # async events need an id
    {"ph": "Q", "name": "step", "pid": 1, "tid": 0, "ts": 0},                      # no such phase
    {"ph": "X", "name": "step", "pid": 1, "tid": 0, "ts": -1, "dur": 1},           # no negative time
    {"ph": "M", "name": "thread_name", "pid": 1, "args": {"name": "r0"}},          # thread metadata needs tid
])
def test_schema_rejects_a_malformed_event(event):
    assert errors({"traceEvents": [event]}) != []
