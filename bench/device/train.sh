#!/usr/bin/env bash
# Issue 7's H100 training table: yolov8n from scratch on coco128 (cache ram, val only at the end, f16).
# Usage (device tool): carry .gl .device dist .data; command: bash bench/device/train.sh IMGSZ EPOCHS SECONDS [BATCH]
# A run that outlasts SECONDS is stopped (kill -9: the test of atomic checkpoints) and the next call on the
# same warm machine continues it with resume=, since runs/ (git-ignored) stays there between calls.
# Prints the run's log tail and a summary row last; the --json summary and results.csv go to $OUT.
set -uo pipefail
source bench/device/setup.sh
IMGSZ=${1:-640}; EPOCHS=${2:-100}; SECONDS_LEFT=${3:-500}; BATCH=${4:-16}
NAME="coco128-${IMGSZ}-e${EPOCHS}"
DIR="runs/h100/$NAME"
DATA=.data/coco128/coco128-abs.yaml
sed "s#^path:.*#path: $PWD/.data/coco128#" .data/coco128/coco128.yaml > "$DATA"
if [ -f "$DIR/weights/last.safetensors" ]; then
  set -- train "resume=$DIR/weights/last.safetensors"
else
  set -- train model=yolov8n.yaml "data=$DATA" "imgsz=$IMGSZ" "epochs=$EPOCHS" "batch=$BATCH" cache=ram val=False \
    precision=f16 workers=8 project=runs/h100 "name=$NAME"
fi
start=$(date +%s)
timeout --signal=KILL "$SECONDS_LEFT" node dist/bin/yolo-wgpu.js "$@" --json > "$OUT/train-$NAME.json" 2> "$OUT/train-$NAME.log"
rc=$?
echo "train $NAME: exit $rc after $(( $(date +%s) - start )) s (137: stopped at the time limit; resume on the next call)"
grep -v "artificially reduced" "$OUT/train-$NAME.log" | tr '\r' '\n' | grep -v '^\s*$' | tail -n 6
cp "$DIR/results.csv" "$OUT/results-$NAME.csv" 2>/dev/null && echo "results.csv: last row of $(($(wc -l < "$DIR/results.csv") - 1)):" && tail -n 1 "$DIR/results.csv"
cat "$OUT/train-$NAME.json" 2>/dev/null | head -c 1500; echo
