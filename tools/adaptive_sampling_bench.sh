#!/usr/bin/env bash
# Wall-clock of cached sampling with a fixed number of supervision steps against adaptive depth
# (--exit), side by side on one machine: the arms alternate, 3 rounds, and the median is reported.
#   tools/adaptive_sampling_bench.sh RUN [MAX_STEPS] [RULE...]
# (default MAX_STEPS 16, RULES kl:1e-2 kl:1e-3). Prints a Markdown table; each arm samples the same
# 256 tokens' worth (greedy, seed 0, prompt "ROMEO.") so the work differs only in depth.
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?usage: tools/adaptive_sampling_bench.sh RUN [MAX_STEPS] [RULE...]}"
steps="${2:-16}"; shift 2 || shift $#
rules=("$@"); [ ${#rules[@]} -gt 0 ] || rules=(kl:1e-2 kl:1e-3)
trm="${TRM_BIN:-target/release/trm}"
[ -n "${TRM_BIN:-}" ] || cargo build --release --quiet
arms=("--steps $steps")
for r in "${rules[@]}"; do arms+=("--steps $steps --exit $r"); done
declare -A times
for round in 1 2 3; do
    for arm in "${arms[@]}"; do
        start=$(date +%s%N)
        # shellcheck disable=SC2086
        $trm sample --checkpoint "$run" --prompt "ROMEO." --max-new-tokens 256 --temperature 0 \
            $arm > /dev/null
        end=$(date +%s%N)
        times["$arm"]+="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') "
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | sed -n 2p; }
base=$(echo "${times["${arms[0]}"]}" | median)
echo "| sampler (256 tokens, KV cache on) | median seconds of 3 | time vs fixed depth |"
echo "|---|---|---|"
for arm in "${arms[@]}"; do
    t=$(echo "${times[$arm]}" | median)
    printf '| `%s` | %.2f | %.2f |\n' "$arm" "$t" "$(awk -v t="$t" -v b="$base" 'BEGIN { print t / b }')"
done
