"""Small, stdlib-only statistics shared by the baseline, the side-by-side
harness (compare_baseline.py) and the GPU-check summary (gpu_summary.py).

Every function takes plain lists (times in seconds, power in watts) and
returns plain numbers or dicts, so the same definitions are applied to every
method being compared. Missing values are None and are skipped, never
treated as zero. Definitions (also in docs/BENCHMARKS.md):

- tick timing: from the timestamps of one GPU's samples;
  interval error = |dt - requested interval| for each consecutive pair,
  reported as p50/p99/max in microseconds ("jitter");
  drift = (t_last - t_first) - (n - 1) * interval, i.e. how far the last
  sample lies behind where a perfect schedule would have put it.
- energy: trapezoid integral of power over time (J).
- ramp rate (10-90 %): the rise from the level before an edge (median of
  the samples in a lead window) to the highest sample after it;
  0.8 * swing / (t90 - t10), with t10/t90 the first crossings of 10 % and
  90 % of the swing, linearly interpolated between samples (W/s).
- update period: median time between changes of a sampled value (s).
- CV: population standard deviation / mean.
"""

import math
import statistics


def clean_pairs(t, v):
    """(t, v) pairs with v present (not None / NaN), in input order."""
    out = []
    for ti, vi in zip(t, v):
        if vi is None or (isinstance(vi, float) and math.isnan(vi)):
            continue
        out.append((ti, vi))
    return out


def percentile(values, q):
    """Linear-interpolated percentile, q in [0, 100]; None if empty."""
    vals = sorted(values)
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    pos = (len(vals) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def trapezoid(t, p):
    """Integral of p over t (J when t in s and p in W); 0 with < 2 points."""
    total = 0.0
    for i in range(1, len(t)):
        total += 0.5 * (p[i] + p[i - 1]) * (t[i] - t[i - 1])
    return total


def tick_timing(t, interval_s):
    """Achieved timing of one sample stream (timestamps in s, any epoch)."""
    n = len(t)
    if n < 2:
        return {"samples": n}
    dts = [t[i] - t[i - 1] for i in range(1, n)]
    errs_us = [abs(dt - interval_s) * 1e6 for dt in dts]
    span = t[-1] - t[0]
    drift_s = span - (n - 1) * interval_s
    return {
        "samples": n,
        "span_s": span,
        "requested_interval_ms": interval_s * 1e3,
        "achieved_interval_ms": span / (n - 1) * 1e3,
        "achieved_rate_hz": (n - 1) / span if span > 0 else None,
        "requested_rate_hz": 1.0 / interval_s,
        "jitter_p50_us": percentile(errs_us, 50),
        "jitter_p99_us": percentile(errs_us, 99),
        "jitter_max_us": max(errs_us),
        "drift_ms": drift_s * 1e3,
        "drift_ms_per_min": drift_s * 1e3 / (span / 60.0) if span > 0 else None,
        "late_intervals_over_2x": sum(1 for dt in dts if dt > 2 * interval_s),
    }


def cv(values):
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if len(vals) < 2:
        return None
    mean = statistics.fmean(vals)
    return statistics.pstdev(vals) / mean if mean else None


def _crossing(pairs, level, start_index):
    """Time at which the series first reaches `level` at or after
    start_index, interpolated linearly; (t, index) or (None, None)."""
    for i in range(start_index, len(pairs)):
        t, v = pairs[i]
        if v >= level:
            if i == 0:
                return t, i
            t0, v0 = pairs[i - 1]
            if v == v0:
                return t, i
            return t0 + (level - v0) * (t - t0) / (v - v0), i
    return None, None


def ramp_10_90(t, p, edge_t, lead_s=1.0, after_s=3.0):
    """Rise rate (W/s) of the edge near edge_t, by the 10-90 % definition.
    lead window [edge_t - lead_s, edge_t) gives the level before; the peak is
    the highest sample in [edge_t, edge_t + after_s]. Returns a dict with
    the rate, the levels and t10/t90, or None if there is no usable edge.
    The rise time is also reported, so a reader can see when it is as short
    as one sensor update (then the rate is only a lower bound)."""
    pairs = clean_pairs(t, p)
    before = [v for ti, v in pairs if edge_t - lead_s <= ti < edge_t]
    window = [(ti, v) for ti, v in pairs if edge_t - lead_s <= ti <= edge_t + after_s]
    if len(before) < 2 or len(window) < 3:
        return None
    p0 = statistics.median(before)
    after = [v for ti, v in window if ti >= edge_t]
    p1 = max(after) if after else None
    if p1 is None or p1 - p0 <= 0:
        return None
    swing = p1 - p0
    first_after = next(i for i, (ti, _) in enumerate(window) if ti >= edge_t)
    t10, i10 = _crossing(window, p0 + 0.1 * swing, first_after)
    if t10 is None:
        return None
    t90, _ = _crossing(window, p0 + 0.9 * swing, i10)
    if t90 is None or t90 <= t10:
        return None
    return {
        "rate_w_per_s": 0.8 * swing / (t90 - t10),
        "level_before_w": p0,
        "peak_w": p1,
        "t10_s": t10,
        "t90_s": t90,
        "rise_10_90_s": t90 - t10,
    }


def first_edge_time(t, p, threshold_w):
    """First time the series rises above threshold_w (None if never)."""
    for ti, v in clean_pairs(t, p):
        if v > threshold_w:
            return ti
    return None


def update_period(t, v):
    """Median time between changes of a sampled value, and the number of
    changes seen (the sensor's publication period when sampling is faster
    than it). None if fewer than 3 changes."""
    pairs = clean_pairs(t, v)
    change_times = [pairs[i][0] for i in range(1, len(pairs)) if pairs[i][1] != pairs[i - 1][1]]
    if len(change_times) < 3:
        return {"period_s": None, "changes": len(change_times)}
    gaps = [change_times[i] - change_times[i - 1] for i in range(1, len(change_times))]
    return {
        "period_s": statistics.median(gaps),
        "p10_s": percentile(gaps, 10),
        "p90_s": percentile(gaps, 90),
        "changes": len(change_times),
    }


def ratio(a, b):
    """a / b, or None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def rel_error(measured, truth):
    """(measured - truth) / truth, or None."""
    if measured is None or truth is None or truth == 0:
        return None
    return (measured - truth) / truth
