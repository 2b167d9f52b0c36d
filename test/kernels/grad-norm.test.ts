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
    const control = Tensor.empty(engine, [3], 'f32', 'other');
    for (const options of [
      { maxNorm: 10, lossScale: 1 },
      { maxNorm: 1e9, lossScale: 1 },
      { maxNorm: 10, lossScale: 1024 },
    ]) {
      gradientControl(grads, control, options);
      const first = await control.read();
      expectClose(first, gradientControlCpu(hosts, options), 1e-5, 1e-12);
      gradientControl(grads, control, options);
      expect(Array.from(await control.read())).toEqual(Array.from(first));
    }
    grads.forEach((g) => g.dispose());
    control.dispose();
  });

  it('flags inf and NaN gradients', async () => {
    engine = await testEngine();
    for (const bad of [Infinity, NaN]) {
      const h = randomData(5000, 3);
      h[4321] = bad;
      const g = Tensor.fromHost(engine, h, [5000], 'f32', 'grads');
      const control = Tensor.empty(engine, [3], 'f32', 'other');
      gradientControl([g], control, { maxNorm: 10, lossScale: 65536 });
      expect((await control.read())[1]).toBe(1);
      g.dispose();
      control.dispose();
    }
    expect(engine.stats().liveBytes).toBe(0);
  });
});
