import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { gradientControl } from '../../src/kernels/grad-norm.js';
import { gradientControlCpu } from '../../src/kernels/grad-norm.cpu.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';

describe('gradientControl', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  const sizes = [1, 37, 4097, 20011];

  it('computes the global norm, the clip multiplier and the skip flag like the CPU reference, bit-identically twice', async () => {
    engine = await testEngine();
    const hosts = sizes.map((n, i) => randomData(n, 10 + i, -3, 3));
    const grads = hosts.map((h) => Tensor.fromHost(engine, h, [h.length], 'f32', 'grads'));
    const control = Tensor.fromHost(engine, [1, 0, 0, 0], [4], 'f32', 'other');
    let steps = 0;
    for (const options of [
      { maxNorm: 10, lossScale: 1 },
      { maxNorm: 1e9, lossScale: 1 },
      { maxNorm: 10, lossScale: 1024 },
    ]) {
      gradientControl(grads, control, options);
      const first = await control.read();
      expectClose(first.slice(0, 3), gradientControlCpu(hosts, options), 1e-5, 1e-12);
      gradientControl(grads, control, options);
      const second = await control.read();
      expect(Array.from(second.slice(0, 3))).toEqual(Array.from(first.slice(0, 3)));
      steps += 2;
      expect(second[3]).toBe(steps); // every step taken is counted
    }
    grads.forEach((g) => g.dispose());
    control.dispose();
  });

  it('flags inf and NaN gradients, and does not count the skipped step', async () => {
    engine = await testEngine();
    for (const bad of [Infinity, NaN]) {
      const h = randomData(5000, 3);
      h[4321] = bad;
      const g = Tensor.fromHost(engine, h, [5000], 'f32', 'grads');
      const control = Tensor.fromHost(engine, [1, 0, 0, 5], [4], 'f32', 'other');
      gradientControl([g], control, { maxNorm: 10, lossScale: 65536 });
      const [, skip, , steps] = await control.read();
      expect(skip).toBe(1);
      expect(steps).toBe(5);
      g.dispose();
      control.dispose();
    }
    expect(engine.stats().liveBytes).toBe(0);
  });
});
