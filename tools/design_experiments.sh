#!/usr/bin/env bash
# The two language-model design decisions of the first issue, measured (table: eval/lm-design-results.md; discussion: eval/lm-design.md):
#   y_init:      "fixed" (one random vector, as the paper) vs "embed" (y starts as the embedded input)
#   supervision: "per_step" (optimizer step after every supervision step) vs "accumulate" (one step per batch)
# Same data, tokenizer, seed and token budget for every variant. Usage: tools/design_experiments.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-300}
cargo build --release --quiet
out=eval/lm-design-results.md
common=(--config configs/default.toml --set model.d_model=64 --set model.n_layers=1 --set train.batch_size=8
        --set train.seq_len=64 --set "train.steps=$steps" --set "train.eval_every=$steps" --set train.eval_windows=64)
{
  echo "| y_init | supervision | optimizer updates | val perplexity (per supervision step) | unigram | wall-clock s |"
  echo "|---|---|---|---|---|---|"
} > "$out.tmp"
for y in fixed embed; do
  for s in per_step accumulate; do
    dir=$(mktemp -d)
    start=$(date +%s.%N)
    ./target/release/trm train "${common[@]}" --set "model.y_init=$y" --set "train.supervision=$s" --run-dir "$dir/run" >"$dir/log" 2>&1
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    per_step=$(grep -o 'per supervision step: [0-9., ]*' "$dir/log" | tail -n 1 | sed 's/per supervision step: //')
    final=$(grep -o '^validation perplexity [0-9.]*' "$dir/log" | awk '{print $3}')
    unigram=$(grep -o 'unigram baseline [0-9.]*' "$dir/log" | awk '{print $3}')
    updates=$(python3 -c "import json;print(json.load(open('$dir/run/checkpoints/'+open('$dir/run/checkpoints/latest').read().strip()+'/state.json'))['updates'])")
    echo "| $y | $s | $updates | **$final** ($per_step) | $unigram | ${secs%.*} |" >> "$out.tmp"
    rm -rf "$dir"
  done
done
mv "$out.tmp" "$out"
cat "$out"
