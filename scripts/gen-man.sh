#!/usr/bin/env bash
# Regenerates man/firmus.1 from the commands' own --help texts, so the man
# page never disagrees with the program. Usage: scripts/gen-man.sh [FIRMUS_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
fm=${1:-./build/firmus}
version=$("$fm" --version | awk '{print $2}')
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }
{
  echo ".TH FIRMUS 1 \"2026\" \"firmus $version\" \"User Commands\""
  echo ".SH NAME"
  echo "firmus \\- measure GPU inference energy; export workload profiles, cost and Model-to-Grid tiers"
  echo ".SH SYNOPSIS"
  echo ".B firmus"
  echo ".I command"
  echo "[options]"
  echo ".SH DESCRIPTION"
  echo "firmus samples NVIDIA GPU power through NVML (or a built-in simulated H200 node),"
  echo "stores runs in SQLite, and turns them into energy metrics, phase-resolved workload"
  echo "profiles for the firmus-ai-factory digital twin, cost per million tokens and"
  echo "Model-to-Grid tiers. Missing readings are reported as unavailable, never as 0."
  echo ".SH COMMANDS"
  for cmd in devices record mark ls show export import cost qualify; do
    echo ".SS firmus $cmd"
    echo ".nf"
    "$fm" "$cmd" --help 2>&1 | esc
    echo ".fi"
  done
  cat <<'MAN'
.SH EXIT STATUS
0 success; 1 failure (the message says why); 2 wrong flags or arguments;
3 libnvidia-ml.so.1 not found; 4 a GPU was lost during the command;
5 malformed input file (the message names file and line).
.B firmus record \-\- CMD
exits with CMD's exit status (128+signal if it was killed).
.SH ENVIRONMENT
.TP
.B FIRMUS_DB
default run store (otherwise ./firmus.db).
.TP
.B FIRMUS_NVML_LIBRARY
NVML library to load instead of libnvidia-ml.so.1.
.TP
.B FIRMUS_MARK_FD, FIRMUS_MARK_SOCKET
set by firmus record for the recorded command: where markers go (see firmus mark).
.SH FILES
.TP
.I firmus.db
the run store (SQLite, WAL); schema in docs/STORE.md.
.TP
.I workload_profiles/
profiles written after each recording (JSON and CSV).
.TP
.I policies/*.json, tariffs/*.json
Model-to-Grid policies and tariffs (docs/ECONOMIC_ANALYSIS.md).
.SH SEE ALSO
README.md, docs/README_ENERGY.md, docs/WORKLOAD_EXPORT_GUIDE.md, docs/ECONOMIC_ANALYSIS.md,
docs/MARKERS.md, nvidia-smi(1).
MAN
} > man/firmus.1
echo "wrote man/firmus.1"
