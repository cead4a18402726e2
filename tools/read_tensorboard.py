#!/usr/bin/env python3
"""Read a TensorBoard log directory with TensorBoard's own reader and print it as JSON.

Usage: tools/read_tensorboard.py DIR

Loads DIR (all event files in it, merged the way TensorBoard does) with
tensorboard.backend.event_processing.event_accumulator.EventAccumulator, keeping every
event (size_guidance 0), and prints one JSON object on stdout:

    {"scalars": {tag: [[step, value], ...]},
     "text":    {tag: [[step, "string"], ...]}}

Output is ASCII (other characters as \\u escapes). Scalar values are JSON numbers; NaN
and infinities are written as the strings "nan", "inf" and "-inf" (strict JSON has no
such numbers). Text entries are the tensors of plugin "text", turned into arrays with
tensor_util.make_ndarray and decoded as UTF-8: a one-element tensor gives a string, a
larger one a list of strings.

Needs `pip install tensorboard` (TensorFlow is not needed). Exit status 2 if it is missing.
"""

import json
import math
import os
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: read_tensorboard.py DIR", file=sys.stderr)
        return 2
    logdir = argv[1]
    if not os.path.isdir(logdir):
        print(f"read_tensorboard.py: not a directory: {logdir}", file=sys.stderr)
        return 2
    try:
        from tensorboard.backend.event_processing import event_accumulator
        from tensorboard.util import tensor_util
    except ImportError as e:
        print(
            f"read_tensorboard.py: cannot import tensorboard ({e}); run `pip install tensorboard`",
            file=sys.stderr,
        )
        return 2

    guidance = {kind: 0 for kind in event_accumulator.DEFAULT_SIZE_GUIDANCE}
    guidance[event_accumulator.TENSORS] = 0
    guidance[event_accumulator.SCALARS] = 0
    acc = event_accumulator.EventAccumulator(logdir, size_guidance=guidance)
    acc.Reload()

    tags = acc.Tags()
    scalars = {}
    for tag in tags.get(event_accumulator.SCALARS, []):
        scalars[tag] = [[e.step, number(e.value)] for e in acc.Scalars(tag)]

    text = {}
    try:
        text_tags = list(acc.PluginTagToContent("text"))
    except KeyError:  # no text summaries in this directory
        text_tags = []
    for tag in text_tags:
        entries = []
        for e in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(e.tensor_proto)
            strings = [decode(x) for x in arr.reshape(-1).tolist()]
            entries.append([e.step, strings[0] if len(strings) == 1 else strings])
        text[tag] = entries

    json.dump({"scalars": scalars, "text": text}, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")
    return 0


def number(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def decode(x):
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
