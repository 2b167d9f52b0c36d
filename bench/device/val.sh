#!/usr/bin/env bash
# `val` of v8n320-coco128 on coco128 at 320 on the GPU host (issue 5's table in bench/RESULTS.md), f32 and
# --half; the metrics must equal lavapipe's. Full JSON and logs under $OUT; a short table last.
# Usage (device tool): carry .gl .device dist .data; command: bash bench/device/val.sh [dataset yaml] [weights]
# Defaults: .data/coco128/coco128.yaml and .data/v8n320-coco128.pt (copies of ../shared/data/coco128 and
# ../shared/fixtures/v8n320-coco128.pt). When the yaml's `path` does not resolve, a copy pointing at
# .data/coco128 is written to $OUT.
set -euo pipefail
source bench/device/setup.sh
DATA=${1:-.data/coco128/coco128.yaml}
WEIGHTS=${2:-.data/v8n320-coco128.pt}
[ -f "$DATA" ] || { echo "val.sh: no dataset yaml $DATA"; exit 1; }
[ -f "$WEIGHTS" ] || { echo "val.sh: no weights $WEIGHTS"; exit 1; }
if ! node -e "import('./dist/src/data/dataset-yaml.js').then((m) => m.loadDatasetYaml(process.argv[1]))" "$DATA" 2> "$OUT/yaml-check.log"; then
  sed "s|^path:.*|path: $PWD/.data/coco128|" "$DATA" > "$OUT/coco128.yaml"
  DATA="$OUT/coco128.yaml"
  echo "val.sh: the yaml's path did not resolve (see yaml-check.log); using $DATA"
fi
for run in f32 f16; do
  half=$([ "$run" = f16 ] && echo --half || true)
  start=$(date +%s%N)
  node dist/bin/yolo-wgpu.js val --weights "$WEIGHTS" --data "$DATA" --imgsz 320 --batch 32 $half --json \
    > "$OUT/val-$run.json" 2> "$OUT/val-$run.log" || echo "val $run failed: see val-$run.log"
  echo $(( ($(date +%s%N) - start) / 1000000 )) > "$OUT/val-$run.wall-ms"
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print(f"{'run':<5}{'P':>9}{'R':>9}{'mAP50':>9}{'mAP50-95':>10}{'images':>8}{'ms/img':>9}{'img/s':>8}{'wall s':>8}")
for run in ("f32", "f16"):
    try:
        r = json.load(open(os.path.join(out, f"val-{run}.json")))
    except (OSError, ValueError):
        print(f"{run:<5} failed")
        continue
    ms = sum(r["speed_ms"].values())  # preprocess + inference + postprocess per image
    wall = int(open(os.path.join(out, f"val-{run}.wall-ms")).read()) / 1000
    print(f"{run:<5}{r['P']:>9.4f}{r['R']:>9.4f}{r['mAP50']:>9.4f}{r['mAP50-95']:>10.4f}{r['images']:>8}{ms:>9.1f}{1000 / ms:>8.1f}{wall:>8.1f}")
PY
