#!/usr/bin/env python3
"""Average `trm compare` reports over seeds: one Markdown table per corpus.

    tools/seed_table.py OUT.md eval/compare-final-CORPUS-seed0 eval/compare-final-CORPUS-seed1 ...

Each folder holds the results.json that `trm compare` writes; folders whose names differ only in
their `-seedN` suffix are one corpus. Numbers are mean +- sample standard deviation over seeds.
Equal wall-clock reads each model's logged validation perplexity (the training run's own held-out
windows) at the recurrent-depth preset's training time: the last point logged by then.
"""
import json
import re
import statistics
import sys
from pathlib import Path

PRESET = "recurrent-lm"


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def at_time(curve, seconds):
    """The last validation perplexity logged by `seconds` of training (None before the first)."""
    seen = [p["val_ppl"] for p in curve if p["seconds"] <= seconds + 1e-9]
    return seen[-1] if seen else None


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: seed_table.py OUT.md COMPARE_DIR...")
    out = Path(sys.argv[1])
    groups = {}
    for d in map(Path, sys.argv[2:]):
        results = d / "results.json"
        if not results.exists():
            sys.exit(f"error: {results} is missing (did that trm compare finish?)")
        corpus = re.sub(r"-seed\d+$", "", d.name.removeprefix("compare-"))
        groups.setdefault(corpus, []).append(json.loads(results.read_text()))

    md = ["# Recursive LM study: final table over seeds", "",
          "Produced by `tools/recursive_lm_study.sh final` (`trm compare` per corpus and seed, then "
          "`tools/seed_table.py`). Mean ± standard deviation over seeds.", ""]
    for corpus, runs in groups.items():
        md += [f"## {corpus.removeprefix('final-')} ({len(runs)} seeds)", "", runs[0]["setup"], ""]
        names = [m["name"] for m in runs[0]["models"]]
        preset_time = {}
        for i, run in enumerate(runs):
            for m in run["models"]:
                if m["name"] == PRESET:
                    preset_time[i] = m["train_seconds"]
        md += ["| model | seeds | parameters | forward FLOPs/token | val perplexity (trained depth) "
               "| bits per byte | perplexity at 4x depth | logged val perplexity at the preset's "
               "wall-clock | wall-clock (s) |",
               "|---|---|---|---|---|---|---|---|---|"]
        ppl_at = {}
        for name in names:
            # seed index -> the model's results, for the seeds that trained it
            per_seed = {i: m for i, run in enumerate(runs) for m in run["models"]
                        if m["name"] == name}
            trained = {i: m["ppl_per_step"][m["trained_steps"] - 1] for i, m in per_seed.items()}
            ppl_at[name] = trained
            per_seed = list(per_seed.items())
            bpb = [m["bits_per_byte_per_step"][m["trained_steps"] - 1] for _, m in per_seed]
            deep = [m["ppl_per_step"][-1] if len(m["ppl_per_step"]) > 1 else None
                    for _, m in per_seed]
            timed = [at_time(m["curve"], preset_time[i]) if i in preset_time else None
                     for i, m in per_seed]
            seconds = [m["train_seconds"] for _, m in per_seed]
            m0 = per_seed[0][1]
            md.append(f"| {name} | {len(per_seed)} | {m0['parameters']} "
                      f"| {m0['flops_per_token'] / 1e6:.2f}M "
                      f"| **{mean_std(list(trained.values()))}** | {mean_std(bpb)} | {mean_std(deep)} "
                      f"| {mean_std(timed)} | {statistics.mean(seconds):.0f} |")
        md.append("")
        for a, b in [(PRESET, "transformer-params"), ("default", "transformer-params"),
                     (PRESET, "transformer-flops"), (PRESET, "default")]:
            if a in ppl_at and b in ppl_at:
                # the seeds both models trained with
                ratios = [ppl_at[a][i] / ppl_at[b][i] - 1 for i in ppl_at[a] if i in ppl_at[b]]
                md.append(f"- {a} vs {b}: {100 * statistics.mean(ratios):+.1f}% perplexity "
                          f"(per seed: {', '.join(f'{100 * r:+.1f}%' for r in ratios)})")
        md.append("")
    out.write_text("\n".join(md))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
