"""PyTorch reference timings for `yolo-wgpu bench kernels`, on the same GPU in the same call.

matmul 4096^3 in f32 (TF32 off) and f16, and every forward convolution of yolov8n
(bench/shapes/yolov8n-convs.json) at batch 16, channels_last, cuDNN benchmark mode,
f32 (TF32 off) and f16. CUDA-event timing: ~200 ms of warm-up load, then the median of --reps back-to-back runs
(the same protocol as `yolo-wgpu bench kernels`).
Writes JSON to --out and prints a short table.
"""
import argparse
import json
import os
import statistics
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--reps", type=int, default=30)
args = ap.parse_args()

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
dev = "cuda"


def median_ms(fn, reps):
    """Keeps the GPU busy ~200 ms (clocks up), then times reps back to back with per-rep events."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.2:
        for _ in range(5):
            fn()
        torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for a, b in events:
        a.record()
        fn()
        b.record()
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in events)


out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "batch": args.batch, "matmul": [], "convs": []}
n = 4096
for dt, name in [(torch.float32, "f32"), (torch.float16, "f16")]:
    a = torch.randn(n, n, device=dev, dtype=dt)
    b = torch.randn(n, n, device=dev, dtype=dt)
    ms = median_ms(lambda: torch.mm(a, b), args.reps)
    out["matmul"].append({"dtype": name, "ms": ms, "tflops": 2 * n**3 / ms / 1e9})

shapes = json.load(open(os.path.join(os.path.dirname(__file__), "..", "shapes", "yolov8n-convs.json")))
for dt, name in [(torch.float32, "f32"), (torch.float16, "f16")]:
    for s in shapes:
        x = torch.randn(args.batch, s["cin"], s["h"], s["w"], device=dev, dtype=dt).to(memory_format=torch.channels_last)
        conv = torch.nn.Conv2d(s["cin"], s["cout"], s["k"], s["stride"], s["pad"], groups=s["groups"], bias=False)
        conv = conv.to(dev, dt).to(memory_format=torch.channels_last)
        with torch.no_grad():
            ms = median_ms(lambda: conv(x), args.reps)
        ho = (s["h"] + 2 * s["pad"] - s["k"]) // s["stride"] + 1
        macs = args.batch * ho * ho * s["cout"] * s["k"] ** 2 * s["cin"] // s["groups"]
        out["convs"].append({"name": s["name"], "dtype": name, "ms": ms, "count": s["count"], "tflops": 2 * macs / ms / 1e9})

json.dump(out, open(args.out, "w"), indent=1)
print(f"{out['device']}  torch {out['torch']}")
for m in out["matmul"]:
    print(f"matmul 4096^3 {m['dtype']}: {m['ms']:.3f} ms  {m['tflops']:.1f} TFLOP/s")
for dt in ["f32", "f16"]:
    total = sum(c["ms"] * c["count"] for c in out["convs"] if c["dtype"] == dt)
    print(f"yolov8n convs b{args.batch} {dt}: {total:.2f} ms (time-weighted sum)")
