"""Reference numbers from PyTorch on the GPU host (not a project dependency): one decode step of dense
GQA attention and of sparse attention over B gathered positions per query head, fp32, same shapes as
`clusterkv bench`, timed with CUDA events. Usage: python3 bench/torch_reference.py OUT.json"""
import json, sys, torch

def time_ms(fn, warmup=10, runs=100):
    for _ in range(warmup): fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize(); times.append(a.elapsed_time(b))
    times.sort()
    return {"median": times[len(times) // 2], "p10": times[len(times) // 10], "p90": times[9 * len(times) // 10]}

H, G, d = 32, 8, 128
out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": "float32", "rows": []}
for T in [4096, 8192, 16384, 32768, 65536, 131072]:
    g = torch.Generator(device="cuda").manual_seed(0)
    k = torch.randn(G, T, d, device="cuda", generator=g); v = torch.randn(G, T, d, device="cuda", generator=g)
    q = torch.randn(H, d, device="cuda", generator=g)
    def dense():
        qg = q.view(G, H // G, d)
        w = torch.softmax(qg @ k.transpose(1, 2) / d ** 0.5, -1)
        return (w @ v).view(H, d)
    row = {"context": T, "denseMs": time_ms(dense), "denseBytes": 2 * G * T * d * 4}
    for B in [1024, 2048]:
        idx = torch.randint(0, T, (H, B), device="cuda", generator=g)
        kv_of = torch.arange(H, device="cuda") // (H // G)
        def sparse():
            ks = k[kv_of[:, None], idx]; vs = v[kv_of[:, None], idx]
            w = torch.softmax((ks @ q[:, :, None]).squeeze(-1) / d ** 0.5, -1)
            return (w[:, None, :] @ vs).squeeze(1)
        row[f"sparse{B}Ms"] = time_ms(sparse)
    out["rows"].append(row)
    print(T, row["denseMs"]["median"], row["sparse2048Ms"]["median"], flush=True)
json.dump(out, open(sys.argv[1], "w"), indent=2)
