"""PyTorch reference for `yolo-wgpu bench step`, on the same GPU in the same call.

yolov8n (Ultralytics 8.4 layout: SPPF's cv1 without activation; BatchNorm eps 1e-3, momentum 0.03)
written in plain PyTorch from the layer table, trained on random images with the same surrogate loss
(sum over the head's 6 outputs -- 3 levels x box and class branches, before concatenation -- of the
mean of their squares) and SGD(lr 0.01, momentum 0.9, Nesterov). Modes: `f32` (NCHW, TF32 off, as the
kernel benchmark) and `amp` (autocast f16 + channels_last + GradScaler). Protocol as ours: warm-up
steps, then each step timed to completion (synchronized, loss read back), median reported; peak
memory is `torch.cuda.max_memory_allocated` over the timed steps.

Prints one JSON line with the parameter count (must be 3,157,200), then one JSON line per case.
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--batches", default="16,64")
ap.add_argument("--imgsz", type=int, default=640)
ap.add_argument("--modes", default="f32,amp")
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--warmup", type=int, default=10)
ap.add_argument("--out", help="also write the JSON lines here")
args = ap.parse_args()
if not torch.cuda.is_available():
    sys.exit("step.py times CUDA steps (autocast, GradScaler, max_memory_allocated): no CUDA device here")

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU (or no activation)."""

    def __init__(self, c1, c2, k=1, s=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut):
        super().__init__()
        self.cv1 = Conv(c1, c2, 3)
        self.cv2 = Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c = c1 // 2
        self.cv1 = Conv(c1, c, act=False)
        self.cv2 = Conv(4 * c, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    """The YOLOv8 head; returns the 6 raw maps (box and class branch per level). DFL's conv is frozen."""

    def __init__(self, nc, ch):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, 64), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 64, 1)) for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = nn.Conv2d(16, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():  # the reference's bias_init (as ours), so both start from the same loss scale
            for box, cls, s in zip(self.cv2, self.cv3, (8, 16, 32)):
                box[-1].bias.fill_(1.0)
                cls[-1].bias.fill_(math.log(5 / nc / (640 / s) ** 2))

    def forward(self, xs):
        return [b(x) for b, x in zip(self.cv2, xs)] + [c(x) for c, x in zip(self.cv3, xs)]


class YOLOv8n(nn.Module):
    def __init__(self, nc=80):
        super().__init__()
        self.model = nn.ModuleList([
            Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True),  # 0-2
            Conv(32, 64, 3, 2), C2f(64, 64, 2, True),  # 3-4 (P3)
            Conv(64, 128, 3, 2), C2f(128, 128, 2, True),  # 5-6 (P4)
            Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256),  # 7-9 (P5)
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(384, 128, 1, False),  # 10-12 (11: concat 10, 6)
            nn.Upsample(scale_factor=2), nn.Identity(), C2f(192, 64, 1, False),  # 13-15 (14: concat 13, 4)
            Conv(64, 64, 3, 2), nn.Identity(), C2f(192, 128, 1, False),  # 16-18 (17: concat 16, 12)
            Conv(128, 128, 3, 2), nn.Identity(), C2f(384, 256, 1, False),  # 19-21 (20: concat 19, 9)
            Detect(nc, (64, 128, 256)),  # 22
        ])

    def forward(self, x):
        m = self.model
        for i in range(10):
            x = m[i](x)
            if i == 4:
                p3 = x
            elif i == 6:
                p4 = x
        p5 = x
        h12 = m[12](torch.cat([m[10](p5), p4], 1))
        h15 = m[15](torch.cat([m[13](h12), p3], 1))
        h18 = m[18](torch.cat([m[16](h15), h12], 1))
        h21 = m[21](torch.cat([m[19](h18), p5], 1))
        return m[22]([h15, h18, h21])


def surrogate_loss(outputs):
    return sum(y.float().square().mean() for y in outputs)


def bench(mode, batch):
    torch.manual_seed(0)
    amp = mode == "amp"
    fmt = torch.channels_last if amp else torch.contiguous_format
    model = YOLOv8n().to("cuda", memory_format=fmt).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, nesterov=True)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    x = torch.rand(batch, 3, args.imgsz, args.imgsz, device="cuda").contiguous(memory_format=fmt)

    def step():
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = surrogate_loss(model(x))
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    ms = statistics.median(times)
    result = {
        "mode": mode, "batch": batch, "imgsz": args.imgsz, "ms_per_step": ms, "images_per_s": batch * 1000 / ms,
        "max_memory_allocated": torch.cuda.max_memory_allocated(), "max_memory_reserved": torch.cuda.max_memory_reserved(),
        "loss": loss, "steps": args.steps,
    }
    del model, opt, x
    torch.cuda.empty_cache()
    return result


lines = []


def emit(obj):
    line = json.dumps(obj)
    lines.append(line)
    print(line, flush=True)


params = sum(p.numel() for p in YOLOv8n().parameters())
emit({"params": params, "device": torch.cuda.get_device_name(), "torch": torch.__version__})
if params != 3157200:
    sys.exit(f"yolov8n has {params} parameters here, the reference 3,157,200: the network differs")
for mode in args.modes.split(","):
    for batch in (int(b) for b in args.batches.split(",")):
        emit(bench(mode, batch))
if args.out:
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
