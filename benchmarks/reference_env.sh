#!/usr/bin/env bash
# Creates (idempotently) the ISOLATED virtual environment that runs the reference
# implementation, transformers-interpret 0.10.0, for the nerlens benchmark.
#
#   bash benchmarks/reference_env.sh            # prints the venv's python path (last line)
#   REF_PYTHON=python3.11 bash benchmarks/reference_env.sh
#   REF_REQUIREMENTS=other-reqs.txt bash benchmarks/reference_env.sh   # alternative pin set
#   REF_FORCE=1 bash benchmarks/reference_env.sh                       # rebuild from scratch
#
# The venv lives in benchmarks/.work/venv-ref (git-ignored) and is pinned exactly by
# benchmarks/reference-requirements.txt.  Its pins (notably ipython<8) never touch
# nerlens' own environment.  A stamp file holding the requirements' checksum makes reruns
# a no-op; a changed requirements file or a broken venv triggers a rebuild.
# Everything comes from PyPI (torch is pinned to 2.13.0, which resolves to the local CPU
# build; an unpinned torch could pull a multi-GB CUDA build).
# Progress goes to stderr; stdout carries only the python path.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQS="${REF_REQUIREMENTS:-$HERE/reference-requirements.txt}"
VENV="$HERE/.work/venv-ref"
PY="${REF_PYTHON:-python3}"
STAMP="$VENV/.nerlens-ref-stamp"

log() { echo "[reference_env] $*" >&2; }

[ -f "$REQS" ] || { log "missing requirements file: $REQS"; exit 1; }
want="$(sha256sum "$REQS" | cut -d' ' -f1)"

check() {
    "$VENV/bin/python" - <<'EOF' >&2
import captum, torch, transformers, transformers_interpret
from transformers_interpret import TokenClassificationExplainer
from importlib.metadata import version
print("[reference_env] ok:", "torch", torch.__version__, "| transformers", transformers.__version__,
      "| captum", version("captum"), "| transformers-interpret", version("transformers-interpret"))
EOF
}

if [ "${REF_FORCE:-0}" != "1" ] && [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] \
    && [ "$(cat "$STAMP")" = "$want" ] && check; then
    log "up to date: $VENV"
else
    start=$(date +%s)
    log "building $VENV from $REQS"
    rm -rf "$VENV"
    mkdir -p "$HERE/.work"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS" >&2
    "$VENV/bin/python" -m pip check >&2 || log "WARNING: pip check reported conflicts"
    check
    echo "$want" > "$STAMP"
    log "built in $(( $(date +%s) - start ))s"
fi

echo "$VENV/bin/python"
