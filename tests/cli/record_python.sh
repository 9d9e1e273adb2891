#!/usr/bin/env bash
# workloads/firmus_marker.py under `firmus record`: a Python workload sends
# phase, request and token markers (pipe and, from a subprocess that does
# not inherit the pipe, the socket); they are stored in order with the
# tokens summed, and the run carries --model/--params/--tag. Outside a
# recorder the module warns once and does nothing. Reads the store with
# Python's sqlite3 (schema: docs/STORE.md). Skips without python3.
set -u
command -v python3 >/dev/null || exit 77
python3 -c 'import sqlite3' 2>/dev/null || exit 77
bin=${FIRMUS_BIN:?FIRMUS_BIN not set}
src=${FIRMUS_SOURCE_DIR:?FIRMUS_SOURCE_DIR not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/runs.db"
export PYTHONPATH="$src/workloads"

cat >"$tmp/work.py" <<'EOF'
import subprocess, sys, time
import firmus_marker as fm
assert fm.available()
fm.start("prefill")
time.sleep(0.1)
fm.end("prefill")
fm.start("decode")
fm.request_start(7)
for _ in range(3):
    fm.tokens(10)
# A child that does not inherit the pipe (close_fds) reaches the socket.
subprocess.run([sys.executable, "-c",
                "import firmus_marker as fm; fm.mark('from_subprocess', tokens=2)"],
               check=True, close_fds=True)
fm.request_end(7, tokens=5)
fm.end("decode")
EOF

"$bin" record --backend sim --db "$db" --quiet --preroll 0.2 --postroll 0.2 --interval 10 \
  --model Qwen3-32B --params 32B --tag py --tag test --name pyrun -- python3 "$tmp/work.py"
rc=$?
if [ $rc != 0 ]; then
  echo "FAIL: firmus record exited $rc"
  exit 1
fi

python3 - "$db" <<'EOF' || exit 1
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run_id, tokens, params, tags, model = db.execute(
    "SELECT id, tokens, params, tags, model FROM runs WHERE name = 'pyrun'").fetchone()
rows = db.execute("SELECT kind, name, tokens, request FROM markers WHERE run_id = ? "
                  "ORDER BY t_ns, id", (run_id,)).fetchall()
got = [(k, n) for k, n, _, _ in rows]
want = [("mark", "command_start"), ("start", "prefill"), ("end", "prefill"),
        ("start", "decode"), ("request_start", "request"), ("tokens", "tokens"),
        ("tokens", "tokens"), ("tokens", "tokens"), ("mark", "from_subprocess"),
        ("request_end", "request"), ("end", "decode"), ("mark", "command_end")]
ok = True
if got != want:
    print("FAIL: markers", got); ok = False
if tokens != 37:
    print("FAIL: tokens", tokens); ok = False
if params != 32e9 or tags != "py,test" or model != "Qwen3-32B":
    print("FAIL: run description", params, tags, model); ok = False
req = [r for r in rows if r[0] == "request_end"][0]
if req[2] != 5 or req[3] != 7:
    print("FAIL: request_end row", req); ok = False
sys.exit(0 if ok else 1)
EOF

# No recorder: a warning, no failure.
out=$(env -u FIRMUS_MARK_FD -u FIRMUS_MARK_SOCKET python3 -c \
  'import firmus_marker as fm; fm.start("x"); fm.end("x"); print(fm.available())' 2>&1)
if ! grep -q "no recorder" <<<"$out" || ! grep -q "False" <<<"$out" ||
   [ "$(grep -c 'no recorder' <<<"$out")" != 1 ]; then
  echo "FAIL: without a recorder: $out"
  exit 1
fi
exit 0
