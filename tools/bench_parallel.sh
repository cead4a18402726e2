#!/usr/bin/env bash
# Data-parallel scaling on this machine's cores, side by side: training tokens/s of one peer on
# one core (RAYON_NUM_THREADS=1, --device cpu) against two peers on two cores
# (RAYON_NUM_THREADS=2, --device cpu,cpu), same global batch, alternating runs, best of two each.
#
#   tools/bench_parallel.sh [path/to/trm] [config ...]   (default: target/release/trm,
#                                                          configs/default.toml configs/transformer-params.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
TRM=$(realpath "${1:-target/release/trm}")
shift || true
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(configs/default.toml configs/transformer-params.toml)
BATCHES=${BATCHES:-8}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

tokens_per_s() { # threads devices config -> train tokens/s
    RAYON_NUM_THREADS=$1 "$TRM" bench --config "$3" --device "$2" --batches "$BATCHES" \
        --sample-tokens 1 --out "$OUT/b.md" >/dev/null 2>&1
    # the row's 8th column is "train tokens/s"
    tail -1 "$OUT/b.md" | awk -F'|' '{gsub(/ /,"",$8); print $8}'
}
max() { printf '%s\n' "$@" | sort -g | tail -1; }

echo "| config | 1 peer, 1 core: tokens/s | 2 peers (cpu,cpu), 2 cores: tokens/s | speed-up |"
echo "|---|---|---|---|"
for c in "${CONFIGS[@]}"; do
    a1=$(tokens_per_s 1 cpu "$c"); b1=$(tokens_per_s 2 cpu,cpu "$c")
    a2=$(tokens_per_s 1 cpu "$c"); b2=$(tokens_per_s 2 cpu,cpu "$c")
    a=$(max "$a1" "$a2"); b=$(max "$b1" "$b2")
    echo "| $(basename "$c" .toml) | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2fx", b/a}') |"
done
