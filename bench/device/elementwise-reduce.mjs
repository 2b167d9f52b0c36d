// Elementwise and reduction kernels on the GPU host: (1) results against the float64 CPU
// references in f32 and f16 at sizes that take every path (vec4, strided, broadcast,
// channel slices, chunked two-pass reductions) and bitwise repeatability (the NVIDIA
// compiler may fuse or reorder float math differently from lavapipe), (2) timings at YOLO
// sizes with the effective bandwidth (unique bytes read + written / time; H100 ~3.3 TB/s).
// Usage (device tool): carry .gl .device dist;
//   command: source bench/device/setup.sh && node bench/device/elementwise-reduce.mjs --out $OUT/k1.json
// `--small` shrinks the sizes for a dry run on a CPU driver.
import { benchData, check, dtypes, engine, finish, size, small, record, stored, time } from './kernel-check.mjs';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { hostTensor } from '../../dist/src/kernels/host-tensor.js';
import { axpby, binary, clamp, unary, where } from '../../dist/src/kernels/elementwise.js';
import { AXPBY_CPU, BINARY_CPU, CLAMP_CPU, mapCpu, UNARY_CPU, WHERE_CPU } from '../../dist/src/kernels/elementwise.cpu.js';
import { argmax, moments, reduce } from '../../dist/src/kernels/reduce.js';
import { ARGMAX, MAX, MEAN, MIN, reduceCpu, SUM } from '../../dist/src/kernels/reduce.cpu.js';

/** Runs `make` twice and checks the outputs are bitwise equal. */
async function repeatable(name, make) {
  const a = make();
  const b = make();
  const bits = async (t) => new Uint32Array(Float32Array.from(await t.read()).buffer);
  const [x, y] = [await bits(a), await bits(b)];
  record(`${name} bitwise repeatable`, x.every((v, i) => v === y[i]) ? 0 : Infinity);
  a.dispose();
  b.dispose();
}

/** Per-channel mean and biased variance of NHWC data in float64 (two passes). */
function channelMoments(data, c) {
  const rows = data.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < data.length; i++) mean[i % c] += data[i];
  for (let k = 0; k < c; k++) mean[k] /= rows;
  for (let i = 0; i < data.length; i++) variance[i % c] += (data[i] - mean[i % c]) ** 2;
  for (let k = 0; k < c; k++) variance[k] /= rows;
  return { mean, variance };
}

// ---- correctness ----------------------------------------------------------------
const B = small ? 2 : 16;
for (const dtype of dtypes) {
  const tol = dtype === 'f16' ? 2e-3 : 2e-6;
  {
    // Unary ops: contiguous (vec4) and a channel slice of a concat buffer (strided).
    const shape = [2, 20, 20, 64];
    const data = stored(benchData(size(shape), 1).map((v) => 4 * v), dtype);
    const positive = stored(data.map((v) => Math.abs(v) + 0.1), dtype);
    const cat = Tensor.fromHost(engine, stored(benchData(size(shape) * 2, 2), dtype), [2, 20, 20, 128], dtype, 'other');
    const slice = cat.slice(3, 32, 96);
    for (const op of Object.keys(UNARY_CPU)) {
      const d = ['log', 'sqrt', 'rsqrt', 'reciprocal'].includes(op) ? positive : data;
      const x = Tensor.fromHost(engine, d, shape, dtype, 'other');
      const want = stored(Float32Array.from(mapCpu(UNARY_CPU[op], [hostTensor(shape, d)]).data), dtype);
      const y = unary(op, x);
      await check(`${op} ${dtype} vec4`, y, want, tol, tol);
      unary(op, x, { out: slice });
      await check(`${op} ${dtype} into a channel slice`, slice, want, tol, tol);
      for (const t of [x, y]) t.dispose();
    }
    // Channels outside the slice must be untouched.
    const outside = cat.slice(3, 0, 32);
    await check(`unary ${dtype} channels outside the slice untouched`, outside, stored(benchData(size(shape) * 2, 2), dtype).filter((_, i) => i % 128 < 32), 0, 0);
    for (const t of [cat, slice, outside]) t.dispose();
  }
  {
    // Binary ops with broadcasting against [C] and [N,1,1,C], both orders, and scalars.
    const big = [B, 40, 40, 64];
    const ad = stored(benchData(size(big), 3).map((v) => v + 1.5), dtype);
    const a = Tensor.fromHost(engine, ad, big, dtype, 'other');
    for (const small of [[64], [B, 1, 1, 64]]) {
      const bd = stored(benchData(size(small), 4).map((v) => v + 1.5), dtype);
      const b = Tensor.fromHost(engine, bd, small, dtype, 'other');
      for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'gt']) {
        for (const [x, y, hx, hy] of [[a, b, hostTensor(big, ad), hostTensor(small, bd)], [b, a, hostTensor(small, bd), hostTensor(big, ad)], [a, 0.75, hostTensor(big, ad), 0.75]]) {
          const z = binary(op, x, y);
          await check(`${op} ${dtype} [${x.shape ?? x}] . [${y.shape ?? y}]`, z, stored(Float32Array.from(mapCpu(BINARY_CPU[op], [hx, hy]).data), dtype), tol * 4, tol * 4);
          z.dispose();
        }
      }
      b.dispose();
    }
    const hd = stored(benchData(64, 5).map((v) => v + 1.5), dtype);
    const hi = Tensor.fromHost(engine, hd, [64], dtype, 'other');
    const c = clamp(a, 1, hi);
    await check(`clamp ${dtype}`, c, stored(Float32Array.from(mapCpu(CLAMP_CPU, [hostTensor(big, ad), 1, hostTensor([64], hd)]).data), dtype), 0, 0);
    const mask = binary('gt', a, 1.5, { outDtype: 'u32' });
    const w = where(mask, a, -1);
    await check(`where(u32 mask) ${dtype}`, w, Float32Array.from(ad, (v) => WHERE_CPU(+(v > 1.5), v, -1)), 0, 0);
    const s = axpby(0.9, a, -0.1, c);
    const cd = await c.read();
    await check(`axpby ${dtype}`, s, stored(Float32Array.from(mapCpu(AXPBY_CPU, [0.9, hostTensor(big, ad), -0.1, hostTensor(big, cd)]).data), dtype), tol * 4, tol * 4);
    await repeatable(`silu ${dtype}`, () => unary('silu', a));
    for (const t of [a, hi, c, mask, w, s]) t.dispose();
  }
  {
    // Reductions over axis sets of an NHWC tensor (400K elements at B=16: chunked runs).
    const shape = [Math.max(1, B / 4), 40, 40, 64];
    const data = stored(benchData(size(shape), 6).map((v) => 2 * v + 0.5), dtype);
    const x = Tensor.fromHost(engine, data, shape, dtype, 'other');
    const host = hostTensor(shape, data);
    const rt = dtype === 'f16' ? 2e-3 : 1e-5;
    for (const axes of [[0, 1, 2], [3], [1, 2], [0, 1, 2, 3]]) {
      for (const [op, f] of [['sum', SUM], ['mean', MEAN], ['max', MAX], ['min', MIN]]) {
        const y = reduce(op, x, axes, { outDtype: 'f32' });
        await check(`${op} ${dtype} [${shape}] over {${axes}}`, y, reduceCpu(host, axes, f).data, rt, rt);
        y.dispose();
      }
      await repeatable(`sum ${dtype} [${shape}] over {${axes}}`, () => reduce('sum', x, axes, { outDtype: 'f32' }));
    }
    for (const axis of [3, 1]) {
      const am = argmax(x, axis);
      await check(`argmax ${dtype} [${shape}] axis ${axis}`, am, reduceCpu(host, [axis], ARGMAX).data, 0, 0);
      am.dispose();
    }
    x.dispose();
  }
  for (const shape of small ? [[2, 40, 40, 16]] : [[16, 160, 160, 32], [16, 20, 20, 256]]) {
    // BatchNorm statistics: per-channel offsets so that a naive sum of squares would lose digits.
    const c = shape[3];
    const data = stored(benchData(size(shape), 7).map((v, i) => v + (i % c) * 0.5), dtype);
    const x = Tensor.fromHost(engine, data, shape, dtype, 'other');
    const want = channelMoments(data, c);
    const { mean, variance } = moments(x, [0, 1, 2]);
    await check(`moments mean ${dtype} [${shape}]`, mean, want.mean, 1e-5, 1e-6);
    await check(`moments variance ${dtype} [${shape}]`, variance, want.variance, 1e-4, 1e-6);
    await repeatable(`moments ${dtype} [${shape}]`, () => {
      const m = moments(x, [0, 1, 2]);
      m.mean.dispose();
      return m.variance;
    });
    for (const t of [x, mean, variance]) t.dispose();
  }
}
{
  // A 16M-element sum against float64.
  const n = small ? 1 << 20 : 1 << 24;
  const data = benchData(n, 8).map((v) => v + 0.25);
  let want = 0;
  for (const v of data) want += v;
  const x = Tensor.fromHost(engine, data, [n], 'f32', 'other');
  const y = reduce('sum', x);
  await check(`sum f32 of ${n} elements`, y, [want], 1e-5, 0);
  await repeatable(`sum f32 of ${n} elements`, () => reduce('sum', x));
  for (const t of [x, y]) t.dispose();
}

// ---- timings ----------------------------------------------------------------------
for (const dtype of dtypes) {
  const e = dtype === 'f16' ? 2 : 4;
  {
    const shape = [B, 160, 160, 64];
    const n = size(shape);
    const a = Tensor.fromHost(engine, benchData(n, 9), shape, dtype, 'activations');
    const b = Tensor.fromHost(engine, benchData(n, 10), shape, dtype, 'activations');
    const bias = Tensor.fromHost(engine, benchData(64, 11), [64], dtype, 'activations');
    const out = Tensor.empty(engine, shape, dtype, 'activations');
    await time(`add same shape (vec4) ${dtype} [${shape}]`, 3 * n * e, () => binary('add', a, b, { out }));
    await time(`silu in place (vec4) ${dtype} [${shape}]`, 2 * n * e, () => unary('silu', out, { out }));
    await time(`add [C] broadcast (strided 2-D) ${dtype} [${shape}]`, 2 * n * e, () => binary('add', a, bias, { out }));
    const cat = Tensor.empty(engine, [B, 160, 160, 128], dtype, 'activations');
    const slice = cat.slice(3, 64, 128);
    await time(`add into a channel slice (strided) ${dtype} [${shape}]`, 3 * n * e, () => binary('add', a, b, { out: slice }));
    const mask = Tensor.empty(engine, shape, 'u32', 'activations');
    await time(`gt -> u32 mask ${dtype} [${shape}]`, n * (e + 4), () => binary('gt', a, 0, { out: mask }));
    await time(`where(mask, a, b) ${dtype} [${shape}]`, n * (3 * e + 4), () => where(mask, a, b, { out }));
    for (const t of [a, b, bias, out, cat, slice, mask]) t.dispose();
  }
  for (const shape of [[B, 320, 320, 16], [B, 160, 160, 32], [B, 80, 80, 64], [B, 40, 40, 128], [B, 20, 20, 256]]) {
    const x = Tensor.fromHost(engine, benchData(size(shape), 12), shape, dtype, 'activations');
    await time(`moments over N,H,W (BatchNorm) ${dtype} [${shape}]`, size(shape) * e, () => {
      const m = moments(x, [0, 1, 2]);
      m.mean.dispose();
      m.variance.dispose();
    });
    x.dispose();
  }
  {
    const shape = [B * 8400, 80];
    const x = Tensor.fromHost(engine, benchData(size(shape), 13), shape, dtype, 'activations');
    await time(`argmax over classes ${dtype} [${shape}]`, size(shape) * e, () => argmax(x, 1).dispose());
    await time(`sum over classes ${dtype} [${shape}]`, size(shape) * e, () => reduce('sum', x, [1]).dispose());
    await time(`sum over all ${dtype} [${shape}]`, size(shape) * e, () => reduce('sum', x).dispose());
    x.dispose();
  }
  {
    const shape = [B, 20, 20, 256];
    const x = Tensor.fromHost(engine, benchData(size(shape), 14), shape, dtype, 'activations');
    await time(`mean over H,W (global pool) ${dtype} [${shape}]`, size(shape) * e, () => reduce('mean', x, [1, 2]).dispose());
    x.dispose();
  }
}
{
  // Optimizer-style update over all parameters of yolov8s (11.2M), f32.
  const n = small ? 1 << 20 : 11_200_000;
  const p = Tensor.fromHost(engine, benchData(n, 15), [n], 'f32', 'params');
  const g = Tensor.fromHost(engine, benchData(n, 16), [n], 'f32', 'grads');
  await time(`axpby in place f32 [${n}]`, 3 * n * 4, () => axpby(0.99, p, -0.01, g, { out: p }));
  await time(`sum f32 [${n}]`, n * 4, () => reduce('sum', g).dispose());
  for (const t of [p, g]) t.dispose();
}

finish();
