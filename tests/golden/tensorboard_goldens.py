"""Golden TensorBoard event file from the tensorboard package's own writer and reader.

Writes tests/data/tensorboard/scalars.tfevents: a first Event {wall_time, file_version
"brain.Event:2", source_metadata {writer "zerotune"}} and then one scalar Event per entry of
SCALARS (Summary.Value simple_value, as torch's SummaryWriter.add_scalar logs it), each encoded
with tensorboard.compat.proto.event_pb2 and framed by tensorboard.summary.writer.record_writer
(the TFRecord framing with masked CRC32C that EventFileWriter uses). Then reads the file back
with tensorboard's EventAccumulator and writes tests/data/tensorboard/scalars.json: the inputs,
what TensorBoard read (value as float32), the file's size and SHA-256 and the library versions.
The C++ test writes the same events with zt::worker::train::TensorBoardWriter and compares the
file byte for byte.

Run: python3 tests/golden/tensorboard_goldens.py            (needs `pip install tensorboard`)
     python3 tests/golden/tensorboard_goldens.py --check FILE   prints what TensorBoard reads
                                                                from any event file FILE
"""
import hashlib
import json
import math
import os
import sys

import google.protobuf
import tensorboard
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

OUT = os.path.join(os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data")),
                   "tensorboard")
START_WALL_TIME = 1763913165.25
LONG_TAG = "train/" + "x" * 150  # a tag longer than 127 bytes: two-byte length varints
# (tag, step, value, wall_time): step 0 (omitted field), multi-byte and negative steps, 0.0
# (simple_value is in a oneof: always written), -0.0, values float32 rounds, overflows or cannot hold
# exactly, NaN and infinities, a UTF-8 tag.
SCALARS = [
    ("train/loss", 0, 2.5, 1763913166.5),
    ("train/learning_rate", 0, 0.0, 1763913166.5),
    ("train/loss", 1, 2.3125, 1763913167.0078125),
    ("train/grad_norm", 1, 0.1, 1763913167.0078125),
    ("train/loss", 10, 1.9873046875, 1763913170.123456),
    ("train/learning_rate", 10, 1.9999999e-05, 1763913170.123456),
    ("eval/loss", 300, 2.718281828459045, 1763913299.999),
    ("train/loss", 1 << 40, -0.0, 1763913300.0),
    ("train/loss", -1, 1e40, 1763913301.0),
    ("train/grad_norm", 301, float("nan"), 1763913302.0),
    ("train/grad_norm", 302, float("inf"), 1763913303.0),
    ("train/grad_norm", 303, float("-inf"), 1763913304.0),
    ("train/épsilon", 304, 3.0e-39, 1763913305.0),
    (LONG_TAG, 305, 123456789.0, 1763913306.0),
]


def json_number(x):
    """JSON has no NaN or infinities: those are the strings "nan", "inf", "-inf"."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def write_events(path):
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        first = event_pb2.Event(wall_time=START_WALL_TIME, file_version="brain.Event:2",
                                source_metadata=event_pb2.SourceMetadata(writer="zerotune"))
        writer.write(first.SerializeToString())
        for tag, step, value, wall_time in SCALARS:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            writer.write(event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString())


def read_scalars(path, sort_like_scalars=False):
    """What TensorBoard shows: (tag, step, value, wall_time) per scalar, by tag and step, or in
    the order of SCALARS."""
    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    rows = []
    for tag in acc.Tags()["scalars"]:
        for e in acc.Scalars(tag):
            rows.append((tag, e.step, e.value, e.wall_time))
    if sort_like_scalars:
        order = {(t, s): i for i, (t, s, _, _) in enumerate(SCALARS)}
        rows.sort(key=lambda r: order[(r[0], r[1])])
    return rows


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        for tag, step, value, wall_time in read_scalars(sys.argv[2]):
            print(f"{tag}\t{step}\t{value!r}\t{wall_time!r}")
        return
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "scalars.tfevents")
    write_events(path)
    read = read_scalars(path, sort_like_scalars=True)
    if len(read) != len(SCALARS):
        sys.exit(f"tensorboard read {len(read)} scalars from {path}, expected {len(SCALARS)}")
    data = open(path, "rb").read()
    golden = {
        "versions": {"tensorboard": tensorboard.__version__, "protobuf": google.protobuf.__version__},
        "file": "scalars.tfevents",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "start_wall_time": START_WALL_TIME,
        "file_version": "brain.Event:2",
        "writer": "zerotune",
        "scalars": [
            {"tag": tag, "step": step, "value": json_number(value), "wall_time": wall_time,
             "read_value": json_number(r[2]), "read_wall_time": r[3]}
            for (tag, step, value, wall_time), r in zip(SCALARS, read)
        ],
    }
    with open(os.path.join(OUT, "scalars.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path} ({len(data)} bytes) and scalars.json: {len(SCALARS)} scalars")


if __name__ == "__main__":
    main()
