#!/usr/bin/env bash
# Kernel benchmark on the GPU host, ours and PyTorch's in one call (see bench/RESULTS.md).
# Usage (device tool): carry .gl .device dist; command: bash bench/device/kernels.sh
set -euo pipefail
source bench/device/setup.sh
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader
python3 bench/torch/kernels.py --out "$OUT/torch-kernels.json" --reps 30 | tee "$OUT/torch.txt"
node dist/bin/yolo-wgpu.js bench kernels --reps 20 --torch "$OUT/torch-kernels.json" > "$OUT/kernels.txt" 2> "$OUT/kernels.log"
node dist/bin/yolo-wgpu.js info --json > "$OUT/info.json" 2>/dev/null
head -4 "$OUT/kernels.txt"
tail -2 "$OUT/kernels.txt"
