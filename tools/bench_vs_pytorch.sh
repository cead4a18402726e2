#!/usr/bin/env bash
# Our training step against PyTorch's on the same machine, side by side:
#  1. the transformer baseline at nanoGPT's CPU "baby GPT" shape (4 layers, D 128, 4 heads,
#     batch 12 x 64) with 1 thread, and with both cores (ours: one peer with 2 threads, or two
#     data-parallel peers `--device cpu,cpu`, whichever is faster);
#  2. one TRM puzzle update at the Sudoku-Extreme shape (D 512, 2 layers, 8 heads, n 6, T 3,
#     batch 32 x (81 + 16 puzzle-embedding positions)), f32, 1 thread.
# Each pair alternates (ours, theirs, ours, theirs) and keeps each side's best, so a noisy
# neighbour hurts both sides alike. Prints Markdown tables of ms/iter and our/PyTorch ratios.
#
#   tools/bench_vs_pytorch.sh [path/to/trm]     (default: target/release/trm)
#   SKIP_TRM_STEP=1 tools/bench_vs_pytorch.sh   (part 1 only; part 2 takes a few minutes)
#
# PyTorch goes into a scratch venv ($TORCH_VENV, default /tmp/trm-torch-venv; ~4 GB from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
TRM=$(realpath "${1:-target/release/trm}")
VENV=${TORCH_VENV:-/tmp/trm-torch-venv}
ITERS=${ITERS:-20}
SHAPE=(--set model.kind=transformer --set model.n_layers=4 --set model.d_model=128 --set model.n_heads=4
       --set train.batch_size=12 --set train.seq_len=64)

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.15.0 numpy
fi
[ -x "$TRM" ] || { echo "error: no trm binary at $TRM (cargo build --release)" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PY="$VENV/bin/python"

ours() { # threads devices -> ms per batch
    RAYON_NUM_THREADS=$1 "$TRM" bench --config configs/transformer-params.toml "${SHAPE[@]}" \
        --device "$2" --batches "$ITERS" --sample-tokens 1 --out "$OUT/bench.md" >/dev/null 2>&1
    # the row's 7th column is "ms per batch"
    grep '^| transformer-params' "$OUT/bench.md" | tail -1 | awk -F'|' '{gsub(/ /,"",$7); print $7}'
}
theirs() { # threads -> ms per iteration
    "$PY" tools/bench_vs_pytorch.py --layers 4 --d 128 --heads 4 --batch 12 --seq 64 \
        --vocab 257 --iters "$ITERS" --threads "$1" | awk '{print $2}'
}
min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

echo "Baby-GPT shape, transformer baseline, $(nproc) cores, PyTorch $("$PY" -c 'import torch; print(torch.__version__)')"
echo
echo "| threads | trm | trm ms/iter | PyTorch ms/iter | ratio |"
echo "|---|---|---|---|---|"
a1=$(ours 1 cpu); b1=$(theirs 1); a2=$(ours 1 cpu); b2=$(theirs 1)
a=$(min "$a1" "$a2"); b=$(min "$b1" "$b2")
echo "| 1 | 1 peer | $a | $b | $(ratio "$a" "$b") |"
o1=$(ours 2 cpu); p1=$(ours 2 cpu,cpu); b1=$(theirs 2); o2=$(ours 2 cpu); p2=$(ours 2 cpu,cpu); b2=$(theirs 2)
o=$(min "$o1" "$o2"); p=$(min "$p1" "$p2"); b=$(min "$b1" "$b2")
echo "| 2 | 1 peer, 2 threads | $o | $b | $(ratio "$o" "$b") |"
echo "| 2 | 2 peers (cpu,cpu) | $p | $b | $(ratio "$p" "$b") |"

[ -n "${SKIP_TRM_STEP:-}" ] && exit 0
# One TRM update at the Sudoku-Extreme shape: ours from train_seconds of updates 2..3 of a run
# on generated puzzles (update 1 is the warm-up), theirs from the twin.
trm_step() {
    rm -rf "$OUT/sudoku"
    RAYON_NUM_THREADS=1 "$TRM" train --config configs/sudoku-extreme-att.toml --quiet --run-dir "$OUT/sudoku" \
        --set puzzle.train=\"\" --set puzzle.test=\"\" --set puzzle.generate_train=256 \
        --set puzzle.generate_test=8 --set train.batch_size=32 --set train.steps=3 \
        --set train.log_every=1 --set train.eval_every=1000 --set train.checkpoint_every=1000 \
        >/dev/null 2>&1
    "$PY" - "$OUT/sudoku/metrics.jsonl" <<'EOF'
import json, sys
t = [json.loads(l)["train_seconds"] for l in open(sys.argv[1]) if '"loss"' in l]
print(f"{1000 * (t[-1] - t[0]) / (len(t) - 1):.1f}")
EOF
}
trm_twin() {
    (cd tools && "$PY" bench_trm_vs_pytorch.py --threads 1 --iters 2 | awk '{print $2}')
}
echo
echo "| TRM update, Sudoku-Extreme shape, 1 thread, f32 | trm ms | PyTorch ms | ratio |"
echo "|---|---|---|---|"
a1=$(trm_step); b1=$(trm_twin); a2=$(trm_step); b2=$(trm_twin)
a=$(min "$a1" "$a2"); b=$(min "$b1" "$b2")
echo "| batch 32 x 97, D 512, 2 layers, n 6, T 3 | $a | $b | $(ratio "$a" "$b") |"
