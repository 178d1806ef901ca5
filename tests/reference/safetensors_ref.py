"""Reference safetensors files for tests/engine/test_safetensors.c, made and read by the Python
`safetensors` package (the format's reference implementation).

usage: safetensors_ref.py write_np OUT      numpy tensors of every integer/float dtype + metadata
       safetensors_ref.py write_pt OUT      torch tensors incl. BF16 + metadata
       safetensors_ref.py read IN           prints {"metadata": {...}, "tensors": {name: {dtype, shape, values}}}
The values are fixed here and hand-written again in the C test.
"""
import json
import sys

import numpy as np


def write_np(path):
    from safetensors.numpy import save_file

    tensors = {
        "f32": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        "u16": np.array([7, 1007, 2007, 3007, 65535], dtype=np.uint16),
        "i64": np.array([[-(2**40), -1], [0, 2**40 + 3]], dtype=np.int64),
        "i32": np.array([-5, 0, 2147483647], dtype=np.int32),
        "u8": np.array([0, 1, 128, 255], dtype=np.uint8),
        "f16": np.array([0.5, -2.0, 65504.0], dtype=np.float16),
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    save_file(tensors, path, metadata={"format": "np", "model.dim": "512", "unicode": "h\u00e9llo \u2713"})


def write_pt(path):
    import torch
    from safetensors.torch import save_file

    tensors = {
        "bf16": torch.tensor([1.0, -0.5, 3.0, 0.0078125], dtype=torch.bfloat16),
        "w": (torch.arange(6, dtype=torch.float32) * 0.25).reshape(3, 2),
    }
    save_file(tensors, path, metadata={"format": "pt"})


def read(path):
    from safetensors import safe_open

    out = {"tensors": {}}
    with safe_open(path, framework="np") as f:
        out["metadata"] = f.metadata()
        names = list(f.keys())
        for name in names:
            sl = f.get_slice(name)
            dtype, shape = sl.get_dtype(), list(sl.get_shape())
            if dtype == "BF16":
                continue
            arr = f.get_tensor(name)
            out["tensors"][name] = {"dtype": dtype, "shape": shape, "values": arr.reshape(-1).tolist()}
    bf16 = [n for n in names if n not in out["tensors"]]
    if bf16:
        with safe_open(path, framework="pt") as f:
            for name in bf16:
                t = f.get_tensor(name)
                out["tensors"][name] = {"dtype": "BF16", "shape": list(t.shape), "values": t.float().reshape(-1).tolist()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    {"write_np": write_np, "write_pt": write_pt, "read": read}[mode](path)
