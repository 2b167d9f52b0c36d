#!/usr/bin/env bash
# Loader throughput on the GPU host (issue 6's table in bench/RESULTS.md): mosaic + affine + HSV + flip
# at 640, batch 16, decoding JPEGs and from the RAM cache, with 1, 2, 8 and 16 workers; then the RAM
# cache with 16 workers three more times (the target, >= 1,000 images/s, must hold run after run) and
# once without recycling batch buffers. More workers get more timed epochs (coco128 has 8 batches an
# epoch: each worker must build several). Full JSON under $OUT; a short table last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/loader.sh [dataset yaml]
# Default dataset: .data/coco128/coco128.yaml (a yaml pointing to .data/coco128 is written when it is absent).
set -euo pipefail
source bench/device/setup.sh
DATA=${1:-.data/coco128/coco128.yaml}
if [ ! -f "$DATA" ]; then
  [ -d .data/coco128/images ] || { echo "loader.sh: no $DATA and no .data/coco128/images"; exit 1; }
  DATA="$OUT/coco128.yaml"
  { echo "path: $PWD/.data/coco128"; echo "train: images/train2017"; echo "val: images/train2017"; echo "names:"
    for i in $(seq 0 79); do echo "  $i: class$i"; done; } > "$DATA"
fi
echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
bench() { # name, then bench-loader options
  local name=$1; shift
  node dist/src/data/bench-loader.js --data "$DATA" --imgsz 640 --batch 16 --json "$@" \
    > "$OUT/loader-$name.json" 2> "$OUT/loader-$name.log" || echo "bench-loader $name failed: see loader-$name.log"
}
for src in jpeg ram; do
  for w in 1 2 8 16; do bench "$src-w$w" --sources "$src" --workers "$w" --epochs $(( w <= 2 ? 3 : 3 * w / 2 )); done
done
for k in 2 3 4; do bench "ram-w16-run$k" --sources ram --workers 16 --epochs 24; done
bench ram-w16-norecycle --sources ram --workers 16 --epochs 24 --no-recycle
node - "$OUT" <<'JS'
const fs = require('node:fs');
const path = require('node:path');
const out = process.argv[2];
const files = fs.readdirSync(out).filter((f) => /^loader-.*\.json$/.test(f));
files.sort((a, b) => fs.statSync(path.join(out, a)).mtimeMs - fs.statSync(path.join(out, b)).mtimeMs); // run order
console.log(`${'run'.padEnd(20)}${'workers'.padStart(8)}${'images/s'.padStart(10)}${'ms/batch'.padStart(10)}${'CPU ms/img'.padStart(12)}`);
for (const f of files) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(path.join(out, f), 'utf8'));
  } catch {
    continue; // that run failed (its .log says why)
  }
  for (const r of doc.rows) {
    const name = f.replace(/^loader-|\.json$/g, '');
    const cols = [r.imagesPerSecond.toFixed(1).padStart(10), r.msPerBatch.toFixed(1).padStart(10), r.cpuMsPerImage.toFixed(2).padStart(12)];
    console.log(`${name.padEnd(20)}${String(r.workers).padStart(8)}${cols.join('')}`);
  }
}
JS
