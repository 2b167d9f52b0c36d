#!/usr/bin/env bash
# Issue 4's f16 target in one call, tiles tuned inside the training step: bench step yolov8n f16 b64 at 640 with
# SIMT convolutions only and with the default kernels (tensor cores where tensorCoresPay), each profiled per
# convolution shape; then one short profiled step per tile candidate table (step-tables.mjs candidates: every shape's i-th
# candidate), while TUNE_SECONDS last; the fastest variant per shape becomes a table, timed in a full step; then
# PyTorch AMP + channels_last b64 (bench/torch/step.py). Tables last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/tc-step.sh [TUNE_SECONDS (default 240)]
set -uo pipefail
source bench/device/setup.sh
tune=${1:-240}
step() { # name, steps, extra options
  timeout 120 node dist/bin/yolo-wgpu.js bench step --model yolov8n.yaml --imgsz 640 --precision f16 --batch 64 \
    --steps "$2" --warmup 2 --top 40 "${@:3}" --json > "$OUT/step-$1.json" 2> /tmp/step-$1.log || { tail -5 /tmp/step-$1.log; rm -f "$OUT/step-$1.json"; }
}
step simt 8 --conv-kernels simt
step default 8
mkdir -p /tmp/cand
count=$(node bench/device/step-tables.mjs candidates "$OUT/step-simt.json" /tmp/cand) || count=0
start=$SECONDS
for i in $(seq 1 "$count"); do
  [ $((SECONDS - start)) -lt "$tune" ] || { echo "tuning stopped after $((i - 1)) of $count candidate tables"; break; }
  step "cand-$i" 1 --conv-variants "/tmp/cand/cand-$i.json"
  [ -e "$OUT/step-cand-$i.json" ] && mv "$OUT/step-cand-$i.json" /tmp/cand/step-$i.json
done
node bench/device/step-tables.mjs best "$OUT/variants.json" "$OUT/step-simt.json" "$OUT/step-default.json" /tmp/cand/step-*.json | tee "$OUT/tuning.txt"
step tuned 8 --conv-variants "$OUT/variants.json"
timeout 90 python3 bench/torch/step.py --batches 64 --modes amp --out "$OUT/torch-step.jsonl" > /tmp/torch.txt 2>&1 || tail -5 /tmp/torch.txt
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
