#!/usr/bin/env python3
"""Stand-in workload for the GPU check's dry run (no GPU, no PyTorch).

Under the fake libnvidia-ml.so.1 the "GPU" runs the simulator's single
request on its own schedule, counted from the recorder's nvmlInit: idle for
FAKENVML_LEAD_IDLE_S, a linear ramp, the prefill plateau, decode for
FAKENVML_DECODE_S, a fall, then idle. This script does no work: it sleeps
and writes the markers that a real workload would write at those instants
(docs/MARKERS.md), so the whole kit (markers, phases vs markers, energy per
phase, reports) can be exercised end to end. The marker times are derived
from the schedule, not observed: they are only as aligned as the recorder's
pre-roll is long (--offset-s, the time from the recorder's start to ours),
or, better, with --run-db: the recorder's run row (FIRMUS_RUN_ID) gives the
time of its first tick, which follows its nvmlInit (the fake's sim time 0)
by a few milliseconds.

Markers go to the file descriptor in $FIRMUS_MARK_FD (none if unset), with
t_ns = time.monotonic_ns(). A report like llm_inference.py's is written with
--report.

Usage: fake_workload.py --lead-s S --ramp-s S --prefill-s S --decode-s S
       [--offset-s S] [--tail-s S] [--tokens-per-s N] [--report FILE]
"""

import argparse
import json
import os
import sys
import time

try:
    import sqlite3
except ImportError:
    sqlite3 = None


def send(fd, text):
    t_ns = time.monotonic_ns()
    if fd is not None:
        os.write(fd, ("%s t_ns=%d\n" % (text, t_ns)).encode())
    return t_ns


def sleep_until(t_mono):
    delay = t_mono - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def recorder_t0_ns(db_path):
    """CLOCK_MONOTONIC of the recorder's first tick, from its run row, or
    None (no database, no run id, or not stored yet)."""
    run_id = os.environ.get("FIRMUS_RUN_ID")
    if sqlite3 is None or not run_id or not db_path or not os.path.exists(db_path):
        return None
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=2.0)
        try:
            row = con.execute("SELECT t0_ns FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        finally:
            con.close()
    except (sqlite3.Error, ValueError):
        return None
    return row[0] if row and row[0] else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Sleeping stand-in workload that writes markers on the fake NVML's schedule.")
    ap.add_argument("--lead-s", type=float, required=True, help="sim idle before the request, s")
    ap.add_argument("--ramp-s", type=float, required=True, help="sim ramp duration, s")
    ap.add_argument("--prefill-s", type=float, required=True, help="sim prefill plateau, s")
    ap.add_argument("--decode-s", type=float, required=True, help="sim decode length, s")
    ap.add_argument("--offset-s", type=float, default=0.0, help="sim time already elapsed when this script starts, s")
    ap.add_argument("--tail-s", type=float, default=1.0, help="sleep after the decode end, s")
    ap.add_argument("--tokens-per-s", type=float, default=40.0, help="tokens to report per decode second (sim default: 1 per 25 ms)")
    ap.add_argument("--run-db", help="the recorder's run store: take sim time 0 from its run row (first tick)")
    ap.add_argument("--report", help="write a JSON report here")
    args = ap.parse_args(argv)

    fd = int(os.environ["FIRMUS_MARK_FD"]) if os.environ.get("FIRMUS_MARK_FD") else None
    t0_ns = recorder_t0_ns(args.run_db)
    if t0_ns is not None:
        start = t0_ns / 1e9  # sim time 0 on our clock (the fake's origin precedes it by a few ms)
    else:
        start = time.monotonic() - args.offset_s
    t_prefill = start + args.lead_s  # the work starts with the ramp
    t_prefill_end = t_prefill + args.ramp_s + args.prefill_s
    t_decode_end = t_prefill_end + args.decode_s
    tokens = int(round(args.decode_s * args.tokens_per_s))

    sleep_until(t_prefill)
    b = {"batch": 1, "prompt_tokens": None}
    b["prefill_start_ns"] = send(fd, "start prefill")
    sleep_until(t_prefill_end)
    b["prefill_end_ns"] = send(fd, "end prefill")
    b["decode_start_ns"] = send(fd, "start decode")
    sleep_until(t_decode_end)
    b["decode_end_ns"] = send(fd, "end decode tokens=%d" % tokens)
    time.sleep(args.tail_s)
    b["generated_tokens"] = tokens
    b["prefill_s"] = (b["prefill_end_ns"] - b["prefill_start_ns"]) / 1e9
    b["decode_s"] = (b["decode_end_ns"] - b["decode_start_ns"]) / 1e9
    b["decode_tokens_per_s"] = tokens / b["decode_s"] if b["decode_s"] > 0 else None
    report = {"workload": "fake_workload.py (markers on the fake NVML's schedule; no computation)",
              "sim_origin": "recorder's first tick" if t0_ns is not None else "--offset-s %g" % args.offset_s,
              "size": "none", "params": None, "device": "fake", "device_name": "fake NVML (simulator)",
              "dtype": None, "load_s": 0.0, "batches": [b], "generated_tokens": tokens}
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
