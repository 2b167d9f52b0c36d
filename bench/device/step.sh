#!/usr/bin/env bash
# Training-step benchmark on the GPU host, ours and PyTorch's in one call (issue 4's table in bench/RESULTS.md):
# yolov8n at 640, batch 16 and 64, f32 and f16 (PyTorch: f32 and AMP + channels_last), plus f32 b64 with
# every layer checkpointed. Full JSON under $OUT; a short table last.
# Usage (device tool): carry .gl .device dist; command: bash bench/device/step.sh ["f16 64 none" ...]
# (arguments: the rows to run, "precision batch checkpoint [conv-kernels]" each, conv kernels tensor-cores
# (the default) or simt; default rows: all five; TORCH_MODES=amp times PyTorch's AMP only)
set -euo pipefail
source bench/device/setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader
python3 bench/torch/step.py --modes "${TORCH_MODES:-f32,amp}" --out "$OUT/torch-step.jsonl" > "$OUT/torch-step.txt" 2>&1 || echo "torch step.py failed: see torch-step.txt"
[ $# -gt 0 ] || set -- "f32 16 none" "f32 64 none" "f16 16 none" "f16 64 none" "f32 64 all"
for run in "$@"; do
  set -- $run
  kernels=${4:-tensor-cores}
  name="step-$1-b$2-$3-$kernels"
  node dist/bin/yolo-wgpu.js bench step --model yolov8n.yaml --imgsz 640 --precision "$1" --batch "$2" --checkpoint "$3" \
    --conv-kernels "$kernels" --steps 10 --json > "$OUT/$name.json" 2> "$OUT/$name.log" || echo "bench step $run failed: see $name.log"
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
path = os.path.join(out, "torch-step.jsonl")
torch = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
if torch:
    print(f"torch {torch[0]['torch']} on {torch[0]['device']}, yolov8n {torch[0]['params']:,} parameters")
t = {(r["mode"], r["batch"]): r for r in torch[1:]}
GB = 1e9
print(f"{'config':<18}{'ours ms':>9}{'ours GB':>9}{'img/s':>8}{'torch ms':>10}{'torch GB':>10}{'torch/ours':>11}")
for f in sorted(glob.glob(os.path.join(out, "step-*.json"))):
    kernels = f.rsplit("-", 1)[1][:-5]
    try:
        r = json.load(open(f))
    except ValueError:
        continue  # that run failed (its .log says why)
    ref = t.get(("f32" if r["precision"] == "f32" else "amp", r["batch"]))
    name = f"{r['precision']} b{r['batch']}" + (" ckpt" if r["checkpoint"] == "all" else "") + (" simt" if kernels == "simt" else "")
    cols = f"{name:<18}{r['msPerStep']:>9.1f}{r['peakBytes'] / GB:>9.2f}{r['imagesPerSec']:>8.0f}"
    if ref:
        cols += f"{ref['ms_per_step']:>10.1f}{ref['max_memory_allocated'] / GB:>10.2f}{ref['ms_per_step'] / r['msPerStep']:>11.2f}"
    print(cols)
    prof = r["profile"] or {"kernels": [], "totalMs": 0, "dispatches": 0}
    top = ", ".join(f"{k['name']} {100 * k['share']:.0f}%" for k in prof["kernels"][:4])
    print(f"  GPU {prof['totalMs']:.1f} ms in {prof['dispatches']} dispatches; top kernels: {top}")
PY
