#!/usr/bin/env bash
# Tests workloads/llm_inference.py: it imports and answers --help without
# PyTorch, refuses to run without it (exit 3, one clear line), and, where a
# Python with PyTorch exists, runs the tiny model on the CPU and writes
# well-formed markers (start/end prefill, start/end decode with tokens=
# equal to the report's generated tokens, t_ns increasing) on the channel in
# FIRMUS_MARK_FD, with a KV-cache decode that matches a full forward pass.
# Skips the PyTorch part (exit 77 at the end) when no Python has PyTorch.
set -u
src="${FIRMUS_SOURCE_DIR:?}"
wl="$src/workloads/llm_inference.py"
command -v python3 > /dev/null || { echo "skip: no python3"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 "$wl" --help > "$tmp/help.txt" || fail "--help failed"
grep -q -- "--batches" "$tmp/help.txt" || fail "--help lacks --batches"
python3 "$wl" --batches 0 > /dev/null 2>&1 && fail "--batches 0 accepted"

torch_py=""
for py in python3 /usr/bin/python3 python3.12; do
  if command -v "$py" > /dev/null && "$py" -c 'import torch' 2> /dev/null; then torch_py="$py"; break; fi
done
if ! python3 -c 'import torch' 2> /dev/null; then
  python3 "$wl" --size tiny > /dev/null 2> "$tmp/err.txt"
  [ $? -eq 3 ] || fail "without PyTorch the workload must exit 3"
  grep -q "PyTorch is not installed" "$tmp/err.txt" || fail "no clear message without PyTorch"
fi
if [ -z "$torch_py" ]; then
  echo "skip: no Python with PyTorch here (--help and the no-torch path passed)"
  exit 77
fi

exec 3> "$tmp/markers.txt"
FIRMUS_MARK_FD=3 "$torch_py" "$wl" --size tiny --device cpu --batches 1,3 --prompt-len 12 \
  --max-new-tokens 20 --decode-seconds 0.3 --idle-seconds 0.05 --report "$tmp/report.json" 2> "$tmp/run.log" \
  || { cat "$tmp/run.log"; fail "tiny CPU run failed"; }
exec 3>&-
"$torch_py" - "$tmp/markers.txt" "$tmp/report.json" "$src/workloads" << 'EOF' || fail "markers/report/KV check"
import json, sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
rep = json.load(open(sys.argv[2]))
kinds = [" ".join(w for w in l if not w.startswith("t_ns=") and not w.startswith("tokens=")) for l in lines]
want = ["mark load_start", "mark load_done"] + ["start prefill", "end prefill", "start decode", "end decode"] * 2
assert kinds == want, kinds
t = [int(w[5:]) for l in lines for w in l if w.startswith("t_ns=")]
assert len(t) == len(lines) and t == sorted(t), t
tokens = [int(w[7:]) for l in lines for w in l if w.startswith("tokens=")]
assert tokens == [b["generated_tokens"] for b in rep["batches"]], (tokens, rep["batches"])
assert rep["batches"][1]["generated_tokens"] == 3 * rep["batches"][1]["decode_steps"] > 0
# the KV cache: prefill + one-token steps give the same next token as one full pass
sys.path.insert(0, sys.argv[3])
import torch, llm_inference as L
m = L.Decoder("tiny", torch.device("cpu"), torch.float32, 7, 2, 40)
g = torch.Generator(); g.manual_seed(3)
seq = torch.randint(0, m.vocab, (2, 24), generator=g)
with torch.inference_mode():
    full = m.forward(seq, 0)
    m.forward(seq[:, :10], 0)
    for i in range(10, 24):
        step = m.forward(seq[:, i:i + 1], i)
assert torch.equal(full, step), (full, step)
print("workload ok")
EOF
