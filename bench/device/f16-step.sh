#!/usr/bin/env bash
# The f16 b64 row of issue 4 in a short call: the tensor-core convolution checks against float64 (conv-tc.mjs, no
# timing), bench step yolov8n f16 b64 at 640 with the default kernels (profile of 40 kernels and every convolution
# shape in the JSON), PyTorch AMP + channels_last b64. A table last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/f16-step.sh [--no-checks]
set -uo pipefail
source bench/device/setup.sh
[ "${1:-}" = --no-checks ] || timeout 90 node bench/device/conv-tc.mjs --batch 64 --seconds 0 --out "$OUT/checks.json" 2>&1 | grep -v "^ok  " | tail -3
timeout 120 node dist/bin/yolo-wgpu.js bench step --model yolov8n.yaml --imgsz 640 --precision f16 --batch 64 --steps 8 \
  --warmup 2 --top 40 --json > "$OUT/step-default.json" 2> /tmp/step.log || tail -5 /tmp/step.log
timeout 90 python3 bench/torch/step.py --batches 64 --modes amp --out "$OUT/torch-step.jsonl" > /tmp/torch.txt 2>&1 || tail -5 /tmp/torch.txt
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
r = json.load(open(os.path.join(out, "step-default.json")))
p = r["profile"]
print(f"ours f16 b64: {r['msPerStep']:.1f} ms/step (steps {', '.join(f'{t:.0f}' for t in r['stepMs'])}), GPU {p['totalMs']:.1f} ms, peak {r['peakBytes'] / 1e9:.2f} GB")
for k in p["kernels"][:14]:
    print(f"  {k['name']:<48}{k['ms']:>7.2f}{k['dispatches']:>6}")
rows = [json.loads(l) for l in open(os.path.join(out, "torch-step.jsonl"))]
for t in rows[1:]:
    print(f"torch {t['mode']} b{t['batch']}: {t['ms_per_step']:.1f} ms/step, {t['max_memory_allocated'] / 1e9:.2f} GB ({rows[0]['device']}); ours/torch {r['msPerStep'] / t['ms_per_step']:.2f}")
PY
