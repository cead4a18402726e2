#!/usr/bin/env bash
# The data of configs/chess-cpu.toml, exactly as measured in the README: 3,000 Stockfish self-play
# games (two seeds) labelled at depth 8 for training, 100 other games for testing; training positions
# whose board also occurs in the test set are dropped. About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENINGS=${OPENINGS:-../shared/data/chess/chess-openings}
TRM=${TRM:-target/release/trm}
mkdir -p data/chess
$TRM data chess --out data/chess/test.csv --games 100 --plies 30 --seed 2 --openings "$OPENINGS"
$TRM data chess --out data/chess/train-a.csv --games 500 --plies 30 --seed 1 --openings "$OPENINGS"
$TRM data chess --out data/chess/train-b.csv --games 2500 --plies 30 --seed 3 --openings "$OPENINGS"
python3 - <<'PY'
import csv
test = {row["fen"].split(" ")[0] for row in csv.DictReader(open("data/chess/test.csv"))}
rows, seen = [], set()
for name in ["data/chess/train-a.csv", "data/chess/train-b.csv"]:
    for row in csv.DictReader(open(name)):
        board = row["fen"].split(" ")[0]
        if board in test or row["fen"] in seen:
            continue
        seen.add(row["fen"])
        rows.append(row)
with open("data/chess/train.csv", "w", newline="") as f:
    w = csv.DictWriter(f, ["fen", "best_move"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
print(f"data/chess/train.csv: {len(rows)} positions (test boards removed)")
PY
