#!/usr/bin/env bash
# Issue 4's f16 target in one call, tiles tuned inside the training step: `bench tune` (yolov8n f16 b64 at 640:
# profiled steps with SIMT convolutions only, the default kernels and one per candidate table while TUNE_SECONDS
# last; the fastest variant per shape written as a table), then bench step with the defaults, with the tuned table
# and with SIMT only, then PyTorch AMP + channels_last b64 (bench/torch/step.py). Tables last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/tc-step.sh [TUNE_SECONDS (default 240)]
set -uo pipefail
source bench/device/setup.sh
tune=${1:-240}
shape=(--model yolov8n.yaml --imgsz 640 --batch 64)
timeout $((tune + 120)) node dist/bin/yolo-wgpu.js bench tune "${shape[@]}" --seconds "$tune" --out "$OUT/variants.json" \
  > "$OUT/tuning.txt" 2> /tmp/tune.log || tail -5 /tmp/tune.log
step() { # name, extra options
  timeout 120 node dist/bin/yolo-wgpu.js bench step "${shape[@]}" --precision f16 --steps 8 --warmup 2 --top 40 "${@:2}" \
    --json > "$OUT/step-$1.json" 2> /tmp/step-$1.log || { tail -5 /tmp/step-$1.log; rm -f "$OUT/step-$1.json"; }
}
step default
[ -s "$OUT/variants.json" ] && step tuned --conv-variants "$OUT/variants.json"
step simt --conv-kernels simt
timeout 90 python3 bench/torch/step.py --batches 64 --modes amp --out "$OUT/torch-step.jsonl" > /tmp/torch.txt 2>&1 || tail -5 /tmp/torch.txt
head -20 "$OUT/tuning.txt"
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"\n{'yolov8n f16 b64 640':<22}{'ms/step':>9}{'GPU ms':>8}{'peak GB':>9}  top kernels (ms)")
for name in ("tuned", "default", "simt"):
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
