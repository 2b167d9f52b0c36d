import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import { concat, split } from '../../src/autograd/concat.js';
import { maxPool2d } from '../../src/autograd/pool.js';
import { upsampleNearest } from '../../src/autograd/upsample.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { conv2d } from '../../src/kernels/conv2d.js';
import { conv2dCpu } from '../../src/kernels/conv2d.cpu.js';
import { hostTensor, type HostTensor } from '../../src/kernels/host-tensor.js';
import { maxPool2dCpu } from '../../src/kernels/pool.cpu.js';
import { upsampleNearestCpu } from '../../src/kernels/upsample.cpu.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randomData, testEngine } from '../helpers/gpu.js';

/** Concatenation along the last axis in float64. */
function concatCpu(parts: HostTensor[]): HostTensor {
  const widths = parts.map((p) => p.shape[p.shape.length - 1]);
  const total = widths.reduce((a, b) => a + b, 0);
  const rows = parts[0].data.length / widths[0];
  const out = new Float64Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let c0 = 0;
    parts.forEach((p, k) => {
      for (let c = 0; c < widths[k]; c++) out[r * total + c0 + c] = p.data[r * widths[k] + c];
      c0 += widths[k];
    });
  }
  return hostTensor([...parts[0].shape.slice(0, -1), total], out);
}

describe('pooling, upsampling, concat and split rules', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('maxPool2d (SPPF geometry and a strided one) and nearest upsampling', async () => {
    engine = await testEngine();
    await gradcheck(engine, (x) => maxPool2d(x, 5, 1, 2), (x) => maxPool2dCpu(x, 5, 1, 2).out, [[2, 6, 5, 3]], 1);
    await gradcheck(engine, (x) => maxPool2d(x, 3, 2, 1), (x) => maxPool2dCpu(x, 3, 2, 1).out, [[1, 7, 6, 2]], 2);
    await gradcheck(engine, (x) => upsampleNearest(x, 2), (x) => upsampleNearestCpu(x, 2), [[2, 3, 4, 3]], 3);
  });

  it('concat (copying) and split hand back each part its slice of the gradient', async () => {
    engine = await testEngine();
    await gradcheck(engine, (a, b) => concat([a, b]), (a, b) => concatCpu([a, b]), [[2, 3, 3, 2], [2, 3, 3, 5]], 4);
    await gradcheck(engine, (x) => concat(split(x, [2, 3, 1]).reverse()), (x) => {
      const rows = x.data.length / 6;
      const pick = (lo: number, hi: number) => hostTensor([2, 3, 3, hi - lo], Float64Array.from({ length: rows * (hi - lo) }, (_, i) => x.data[Math.floor(i / (hi - lo)) * 6 + lo + (i % (hi - lo))]));
      return concatCpu([pick(5, 6), pick(2, 5), pick(0, 2)]);
    }, [[2, 3, 3, 6]], 5);
    // one piece used: the others' windows of the gradient stay zero
    await gradcheck(engine, (x) => split(x, [2, 3, 1])[1], (x) => {
      const rows = x.data.length / 6;
      return hostTensor([2, 3, 3, 3], Float64Array.from({ length: rows * 3 }, (_, i) => x.data[Math.floor(i / 3) * 6 + 2 + (i % 3)]));
    }, [[2, 3, 3, 6]], 6);
  });

  it('split hands an f16 input an f16 gradient (activation gradients keep the activations\' dtype)', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    const xd = randomData(2 * 3 * 3 * 6, 9);
    const x = new Var(Tensor.fromHost(engine, xd, [2, 3, 3, 6], 'f16', 'input'), true);
    const [a, b] = split(x, [2, 4]);
    const y = concat([b, a]);
    const seed = Tensor.fromHost(engine, new Float32Array(xd.length).fill(1), y.shape, 'f32', 'other');
    backward(y, seed);
    expect(x.grad!.dtype).toBe('f16');
    expect(Array.from(await x.grad!.read())).toEqual(new Array(xd.length).fill(1)); // every element written once
    for (const v of [x, a, b, y, seed]) v.dispose();
  });

  it('concat of producers that wrote into adjacent channel slices is a view of their buffer', async () => {
    engine = await testEngine();
    const xd = randomData(2 * 4 * 4 * 3, 6);
    const wd = [randomData(2 * 3, 7), randomData(4 * 3, 8)];
    const x = Tensor.fromHost(engine, xd, [2, 4, 4, 3], 'f32', 'input');
    const buffer = Tensor.empty(engine, [2, 4, 4, 6], 'f32', 'activations');
    const parts = [0, 1].map((k) => {
      const w = Tensor.fromHost(engine, wd[k], [k ? 4 : 2, 1, 1, 3], 'f32', 'params');
      const slice = buffer.slice(3, k ? 2 : 0, k ? 6 : 2);
      conv2d(x, w, { out: slice });
      return new Var(slice, true);
    });
    const before = engine.stats().live.activations;
    const joined = concat(parts);
    expect(joined.data.storage).toBe(buffer.storage);
    expect(engine.stats().live.activations).toBe(before);
    const ref = concatCpu([0, 1].map((k) => conv2dCpu(hostTensor([2, 4, 4, 3], xd), hostTensor([k ? 4 : 2, 1, 1, 3], wd[k]))));
    const got = await joined.data.read();
    ref.data.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(1e-5));
  });
});
