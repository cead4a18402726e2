#!/usr/bin/env bash
# The recursive-LM study of eval/recursive-lm.md: the recurrent-depth preset against the paper's
# TRM recipe, ablations of the preset (one option changed each), and transformers matched to it in
# parameters and in forward FLOPs, all trained by `trm compare` on the same data, tokens, seed and held-out windows. Each
# TRM is evaluated from 1 to 4x its trained supervision steps (test-time depth).
#   tools/recursive_lm_study.sh [NAME] [--set KEY=VALUE ...]
# Writes eval/compare-NAME/ (default NAME: recursive-lm); runs go to runs/study-NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-recursive-lm}"; shift || true
cargo build --release --quiet
target/release/trm compare --name "$name" --runs-dir "runs/study-$name" --out-dir eval --eval-windows 512 \
    --config configs/recurrent-lm.toml \
    --config configs/default.toml \
    --config configs/study/sandwich-norm.toml \
    --config configs/study/prelude-coda.toml \
    --config configs/study/fixed-depth.toml \
    --config configs/study/prelude-coda-fixed-depth.toml \
    --config configs/study/full-backprop.toml \
    --config configs/study/every-step-loss.toml \
    --config configs/study/add-injection.toml \
    --config configs/study/transformer-params.toml \
    --config configs/study/transformer-3l.toml \
    --config configs/study/transformer-flops.toml \
    "$@"
