"""Reference numbers from PyTorch on the GPU host (not a project dependency), in the same GPU run as
`clusterkv bench`, so every ratio against PyTorch comes from one run. Same shapes: H = 32 query heads on
G = 8 KV heads, d = 128, one decode step, contexts 4K..128K, budgets 2048 and 1024; C0 = 400 at 32K and
ceil(T / 80) in the context sweep (planted clusters, as the bench). Timed with CUDA events (median of runs
after warm-up), eager mode:

  denseFp32       softmax(q k^T / sqrt(d)) v, fp32 batched matmuls (GQA by reshaping q)
  sdpaFp16        torch.nn.functional.scaled_dot_product_attention, fp16, enable_gqa (flash / efficient kernels)
  sparseGathered  attention over B gathered rows per head, fp32 (the gather and the attention only)
  clusterkvStep   PyTorch's own eager ClusterKV step, fp32: centroid scores, a full sort of the K scores,
                  cumulative sizes, the cut, token positions by searchsorted, gathered K and V, attention.
                  The per-query-head views of the index (centroids, sizes, offsets, sorted tokens of each
                  head's KV head) are made once per prompt, like our index, not inside the timed step
  clusterkvStepFp16  the same step with K, V and centroids in fp16 (scores, softmax and sums as PyTorch's
                  fp16 ops do them)
  kmeans          cosine K-means, 20 iterations, C0 = 400, 8 KV heads x 32K keys x d 128, fp32: normalised
                  matmul + argmax, index_add_ segment sums, bincount, empty clusters keep their centroid

Usage: python3 bench/torch_reference.py OUT.json [--quick]   (--quick: two contexts, few runs: a smoke test)
The driver runs it in fresh processes and merges them: `bench/run.ts torch` (bench/suites/torch.ts).
Quantiles by the project's one rule (src/sim/quantile.ts, type 7: an even count's median is the mean of its two
middle values), which Python's statistics.median and statistics.quantiles(method="inclusive") follow.
"""
import json, math, statistics, sys, time
import torch

QUICK = "--quick" in sys.argv
OUT = [a for a in sys.argv[1:] if not a.startswith("--")][0]
H, G, d = 32, 8, 128
R = H // G
dev = "cuda"


def time_ms(fn, warmup=10, runs=100):
    if QUICK:
        warmup, runs = 2, 5
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize(); times.append(a.elapsed_time(b))
    deciles = statistics.quantiles(times, n=10, method="inclusive")
    return {"median": statistics.median(times), "p10": deciles[0], "p90": deciles[-1], "runs": runs}


def planted(T, K, gen):
    """Labels [G, T] with uneven cluster weights, centres [G, K, d], keys = centre + noise, values, q."""
    weights = 0.2 + 2.8 * torch.rand(K, generator=gen, device=dev)
    labels = torch.multinomial(weights, G * T, replacement=True, generator=gen).view(G, T)
    labels[:, :K] = torch.arange(K, device=dev)  # every cluster has a member
    centres = 1.7 * (2 * torch.rand(G, K, d, generator=gen, device=dev) - 1)
    keys = torch.gather(centres, 1, labels[..., None].expand(G, T, d)) + (2 * torch.rand(G, T, d, generator=gen, device=dev) - 1)
    values = 2 * torch.rand(G, T, d, generator=gen, device=dev) - 1
    q = 1.7 * (2 * torch.rand(H, d, generator=gen, device=dev) - 1)
    # the cluster index: tokens grouped by cluster (stable), sizes, offsets
    order = torch.sort(labels, dim=1, stable=True).indices
    sizes = torch.zeros(G, K, dtype=torch.long, device=dev).scatter_add_(1, labels, torch.ones_like(labels))
    offsets = torch.cumsum(sizes, 1) - sizes
    return q, keys, values, centres, order, sizes, offsets


def dense_fp32(q, k, v):
    qg = q.view(G, R, d)
    w = torch.softmax(qg @ k.transpose(1, 2) / math.sqrt(d), -1)
    return (w @ v).view(H, d)


KV_OF = torch.arange(H, device=dev) // R


def head_index(centroids, order, sizes, offsets):
    """Per query head, its KV head's centroids [H, K, d], sorted tokens, sizes and offsets: made once per prompt."""
    return centroids[KV_OF].contiguous(), order[KV_OF].contiguous(), sizes[KV_OF].contiguous(), offsets[KV_OF].contiguous()


def clusterkv_step(q, k, v, cents_h, order_h, sizes_h, offsets_h, B):
    """One eager decode step, per query head: the same rule as src/gpu/selection.ts + attention.ts."""
    kv_of = KV_OF
    scores = torch.einsum("hd,hkd->hk", q, cents_h)  # [H, K]
    ranked = torch.sort(scores, dim=1, descending=True, stable=True).indices  # ties to the lower id
    ranked_sizes = torch.gather(sizes_h, 1, ranked)
    end = torch.cumsum(ranked_sizes, 1)
    start = end - ranked_sizes
    n = min(B, k.shape[1])
    slots = torch.arange(n, device=dev).expand(H, n).contiguous()
    rank = torch.searchsorted(end, slots, right=True)
    cluster = torch.gather(ranked, 1, rank)
    within = slots - torch.gather(start, 1, rank)
    pos_in_head = torch.gather(offsets_h, 1, cluster) + within
    tokens = torch.gather(order_h, 1, pos_in_head)  # [H, n]
    ks = k[kv_of[:, None], tokens]
    vs = v[kv_of[:, None], tokens]
    w = torch.softmax((ks @ q[:, :, None]).squeeze(-1) / math.sqrt(d), -1)
    return (w[:, None, :] @ vs).squeeze(1)


def kmeans(keys, K, iters, gen):
    Gh, N, dd = keys.shape
    init = torch.stack([torch.randperm(N, generator=gen, device=dev)[:K] for _ in range(Gh)])
    cent = torch.gather(keys, 1, init[..., None].expand(Gh, K, dd))
    normed = keys / keys.norm(dim=2, keepdim=True).clamp_min(1e-30)
    offs = (torch.arange(Gh, device=dev) * K)[:, None]
    for _ in range(iters):
        cn = cent / cent.norm(dim=2, keepdim=True).clamp_min(1e-30)
        labels = torch.bmm(normed, cn.transpose(1, 2)).argmax(2)  # [G, N]
        flat = (labels + offs).reshape(-1)
        sums = torch.zeros(Gh * K, dd, device=dev).index_add_(0, flat, keys.reshape(-1, dd))
        counts = torch.bincount(flat, minlength=Gh * K).view(Gh, K, 1)
        mean = sums.view(Gh, K, dd) / counts.clamp_min(1)
        cent = torch.where(counts > 0, mean, cent)
    cn = cent / cent.norm(dim=2, keepdim=True).clamp_min(1e-30)
    return cent, torch.bmm(normed, cn.transpose(1, 2)).argmax(2)


out = {"kind": "clusterkv-torch-reference", "stepIndex": "per-head views made once per prompt (not per step)", "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "dtype": "float32 (sdpaFp16: float16)",
       "tf32Matmul": torch.backends.cuda.matmul.allow_tf32, "shape": {"H": H, "G": G, "d": d}, "rows": []}
contexts = [4096, 32768] if QUICK else [4096, 8192, 16384, 32768, 65536, 131072]
for T in contexts:
    gen = torch.Generator(device=dev).manual_seed(0)
    K = 400 if T == 32768 else math.ceil(T / 80)
    q, k, v, cents, order, sizes, offsets = planted(T, K, gen)
    row = {"context": T, "clusters": K, "denseBytes": 2 * G * T * d * 4}
    row["denseFp32Ms"] = time_ms(lambda: dense_fp32(q, k, v))
    q16 = q.half().view(1, H, 1, d)
    k16, v16 = k.half()[None], v.half()[None]
    row["sdpaFp16Ms"] = time_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q16, k16, v16, enable_gqa=True))
    index_h = head_index(cents, order, sizes, offsets)
    index_h16 = (index_h[0].half(),) + index_h[1:]
    for B in [2048, 1024]:
        row[f"clusterkvStep{B}Ms"] = time_ms(lambda: clusterkv_step(q, k, v, *index_h, B))
        row[f"clusterkvStepFp16{B}Ms"] = time_ms(lambda: clusterkv_step(q.half(), k16[0], v16[0], *index_h16, B))
        idx = torch.randint(0, T, (H, B), device=dev, generator=gen)
        kv_of = torch.arange(H, device=dev) // R

        def sparse():
            ks = k[kv_of[:, None], idx]; vs = v[kv_of[:, None], idx]
            w = torch.softmax((ks @ q[:, :, None]).squeeze(-1) / math.sqrt(d), -1)
            return (w[:, None, :] @ vs).squeeze(1)
        row[f"sparseGathered{B}Ms"] = time_ms(sparse)
    # wall time of the eager step as a host loop sees it: launch-bound, synchronised each step
    torch.cuda.synchronize(); t0 = time.perf_counter(); steps = 5 if QUICK else 50
    for _ in range(steps):
        clusterkv_step(q, k, v, *index_h, 2048); torch.cuda.synchronize()
    row["clusterkvStep2048WallMs"] = (time.perf_counter() - t0) * 1e3 / steps
    out["rows"].append(row)
    print(T, K, {key: (val["median"] if isinstance(val, dict) else val) for key, val in row.items() if key.endswith("Ms")}, flush=True)
    del q, k, v, cents, order, sizes, offsets, q16, k16, v16, index_h, index_h16
    torch.cuda.empty_cache()

gen = torch.Generator(device=dev).manual_seed(0)
_, keys, _, _, _, _, _ = planted(32768, 400, gen)
iters = 20
out["kmeans"] = {"iters": iters, "clusters": 400, "kvHeads": G, "tokens": 32768,
                 "ms": time_ms(lambda: kmeans(keys, 400, iters, torch.Generator(device=dev).manual_seed(1)), warmup=2, runs=10)}
print("kmeans", out["kmeans"]["ms"]["median"], flush=True)
json.dump(out, open(OUT, "w"), indent=2)
