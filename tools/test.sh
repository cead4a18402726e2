#!/usr/bin/env bash
# The README's test command: the Python reference readers in a venv (.venv, made once), then the
# whole test suite in release mode. Needs python3 with venv (Debian: python3-venv) and, for the
# chess tests, /usr/games/stockfish (Debian: stockfish).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python3 ]; then
    python3 -m venv .venv
fi
# Independent readers: pyarrow (Parquet), tensorboard (event files), safetensors + numpy (exports).
.venv/bin/python3 -m pip install --quiet --disable-pip-version-check \
    pyarrow==26.0.1 tensorboard==2.21.0 safetensors==0.8.0 numpy==2.4.6
PATH="$PWD/.venv/bin:$PATH" cargo test --release "$@"
