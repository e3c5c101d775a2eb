"""The Python module `servesim` (sim/python) against the CLI on the same inputs.

The rule under test: the module and the CLI are one program behind two doors, so for the
same scenario and seed every number the module returns is the one the CLI writes (expected
values are read from the CLI's own output files, never from the module), and bad input
raises ValueError carrying the CLI's one-line message. Runs are small (150 requests).
"""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import servesim

BIN = os.environ["SERVESIM_BIN"]
SRC = os.environ["SERVESIM_SOURCE_DIR"]
REQUESTS = "workload.num_requests=150"
SEED = 7


def cli(*args):
    """Runs the CLI; returns (exit code, stdout, stderr)."""
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def cli_error(*args):
    """The one-line message of a CLI run that must fail with exit code 2."""
    rc, _, err = cli(*args)
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err[len("error: "):-1]


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    rc, _, err = cli("run", "--set", REQUESTS, "--set", f"seed={SEED}", "--out", str(out), "-q")
    assert rc == 0, err
    return out


@pytest.fixture(scope="module")
def result():
    return servesim.run(set=[REQUESTS], seed=SEED)


def test_summary_is_the_cli_summary_json(cli_dir, result):
    assert result.summary == json.loads((cli_dir / "summary.json").read_text())


def test_written_run_folder_is_byte_identical_to_the_cli_one(cli_dir, result, tmp_path):
    result.write(tmp_path / "py")
    for name in ("summary.json", "requests.csv", "timeseries.csv", "resolved_config.json"):
        assert (tmp_path / "py" / name).read_bytes() == (cli_dir / name).read_bytes(), name


def test_request_columns_hold_the_numbers_of_requests_csv(cli_dir, result):
    # requests.csv prints seconds with 6 decimals and leaves a field empty where the module
    # has NaN (a rejected request's times, TPOT of a one-token output, no KV transfer).
    rows = list(csv.DictReader(open(cli_dir / "requests.csv")))
    cols = result.requests
    assert len(rows) == len(cols["id"]) > 0
    seconds = ["arrival_s", "first_scheduled_s", "first_token_s", "last_token_s", "ttft_s", "tpot_s", "e2e_s",
               "queueing_s", "kv_transfer_s"]
    integers = ["id", "prompt_tokens", "output_tokens", "preemptions", "cached_prefix_tokens", "migrations"]
    for i, row in enumerate(rows):
        for name in seconds:
            v = float(cols[name][i])
            assert ("" if math.isnan(v) else f"{v:.6f}") == row[name], (i, name)
        for name in integers:
            assert str(int(cols[name][i])) == row[name], (i, name)
        assert str(int(cols["rejected"][i])) == row["rejected"]
        assert str(cols["pool"][i]) == row["pool"]


def test_raw_columns_are_read_only_views_of_the_result(result):
    a = result.requests["arrival_ns"]
    assert a.dtype == np.int64 and not a.flags.owndata and not a.flags.writeable
    assert isinstance(a.base, servesim.RunResult)
    # the view keeps the result alive
    r = servesim.run(set=[REQUESTS], seed=SEED)
    view = r.requests["first_token_ns"]
    expected = view.copy()
    del r
    assert np.array_equal(view, expected)


def test_seconds_columns_are_the_ns_columns_scaled(result):
    c = result.requests
    done = ~c["rejected"]
    assert np.array_equal(c["ttft_s"][done], (c["first_token_ns"][done] - c["arrival_ns"][done]) * 1e-9)


def test_timeseries_columns_hold_the_numbers_of_timeseries_csv(cli_dir, result):
    rows = list(csv.DictReader(open(cli_dir / "timeseries.csv")))
    ts = result.timeseries
    assert len(rows) == len(ts["time_ns"]) > 0
    for i, row in enumerate(rows):
        assert f"{ts['time_ns'][i] * 1e-9:.6f}" == row["time_s"]
        for name in ("replica", "waiting", "running", "kv_used_tokens", "kv_capacity_tokens"):
            assert str(int(ts[name][i])) == row[name], (i, name)


def test_scenario_dict_and_scenario_file_give_the_same_run(tmp_path):
    path = os.path.join(SRC, "docs", "sweep", "example_base.json")
    with open(path) as f:
        scenario = json.load(f)
    by_path = servesim.run(path, set=["workload.num_requests=60"])
    by_dict = servesim.run(scenario, set=["workload.num_requests=60"])
    assert by_path.summary == by_dict.summary


def test_bad_override_raises_value_error_with_the_cli_message(tmp_path):
    expected = cli_error("run", "--set", "scheduler.max_num_seqs=0", "--out", str(tmp_path / "x"), "-q")
    with pytest.raises(ValueError) as e:
        servesim.run(set=["scheduler.max_num_seqs=0"])
    assert str(e.value) == expected


def test_unknown_scenario_key_raises_value_error_with_the_cli_message(tmp_path):
    path = tmp_path / "bad.json"
    with open(os.path.join(SRC, "docs", "sweep", "example_base.json")) as f:
        scenario = json.load(f)
    scenario["bogus_key"] = 1
    path.write_text(json.dumps(scenario))
    expected = cli_error("run", str(path), "--out", str(tmp_path / "x"), "-q")
    with pytest.raises(ValueError) as e:
        servesim.run(str(path))
    assert str(e.value) == expected and "bogus_key" in expected


@pytest.mark.parametrize("scenario", [42, {"seed": float("nan")}, {"model": object()}])
def test_scenario_that_is_not_json_raises_value_error(scenario):
    with pytest.raises(ValueError) as e:
        servesim.run(scenario)
    assert "\n" not in str(e.value)


def test_bad_run_limit_raises_value_error():
    with pytest.raises(ValueError, match="max_sim_time"):
        servesim.run(max_sim_time="soon")


SWEEP = {
    "name": "py-sweep",
    "base": os.path.join(SRC, "docs", "sweep", "example_base.json"),
    "set": {"workload.num_requests": 80},
    "axes": [{"grid": {"scheduler.max_num_seqs": [4, 64]}}],
}


def test_sweep_table_is_the_cli_points_csv(tmp_path):
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps(SWEEP))
    rc, _, err = cli("sweep", str(spec), "--out", str(tmp_path / "out"), "-q", "-j", "2")
    assert rc == 0, err
    table = servesim.sweep(SWEEP, threads=1)
    assert table.csv == (tmp_path / "out" / "points.csv").read_text()
    points = [json.loads(line) for line in (tmp_path / "out" / "points.jsonl").read_text().splitlines()]
    assert table.points == points
    assert list(table.columns["scheduler.max_num_seqs"]) == [4, 64]
    # points.csv prints seconds with 6 decimals
    assert list(table.columns["ttft_p99_s"]) == [float(f'{p["summary"]["ttft_s"]["p99"]:.6f}') for p in points]


def test_bad_sweep_raises_value_error():
    with pytest.raises(ValueError, match="axes"):
        servesim.sweep({"base": SWEEP["base"], "axes": []})


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory):
    # The same traffic with at most 2 sequences per batch: TTFT rises far beyond 5 %.
    out = tmp_path_factory.mktemp("cli") / "slow"
    rc, _, err = cli("run", "--set", REQUESTS, "--set", f"seed={SEED}", "--set", "scheduler.max_num_seqs=2", "--out", str(out), "-q")
    assert rc == 0, err
    return out


def test_compare_of_identical_runs_is_the_cli_verdict_with_zero_deltas(cli_dir):
    rc, out, _ = cli("compare", str(cli_dir), str(cli_dir), "-t", "ttft.p99=+5%")
    v = servesim.compare(cli_dir, cli_dir, thresholds=["ttft.p99=+5%"])
    assert (v["exit_code"], v["regression"], v["text"]) == (rc, False, out)
    assert rc == 0 and all(d["abs_change"] == 0 for d in v["deltas"])


def test_compare_flags_the_regression_the_cli_flags(cli_dir, slow_dir):
    rc, out, _ = cli("compare", str(cli_dir), str(slow_dir), "-t", "ttft.p99=+5%")
    v = servesim.compare(str(cli_dir), str(slow_dir), thresholds=["ttft.p99=+5%"])
    assert (v["exit_code"], v["text"]) == (rc, out)
    assert rc == 1 and v["regression"] and v["verdicts"][0]["regression"]
    assert "pools.0.scheduler.max_num_seqs: 256 -> 2" in v["config_differences"]


def test_compare_of_a_missing_folder_raises_value_error_with_the_cli_message(cli_dir, tmp_path):
    expected = cli_error("compare", str(tmp_path / "missing"), str(cli_dir))
    with pytest.raises(ValueError) as e:
        servesim.compare(tmp_path / "missing", cli_dir)
    assert str(e.value) == expected


def test_bad_threshold_raises_value_error(cli_dir):
    with pytest.raises(ValueError, match="thresholds"):
        servesim.compare(cli_dir, cli_dir, thresholds=["ttft.p99=lots"])


def test_docs_example_script_runs():
    # docs/examples/python_what_if.py as a reader runs it: from the repository root.
    p = subprocess.run([sys.executable, "docs/examples/python_what_if.py"], cwd=SRC,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    assert "ValueError: " in p.stdout and "regression" in p.stdout


def test_ctrl_c_stops_a_run_with_keyboard_interrupt():
    # SIGINT 0.3 s into a run of 2,000,000 requests (minutes of work): the run stops at its next
    # poll (every 4,096 events) and raises KeyboardInterrupt.
    import signal
    import threading
    import time
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        servesim.run(set=["workload.num_requests=2000000", "workload.duration=0"])
    timer.join()
    assert time.monotonic() - t0 < 30
