/**
 * Why parity.test.ts cannot hold gradients to 1e-3: the PyTorch fixtures were computed with TF32
 * convolutions, and a training step is that sensitive to TF32 rounding. Rounding only our
 * weights to TF32 (what cuDNN does to one operand of every convolution) moves our own gradients
 * as far as the fixture's are from ours: the ratio of the two distances is about 1 for a typical
 * parameter (measured on 11n-rand: median 1.05, 90th percentile 1.39). v8n-coco128's weights come
 * from an f16 checkpoint and are TF32-exact; a random relative perturbation of 2^-11 there moves
 * our gradients 2.7x (median) further than the fixture is.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.js';
import { relL2, testEngine } from '../../helpers/gpu.js';
import { fixtureOf, gradientErrors, isZeroGradient, trainStep } from './train-step.js';

/** Rounds to TF32 (10-bit mantissa, to nearest) as the tensor cores read an f32 operand. */
const bits = new Uint32Array(1);
const value = new Float32Array(bits.buffer);
const toTf32 = (v: number) => ((value[0] = v), (bits[0] = (bits[0] + 0x1000) & 0xffffe000), value[0]);

describe('11n-rand: the fixture is as far from us as TF32 rounding of our weights', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('per-parameter gradient distances: fixture vs ours, ours vs ours with TF32 weights', async () => {
    engine = await testEngine();
    const fixture = fixtureOf('11n-rand');
    const exact = await trainStep(engine, '11n-rand', 'yolo11n.yaml');
    const rounded = await trainStep(engine, '11n-rand', 'yolo11n.yaml', async (model) => {
      for (const [, v] of model.namedParameters()) if (v.data.rank === 4) v.data.write(Array.from(await v.data.read(), toTf32));
    });
    const ratios = gradientErrors(exact, fixture)
      .filter(([name]) => !isZeroGradient(name, exact.grads))
      .map(([name, e]) => e / relL2(rounded.grads.get(name)!.data, exact.grads.get(name)!.data))
      .sort((a, b) => a - b);
    const quantile = (q: number) => ratios[Math.floor(q * (ratios.length - 1))];
    expect(quantile(0.5)).toBeGreaterThan(0.5);
    expect(quantile(0.5)).toBeLessThan(2);
    expect(quantile(0.9)).toBeLessThan(2);
    // The loss items move by the same order (measured: 1.3e-4 with TF32 weights; the fixture is 5.4e-4 away,
    // rounding the activations as well, which we cannot emulate without changing the kernels).
    const expected = fixture.getFloat32('loss_items').data;
    const moved = Math.max(...rounded.items.map((v, i) => Math.abs(v - exact.items[i]) / exact.items[i]));
    const distance = Math.max(...exact.items.map((v, i) => Math.abs(v - expected[i]) / expected[i]));
    expect(distance).toBeLessThan(10 * moved);
  });
});
