#!/usr/bin/env bash
# firmus record / firmus mark: bad flags exit 2 with one clear line; a
# missing command exits 127 and creates no run; --help exits 0;
# `firmus mark` without a recorder fails with a message saying so.
set -u
bin=${FIRMUS_BIN:?FIRMUS_BIN not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/runs.db"
fail=0

# expect CODE PATTERN ARGS...: runs firmus ARGS, checks exit code and stderr.
expect() {
  local want=$1 pattern=$2
  shift 2
  local err
  err=$("$bin" "$@" 2>&1 >/dev/null)
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: firmus $* -> exit $got, want $want ($err)"
    fail=1
  elif [ -n "$pattern" ] && ! grep -q -- "$pattern" <<<"$err"; then
    echo "FAIL: firmus $* -> stderr '$err' lacks '$pattern'"
    fail=1
  elif [ "$want" = 2 ] && [ "$(wc -l <<<"$err")" != 1 ]; then
    echo "FAIL: firmus $* -> more than one line: $err"
    fail=1
  fi
}

expect 2 "--interval needs a number" record --db "$db" --interval abc --duration 1
expect 2 "--interval needs a number" record --db "$db" --interval 0.5 --duration 1
expect 2 "--gpus needs a list" record --db "$db" --gpus 1- --duration 1
expect 2 "--gpus needs a list" record --db "$db" --gpus 0,,1 --duration 1
expect 2 "--backend must be" record --db "$db" --backend cuda --duration 1
expect 2 "--pattern must be" record --db "$db" --backend sim --pattern bursty --duration 1
expect 2 "--params needs a model size" record --db "$db" --params 32Q --duration 1
expect 2 "--duration must be positive" record --db "$db" --duration 0
expect 2 "--duration is for recording without a command" record --db "$db" --duration 5 -- true
expect 2 "unknown option" record --db "$db" --bogus
expect 2 "missing value" record --db "$db" --duration
expect 2 "put the command after '--'" record --db "$db" sh -c true
expect 2 "no command after '--'" record --db "$db" --
expect 2 "--slow-interval" record --db "$db" --interval 50 --slow-interval 20 --duration 1
expect 2 "--energy-interval" record --db "$db" --interval 50 --energy-interval 20 --duration 1
expect 2 "applies to --backend sim only" record --db "$db" --preset Qwen3-32B --duration 1
expect 2 "applies to --backend nvml only" record --db "$db" --backend sim --library /x.so --duration 1
expect 2 "--tag needs" record --db "$db" --tag a,b --duration 1
expect 2 "GPU 3 does not exist" record --db "$db" --backend sim --sim-gpus 2 --gpus 0,3 --duration 1
expect 2 "listed twice" record --db "$db" --backend sim --sim-gpus 2 --gpus 0,0 --duration 1
expect 127 "firmus-no-such-cmd" record --db "$db" --backend sim -- firmus-no-such-cmd
expect 0 "" record --help
expect 2 "--start and --end" mark x --start --end
expect 2 "needs a non-negative integer" mark --tokens -5
expect 2 "bad marker name" mark "a=b"
expect 2 "--request needs --start or --end" mark --request 3
expect 0 "" mark --help
FIRMUS_MARK_FD= FIRMUS_MARK_SOCKET= expect 1 "FIRMUS_MARK_FD and FIRMUS_MARK_SOCKET are unset" mark x
FIRMUS_MARK_FD= FIRMUS_MARK_SOCKET="$tmp/nobody.sock" expect 1 "is the recorder still running" mark x

if [ -e "$db" ] && command -v sqlite3 >/dev/null; then
  runs=$(sqlite3 "$db" "SELECT COUNT(*) FROM runs" 2>/dev/null || echo 0)
  if [ "$runs" != 0 ]; then
    echo "FAIL: failed invocations created $runs run(s)"
    fail=1
  fi
fi
exit $fail
