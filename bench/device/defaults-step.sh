#!/usr/bin/env bash
# A change of the default tensor-core tiles, measured in one call: `bench tune` over the changes of the defaults only
# (DEFAULT_TILE_CHANGES: one or two buffers, loads one or two steps ahead; every time per shape in tune.json), then
# f16-step.sh with the earlier build beside the current one (--earlier DIR; further options go to f16-step.sh) and
# PyTorch AMP. Tables last. The tuning's per-shape times compare only where the other shapes' kernels are unchanged
# (overlapping dispatches: bench/RESULTS.md, eighteenth call); a change of the defaults is measured by the whole step.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/defaults-step.sh EARLIER_DIST_DIR [f16-step.sh options]
set -uo pipefail
source bench/device/setup.sh
timeout 200 node dist/bin/yolo-wgpu.js bench tune --model yolov8n.yaml --imgsz 640 --batch 64 --tables 4 --out "$OUT/variants.json" \
  --json > "$OUT/tune.json" 2> /tmp/tune.log || tail -5 /tmp/tune.log
python3 - "$OUT/tune.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
changes = ["default", "sg/1@1", "sg/1@2", "sg/2@1", "sg/2@2"]
print(f"{'GPU ms, shapes that ran all':<30}" + "".join(f"{c:>9}" for c in changes))
for op in ("conv2d:", "conv2dInputGrad:", "conv2dWeightGrad:"):
    rows = [s["times"] for s in r["shapes"] if s["key"].startswith(op) and all(c in s["times"] for c in changes)]
    print(f"{op[:-1] + f' ({len(rows)})':<30}" + "".join(f"{sum(t[c] for t in rows):>9.2f}" for c in changes))
PY
bash bench/device/f16-step.sh --earlier "$1" "${@:2}"
