#!/usr/bin/env bash
# The f16 b64 row of issue 4 in a short call: the tensor-core convolution checks against float64 (conv-tc.mjs, no
# timing), bench step yolov8n f16 b64 at 640 with the default kernels (profile of 40 kernels and every convolution
# shape in the JSON), optionally the same step with a variant table (--versus FILE: e.g. the previous kernels for some
# shapes), optionally the same step of an earlier build (--earlier DIR: a copy of dist kept under .device/), PyTorch
# AMP + channels_last b64. A table last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/f16-step.sh [--no-checks] [--versus FILE] [--earlier DIR]
set -uo pipefail
source bench/device/setup.sh
checks=1 versus= earlier=
while [ $# -gt 0 ]; do
  case $1 in --no-checks) checks= ;; --versus) versus=$2; shift ;; --earlier) earlier=$2; shift ;; *) echo "unknown option $1" >&2; exit 2 ;; esac
  shift
done
[ -z "$checks" ] || timeout 90 node bench/device/conv-tc.mjs --batch 64 --seconds 0 --out "$OUT/checks.json" 2>&1 | grep -v "^ok  " | tail -3
step() { # name, extra options (BIN: the build to run)
  timeout 120 node "${BIN:-dist}/bin/yolo-wgpu.js" bench step --model yolov8n.yaml --imgsz 640 --precision f16 --batch 64 --steps 8 \
    --warmup 2 --top 40 "${@:2}" --json > "$OUT/step-$1.json" 2> /tmp/step-$1.log || { tail -5 /tmp/step-$1.log; rm -f "$OUT/step-$1.json"; }
}
step default
[ -z "$versus" ] || step versus --conv-variants "$versus"
[ -z "$earlier" ] || BIN=$earlier step earlier
timeout 90 python3 bench/torch/step.py --batches 64 --modes amp --out "$OUT/torch-step.jsonl" > /tmp/torch.txt 2>&1 || tail -5 /tmp/torch.txt
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(out, f"step-{name}.json")))
    except (OSError, ValueError):
        return None
runs = {name: load(name) for name in ("default", "versus", "earlier")}
default = runs["default"]
for name in ("versus", "earlier"):
    other = runs[name]
    if not (default and other):
        continue
    # Shapes whose time differs most between the two runs.
    ops = lambda r: {o["tag"]: o["ms"] for o in r["profile"]["operations"]}
    a, b = ops(default), ops(other)
    print(f"{'shape':<58}{'default':>9}{name:>9}")
    for tag in sorted(set(a) | set(b), key=lambda t: -abs(a.get(t, 0) - b.get(t, 0)))[:14]:
        print(f"{tag:<58}{a.get(tag, 0):>9.2f}{b.get(tag, 0):>9.2f}")
for name, r in runs.items():
    if not r:
        continue
    p = r["profile"]
    print(f"ours f16 b64 {name}: {r['msPerStep']:.1f} ms/step (steps {', '.join(f'{t:.0f}' for t in r['stepMs'])}), GPU {p['totalMs']:.1f} ms, peak {r['peakBytes'] / 1e9:.2f} GB")
    for k in p["kernels"][:14 if name == "default" else 6]:
        print(f"  {k['name']:<48}{k['ms']:>7.2f}{k['dispatches']:>6}")
rows = [json.loads(l) for l in open(os.path.join(out, "torch-step.jsonl"))]
for t in rows[1:]:
    ratio = f"; ours/torch {default['msPerStep'] / t['ms_per_step']:.2f}" if default else ""
    print(f"torch {t['mode']} b{t['batch']}: {t['ms_per_step']:.1f} ms/step, {t['max_memory_allocated'] / 1e9:.2f} GB ({rows[0]['device']}){ratio}")
PY
