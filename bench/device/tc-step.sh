#!/usr/bin/env bash
# Issue 4's f16 target in one call: the tensor-core tile sweep (conv-tc.mjs, batch 64, L2 flushed) writes the fastest
# kernel per layer as a variant table; then bench step yolov8n f16 b64 at 640 on the tensor cores with that
# table, on the tensor cores with their default tiles, and on SIMT kernels (the default); then PyTorch
# AMP + channels_last b64 (bench/torch/step.py). A table last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/tc-step.sh [SWEEP_SECONDS (default 270)]
set -uo pipefail
source bench/device/setup.sh
sweep=${1:-270}
timeout $((sweep + 90)) node bench/device/conv-tc.mjs --batch 64 --cold --seconds "$sweep" --out "$OUT/checks.json" \
  --json "$OUT/sweep.json" --variants "$OUT/variants.json" 2>&1 | grep -v "^ok  " | tail -60
step() { # name, extra options
  timeout 120 node dist/bin/yolo-wgpu.js bench step --model yolov8n.yaml --imgsz 640 --precision f16 --batch 64 \
    --steps 8 --warmup 2 "${@:2}" --json > "$OUT/step-$1.json" 2> /tmp/step-$1.log || tail -5 /tmp/step-$1.log
}
[ -s "$OUT/variants.json" ] && step tuned --conv-kernels tensor-cores --conv-variants "$OUT/variants.json"
step tc --conv-kernels tensor-cores
step simt
timeout 90 python3 bench/torch/step.py --batches 64 --modes amp --out "$OUT/torch-step.jsonl" > /tmp/torch.txt 2>&1 || tail -5 /tmp/torch.txt
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"{'yolov8n f16 b64 640':<22}{'ms/step':>9}{'GPU ms':>8}{'peak GB':>9}  top kernels (ms)")
for name in ("tuned", "tc", "simt"):
    try:
        r = json.load(open(os.path.join(out, f"step-{name}.json")))
    except (OSError, ValueError):
        print(f"{name:<22}{'failed':>9}")
        continue
    p = r["profile"]
    top = ", ".join(f"{k['name']} {k['ms']:.1f}" for k in p["kernels"][:6])
    print(f"{'ours ' + name:<22}{r['msPerStep']:>9.1f}{p['totalMs']:>8.1f}{r['peakBytes'] / 1e9:>9.2f}  {top}")
path = os.path.join(out, "torch-step.jsonl")
if os.path.exists(path):
    rows = [json.loads(l) for l in open(path)]
    for r in rows[1:]:
        print(f"{'torch ' + r['mode']:<22}{r['ms_per_step']:>9.1f}{'':>8}{r['max_memory_allocated'] / 1e9:>9.2f}  {rows[0]['device']}")
PY
