#!/usr/bin/env bash
# A short re-measure on the GPU host after a change, for calls with little device time left:
#   loader  RAM cache at 640, batch 16, mosaic + affine + HSV + flip: 1, 8 and 16 (three runs) workers
#   step    our `bench step` for yolov8n at 640: f16 b16, f32 b64, f16 b64 (PyTorch's columns: step.sh)
# Usage (device tool): carry .gl .device dist .data; command: bash bench/device/quick.sh loader|step|all
# Each part prints a short table; full JSON under $OUT.
set -uo pipefail
source bench/device/setup.sh
WHAT=${1:-all}
DATA=$OUT/coco128.yaml
sed "s#^path:.*#path: $PWD/.data/coco128#" .data/coco128/coco128.yaml > "$DATA"
if [ "$WHAT" = loader ] || [ "$WHAT" = all ]; then
  i=0
  for run in "1 3" "8 12" "16 24" "16 24" "16 24"; do
    set -- $run
    i=$((i + 1))
    node dist/src/data/bench-loader.js --data "$DATA" --imgsz 640 --batch 16 --sources ram --workers "$1" --epochs "$2" --json \
      > "$OUT/loader-$i-w$1.json" 2> "$OUT/loader-$i-w$1.log" || echo "loader w$1 failed: see loader-$i-w$1.log"
  done
  python3 - "$OUT" <<'PY'
import glob, json, os, sys
print(f"{'loader run':<14}{'workers':>8}{'images/s':>10}{'CPU ms/img':>12}")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "loader-*.json"))):
    try:
        r = json.load(open(f))["rows"][0]
    except (ValueError, KeyError, IndexError):
        continue
    print(f"{os.path.basename(f)[7:-5]:<14}{r['workers']:>8}{r['imagesPerSecond']:>10.1f}{r['cpuMsPerImage']:>12.2f}")
PY
fi
if [ "$WHAT" = step ] || [ "$WHAT" = all ]; then
  for run in "f16 16" "f32 64" "f16 64"; do
    set -- $run
    node dist/bin/yolo-wgpu.js bench step --model yolov8n.yaml --imgsz 640 --precision "$1" --batch "$2" --steps 10 --json \
      > "$OUT/step-$1-b$2.json" 2> "$OUT/step-$1-b$2.log" || echo "bench step $run failed: see step-$1-b$2.log"
  done
  python3 - "$OUT" <<'PY'
import glob, json, os, sys
print(f"{'step':<10}{'ms':>8}{'GB':>7}{'img/s':>7}{'GPU ms':>8}{'dispatches':>11}")
for f in sorted(glob.glob(os.path.join(sys.argv[1], "step-*.json"))):
    try:
        r = json.load(open(f))
    except ValueError:
        continue
    p = r["profile"] or {"totalMs": 0, "dispatches": 0}
    print(f"{r['precision'] + ' b' + str(r['batch']):<10}{r['msPerStep']:>8.1f}{r['peakBytes'] / 1e9:>7.2f}{r['imagesPerSec']:>7.0f}{p['totalMs']:>8.1f}{p['dispatches']:>11}")
PY
fi
