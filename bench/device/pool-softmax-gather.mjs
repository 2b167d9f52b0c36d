// Pool / upsample / softmax / gather kernels on the GPU host: (1) results against the
// float64 CPU references in f32 and f16 (the NVIDIA compiler may treat exp, NaN and
// barriers differently from lavapipe), (2) timings at YOLO sizes with the effective
// bandwidth (unique bytes read + written / time; H100 HBM3 is ~3.3 TB/s).
// Usage (device tool): carry .gl .device dist;
//   command: source bench/device/setup.sh && node bench/device/pool-softmax-gather.mjs --out $OUT/k4.json
// `--small` shrinks the timed sizes for a dry run on a CPU driver.
import { benchData, check, dtypes, engine, finish, size, small, stored, time } from './kernel-check.mjs';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { hostTensor } from '../../dist/src/kernels/host-tensor.js';
import { maxPool2d, maxPool2dBackward, maxPool2dWithIndices } from '../../dist/src/kernels/pool.js';
import { maxPool2dBackwardCpu, maxPool2dCpu } from '../../dist/src/kernels/pool.cpu.js';
import { upsampleNearest, upsampleNearestBackward } from '../../dist/src/kernels/upsample.js';
import { upsampleNearestBackwardCpu, upsampleNearestCpu } from '../../dist/src/kernels/upsample.cpu.js';
import { softmax, softmaxBackward } from '../../dist/src/kernels/softmax.js';
import { softmaxBackwardCpu, softmaxCpu } from '../../dist/src/kernels/softmax.cpu.js';
import { gather, indexSelect, missingValue } from '../../dist/src/kernels/gather.js';
import { gatherCpu, indexSelectCpu } from '../../dist/src/kernels/gather.cpu.js';

// ---- correctness ----------------------------------------------------------------
for (const dtype of dtypes) {
  const tol = dtype === 'f16' ? 2e-3 : 2e-5;
  {
    const shape = [2, 20, 20, 64];
    const data = stored(benchData(size(shape), 1), dtype);
    const x = Tensor.fromHost(engine, data, shape, dtype, 'other');
    for (const [k, s, p] of [[5, 1, 2], [3, 2, 1], [2, 2, 0]]) {
      const { out, indices } = maxPool2dWithIndices(x, { kernel: k, stride: s, padding: p });
      const ref = maxPool2dCpu(hostTensor(shape, data), k, s, p);
      await check(`maxpool ${dtype} k${k}s${s}p${p} values`, out, ref.out.data, 0, 0);
      await check(`maxpool ${dtype} k${k}s${s}p${p} indices`, indices, ref.indices.data, 0, 0);
      const g = stored(benchData(out.size, 2), dtype);
      const gradOut = Tensor.fromHost(engine, g, out.shape, dtype, 'other');
      const gradIn = maxPool2dBackward(gradOut, indices, shape, { kernel: k, stride: s, padding: p });
      await check(`maxpool ${dtype} k${k}s${s}p${p} backward`, gradIn, maxPool2dBackwardCpu(hostTensor(out.shape, g), ref.indices, shape).data, tol);
      for (const t of [out, indices, gradOut, gradIn]) t.dispose();
    }
    const up = upsampleNearest(x, 2);
    await check(`upsample x2 ${dtype}`, up, upsampleNearestCpu(hostTensor(shape, data), 2).data, 0, 0);
    const back = upsampleNearestBackward(up, 2);
    await check(`upsample x2 backward ${dtype}`, back, upsampleNearestBackwardCpu(upsampleNearestCpu(hostTensor(shape, data), 2), 2).data, tol);
    for (const t of [x, up, back]) t.dispose();
  }
  for (const [rows, len] of [[4096, 16], [300, 37], [64, 400], [3, 1601], [2, 6400]]) {
    const shape = [rows, len];
    const data = stored(benchData(rows * len, 3).map((v) => 8 * v), dtype);
    const x = Tensor.fromHost(engine, data, shape, dtype, 'other');
    for (const log of [false, true]) {
      const y = softmax(x, 1, { log });
      const ref = softmaxCpu(hostTensor(shape, data), 1, log);
      await check(`${log ? 'log-' : ''}softmax ${dtype} [${shape}]`, y, ref.data, dtype === 'f16' ? 2e-3 : 2e-5, 1e-6);
      const g = stored(benchData(rows * len, 4), dtype);
      const gy = Tensor.fromHost(engine, g, shape, dtype, 'other');
      const yv = stored(Float32Array.from(ref.data), dtype);
      const ys = Tensor.fromHost(engine, yv, shape, dtype, 'other');
      const dx = softmaxBackward(ys, gy, 1, { log });
      await check(`${log ? 'log-' : ''}softmax backward ${dtype} [${shape}]`, dx, softmaxBackwardCpu(hostTensor(shape, yv), hostTensor(shape, g), 1, log).data, 5e-3, 5e-3);
      for (const t of [y, gy, ys, dx]) t.dispose();
    }
    x.dispose();
  }
  {
    const shape = [64, 300];
    const data = stored(benchData(size(shape), 5), dtype);
    const x = Tensor.fromHost(engine, data, shape, dtype, 'other');
    const idx = Array.from(benchData(64 * 50, 6), (v) => Math.floor((v + 1) * 160) - 5); // some out of range
    const index = Tensor.fromHost(engine, idx, [64, 50], 'i32', 'other');
    const y = gather(x, 1, index);
    await check(`gather ${dtype}`, y, gatherCpu(hostTensor(shape, data), 1, hostTensor([64, 50], idx), missingValue(dtype)).data, 0, 0);
    const rowsIdx = Tensor.fromHost(engine, idx.slice(0, 100), [100], 'i32', 'other');
    const z = indexSelect(x, 0, rowsIdx);
    await check(`indexSelect ${dtype}`, z, indexSelectCpu(hostTensor(shape, data), 0, idx.slice(0, 100), missingValue(dtype)).data, 0, 0);
    for (const t of [x, index, y, rowsIdx, z]) t.dispose();
  }
}

// ---- timings ----------------------------------------------------------------------
const B = small ? 2 : 16;
for (const dtype of dtypes) {
  const e = dtype === 'f16' ? 2 : 4;
  {
    // SPPF (yolov8s at 640): cv1 output [B,20,20,256] pooled three times inside one concat buffer.
    const c = 256;
    const cat = Tensor.fromHost(engine, benchData(B * 400 * 4 * c, 7), [B, 20, 20, 4 * c], dtype, 'activations');
    const s = [0, 1, 2, 3].map((i) => cat.slice(3, i * c, (i + 1) * c));
    const px = B * 400 * c;
    await time(`maxpool k5s1p2 SPPF slice->slice ${dtype} [${B},20,20,${c}]`, 2 * px * e, () => maxPool2d(s[0], { kernel: 5, stride: 1, padding: 2, out: s[1] }));
    await time(`maxpool + indices ${dtype} [${B},20,20,${c}]`, px * (2 * e + 4), () => {
      const r = maxPool2dWithIndices(s[0], { kernel: 5, stride: 1, padding: 2 });
      r.out.dispose();
      r.indices.dispose();
    });
    const { out, indices } = maxPool2dWithIndices(s[0], { kernel: 5, stride: 1, padding: 2 });
    await time(`maxpool backward ${dtype} [${B},20,20,${c}]`, px * (2 * e + 4), () => maxPool2dBackward(out, indices, s[0].shape, { kernel: 5, stride: 1, padding: 2 }).dispose());
    for (const t of [cat, ...s, out, indices]) t.dispose();
  }
  {
    // Neck upsample: [B,40,40,128] -> channel slice of the [B,80,80,256] concat buffer.
    const x = Tensor.fromHost(engine, benchData(B * 1600 * 128, 8), [B, 40, 40, 128], dtype, 'activations');
    const cat = Tensor.empty(engine, [B, 80, 80, 256], dtype, 'activations');
    const slice = cat.slice(3, 0, 128);
    await time(`upsample x2 into slice ${dtype} [${B},40,40,128]`, 5 * x.size * e, () => upsampleNearest(x, 2, { out: slice }));
    await time(`upsample x2 backward ${dtype} [${B},80,80,128]`, 5 * x.size * e, () => upsampleNearestBackward(slice, 2).dispose());
    for (const t of [x, cat, slice]) t.dispose();
  }
  for (const [label, shape] of [
    ['DFL bins', [B, small ? 400 : 8400 * 4, 16]],
    ['attention 400', [B * 4, small ? 16 : 400, 400]],
    ['attention 1600', [small ? 1 : 8, small ? 16 : 1600, 1600]],
    ['attention 6400', [small ? 1 : 2, small ? 8 : 6400, 6400]],
  ]) {
    const x = Tensor.fromHost(engine, benchData(size(shape), 9), shape, dtype, 'activations');
    const y = Tensor.empty(engine, shape, dtype, 'activations');
    await time(`softmax ${label} ${dtype} [${shape}]`, 2 * x.size * e, () => softmax(x, -1, { out: y }));
    await time(`softmax backward ${label} ${dtype} [${shape}]`, 3 * x.size * e, () => softmaxBackward(y, x, -1).dispose());
    for (const t of [x, y]) t.dispose();
  }
  {
    // Rows of the head output picked by candidate indices (NMS / assigner style).
    const x = Tensor.fromHost(engine, benchData(B * 8400 * 144, 10), [B * 8400, 144], dtype, 'activations');
    const n = B * 2000;
    const idx = Tensor.fromHost(engine, Array.from(benchData(n, 11), (v) => Math.floor((v + 1) * 0.5 * B * 8400)), [n], 'i32', 'other');
    await time(`indexSelect rows ${dtype} [${B * 8400},144] x ${n}`, n * 144 * 2 * e, () => indexSelect(x, 0, idx).dispose());
    for (const t of [x, idx]) t.dispose();
  }
}

finish();
