"""Read a ClusterKV Lab trace (format v1) with numpy only: python3 read_trace.py TRACE.safetensors [TENSOR ...]"""
import json, struct, sys
import numpy as np

DTYPES = {"F16": np.float16, "F32": np.float32, "I32": np.int32}

def read_trace(path):
    """Return (manifest dict, {name: np.ndarray}); tensors are memory-mapped, read lazily."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    manifest = json.loads(header.pop("__metadata__")["trace"])
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    tensors = {name: data[b:e].view(DTYPES[t["dtype"]]).reshape(t["shape"])
               for name, t in header.items() for b, e in [t["data_offsets"]]}
    return manifest, tensors

if __name__ == "__main__":
    manifest, tensors = read_trace(sys.argv[1])
    print(json.dumps(manifest))
    for name, t in tensors.items():
        print(name, t.dtype, list(t.shape))
    for name in sys.argv[2:]:  # print the first values of requested tensors, for checks
        print(name, json.dumps([float(x) for x in tensors[name].reshape(-1)[:8]]))
