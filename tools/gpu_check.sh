#!/usr/bin/env bash
# The GPU check: everything worth knowing about a CUDA machine in one run of under 5 minutes, for
# the 15 device minutes a task gets (no internet, no cargo registry there). It prints one table
# (step time, tokens/s, updates/s, peak GPU memory, final loss) and keeps every log in OUT_DIR.
#
# Prepare here, on the build machine, then carry the binary (it must stay under 64 MiB):
#   cargo build --release --features cuda && strip target/release/trm && ls -l target/release/trm
# On the GPU machine, from the repository root:
#   tools/gpu_check.sh OUT_DIR [path/to/trm]              (default target/release/trm, --device cuda)
# A dry run of the same logic on the CPU with tiny sizes (what tests/gpu_check.rs runs):
#   tools/gpu_check.sh --device cpu --tiny OUT_DIR [path/to/trm]
#
# Checks (exit 1 when one fails): every command succeeds; the language model's and both Sudoku
# runs' losses fall; the bf16 Sudoku run agrees with the f32 one to bf16 tolerance (first update's
# loss within 2%, last within 10%).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICE=cuda
TINY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --tiny) TINY=1; shift ;;
        -*) echo "error: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: tools/gpu_check.sh [--device cuda|cpu] [--tiny] OUT_DIR [trm]" >&2; exit 2; }
OUT=$1
TRM=$(realpath "${2:-target/release/trm}")
[ -x "$TRM" ] || { echo "error: $TRM is not an executable trm binary" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
FAILED=0
fail() { echo "CHECK FAILED: $*" | tee -a "$OUT/checks.txt" >&2; FAILED=1; }

if [ "$TINY" = 1 ]; then
    LM_SIZE=(--set model.d_model=32 --set model.n_heads=2 --set train.batch_size=4 --set train.seq_len=32)
    LM_STEPS=30
    SUDOKU_SIZE=(--set model.d_model=32 --set model.n_heads=2 --set model.n_layers=1 --set model.n=1
                 --set model.t=2 --set model.n_sup=2 --set train.batch_size=8 --set puzzle.puzzle_emb_len=1
                 --set train.lr=3e-3 --set train.warmup=0 --set puzzle.max_blanks=4)
    SUDOKU_UPDATES=12
    BENCH_BATCHES=2
else
    LM_SIZE=()
    LM_STEPS=300
    SUDOKU_SIZE=(--set puzzle.max_blanks=50)
    SUDOKU_UPDATES=20
    BENCH_BATCHES=10
fi

# Peak GPU memory of a command: nvidia-smi polled every 0.2 s (n/a without nvidia-smi).
PEAK=n/a
measure() { # log_name command... ; sets PEAK, fails the check when the command fails
    local log="$OUT/$1.log"; shift
    local poll=""
    if command -v nvidia-smi >/dev/null 2>&1 && [ "$DEVICE" != cpu ]; then
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/mem.tmp" 2>/dev/null &
        poll=$!
    fi
    local status=0
    "$@" > "$log" 2>&1 || status=$?
    if [ -n "$poll" ]; then
        kill "$poll" 2>/dev/null || true
        wait "$poll" 2>/dev/null || true
        PEAK=$(sort -g "$OUT/mem.tmp" | tail -1)
        PEAK=${PEAK:-n/a}
    fi
    if [ "$status" != 0 ]; then
        fail "$* exited with $status (log: $log)"
        tail -5 "$log" >&2
    fi
    return 0
}

# The values of "key":number on every line of a metrics.jsonl.
values() { grep -o "\"$2\":[-0-9.eE+]*" "$1" | cut -d: -f2; }
first() { values "$1" "$2" | head -1; }
last() { values "$1" "$2" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "inf"; else printf "%.4f", (a - b) / b }'; }
abs_below() { awk -v x="$1" -v lim="$2" 'BEGIN{ x = x < 0 ? -x : x; exit !(x < lim) }'; }

ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 |"); }

# A training run's row from its metrics.jsonl: step time, tokens/s, updates/s, final loss.
run_row() { # name precision run_dir
    local m="$3/metrics.jsonl"
    if [ ! -s "$m" ]; then row "$1" "$DEVICE" "$2" - - - "$PEAK" -; return; fi
    local steps secs tokens
    steps=$(last "$m" step); secs=$(last "$m" train_seconds); tokens=$(last "$m" tokens)
    row "$1" "$DEVICE" "$2" \
        "$(awk -v s="$secs" -v n="$steps" 'BEGIN{printf "%.1f", 1000 * s / n}')" \
        "$(awk -v t="$tokens" -v s="$secs" 'BEGIN{printf "%.0f", t / s}')" \
        "$(awk -v n="$steps" -v s="$secs" 'BEGIN{printf "%.2f", n / s}')" \
        "$PEAK" "$(last "$m" loss)"
}

falls() { # name metrics.jsonl: the last logged loss is below the first
    local a b
    a=$(first "$2" loss); b=$(last "$2" loss)
    awk -v a="$a" -v b="$b" 'BEGIN{ exit !(b < a) }' || fail "$1: loss did not fall ($a -> $b)"
}

# 1. The default TRM language model: a short run (loss must fall), its sample, TensorBoard logs.
measure lm "$TRM" train --device "$DEVICE" --run-dir "$OUT/lm" "${LM_SIZE[@]}" \
    --set train.steps=$LM_STEPS --set train.eval_every=$LM_STEPS --set train.checkpoint_every=$LM_STEPS \
    --set train.log_every=10 --set sample.max_new_tokens=64
run_row "default LM, $LM_STEPS updates" f32 "$OUT/lm"
[ -s "$OUT/lm/metrics.jsonl" ] && falls "default LM" "$OUT/lm/metrics.jsonl"

# 2. Throughput of the default LM (training step, sampling without and with the KV cache), in f32
#    and bf16, from `trm bench`.
for precision in f32 bf16; do
    measure "bench-$precision" "$TRM" bench --config configs/default.toml --device "$DEVICE" \
        "${LM_SIZE[@]}" --set train.precision=$precision --batches $BENCH_BATCHES \
        --sample-tokens 32 --out "$OUT/bench-$precision.md"
    if [ -s "$OUT/bench-$precision.md" ]; then
        # columns: config, device, parameters, batch x seq, n/T/N_sup, ms, tokens/s, no cache, cache
        IFS='|' read -r _ _ _ _ _ _ ms tps nocache cache _ < <(tail -1 "$OUT/bench-$precision.md")
        row "default LM step (trm bench)" "$DEVICE" "$precision" "${ms// /}" "${tps// /}" \
            "$(awk -v ms="${ms// /}" 'BEGIN{printf "%.2f", 1000 / ms}')" "$PEAK" -
        # sampling runs the EMA weights in f32 whatever the training precision
        [ "$precision" = f32 ] && row "sampling, no cache / KV cache (tokens/s)" "$DEVICE" f32 - \
            "${nocache// /} / ${cache// /}" - "$PEAK" -
    fi
done

# 3. Sudoku-Extreme-Att (D 512, 2 layers, n 6, T 3, batch 768 in the full check) on generated
#    puzzles: a few updates in f32 and in bf16 from the same weights and data.
for precision in f32 bf16; do
    measure "sudoku-$precision" "$TRM" train --device "$DEVICE" --config configs/sudoku-extreme-att.toml \
        --run-dir "$OUT/sudoku-$precision" --set puzzle.train= --set puzzle.test= \
        --set puzzle.generate_train=256 --set puzzle.generate_test=32 --set puzzle.val_count=0 \
        "${SUDOKU_SIZE[@]}" --set train.steps=$SUDOKU_UPDATES --set train.eval_every=$SUDOKU_UPDATES \
        --set train.checkpoint_every=$SUDOKU_UPDATES --set train.log_every=1 --set train.precision=$precision
    run_row "Sudoku-Extreme-Att, $SUDOKU_UPDATES updates" "$precision" "$OUT/sudoku-$precision"
    [ -s "$OUT/sudoku-$precision/metrics.jsonl" ] && falls "Sudoku $precision" "$OUT/sudoku-$precision/metrics.jsonl"
done
if [ -s "$OUT/sudoku-f32/metrics.jsonl" ] && [ -s "$OUT/sudoku-bf16/metrics.jsonl" ]; then
    d1=$(ratio "$(first "$OUT/sudoku-bf16/metrics.jsonl" loss)" "$(first "$OUT/sudoku-f32/metrics.jsonl" loss)")
    d2=$(ratio "$(last "$OUT/sudoku-bf16/metrics.jsonl" loss)" "$(last "$OUT/sudoku-f32/metrics.jsonl" loss)")
    abs_below "$d1" 0.02 || fail "bf16 vs f32: first update's loss differs by $d1 (relative)"
    abs_below "$d2" 0.10 || fail "bf16 vs f32: last update's loss differs by $d2 (relative)"
    echo "bf16 vs f32 Sudoku loss, relative difference: first update $d1, last update $d2" >> "$OUT/checks.txt"
fi

# 4. Data-parallel training when there are two GPUs (or the CPU dry run: two CPU peers).
GPUS=0
command -v nvidia-smi >/dev/null 2>&1 && GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "$DEVICE" = cpu ] || [ "$GPUS" -ge 2 ]; then
    PAIR=cuda:0,cuda:1
    [ "$DEVICE" = cpu ] && PAIR=cpu,cpu
    measure "bench-parallel" "$TRM" bench --config configs/default.toml --device "$PAIR" \
        "${LM_SIZE[@]}" --batches $BENCH_BATCHES --sample-tokens 1 --out "$OUT/bench-parallel.md"
    if [ -s "$OUT/bench-parallel.md" ]; then
        IFS='|' read -r _ _ _ _ _ _ ms tps _ < <(tail -1 "$OUT/bench-parallel.md")
        row "default LM step, 2 peers (trm bench)" "$PAIR" f32 "${ms// /}" "${tps// /}" \
            "$(awk -v ms="${ms// /}" 'BEGIN{printf "%.2f", 1000 / ms}')" "$PEAK" -
    fi
else
    echo "one GPU: data-parallel check skipped" >> "$OUT/checks.txt"
fi

{
    echo "| check | device | precision | step time (ms) | tokens/s | updates/s | peak GPU memory (MiB) | final loss |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/table.md"
rm -f "$OUT/mem.tmp"
if [ "$FAILED" = 0 ]; then
    echo "all checks passed" | tee -a "$OUT/checks.txt"
else
    exit 1
fi
