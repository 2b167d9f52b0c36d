import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { ConvStack, uniform } from '../../src/nn/conv-stack.js';
import { LossScaler } from '../../src/nn/optim.js';
import { relL2, testEngine } from '../helpers/gpu.js';

const activationBytes = (engine: Engine) => engine.stats().peak.activations;

describe('a 20-block conv + BN + SiLU stack', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('checkpointing gives bitwise-identical weights with at least a 3x lower activation peak', async () => {
    engine = await testEngine();
    const shape = [2, 12, 12, 8];
    const run = async (segment: number) => {
      const stack = new ConvStack(engine, 20, 8, 3);
      const x = Tensor.fromHost(engine, uniform(2 * 12 * 12 * 8, 9, 1), shape, 'f32', 'input');
      engine.arena.resetPeak();
      const loss = stack.step(x, { segment });
      const peak = activationBytes(engine);
      const weights = await Promise.all(stack.blocks.map((b) => b.weight.data.read()));
      const stats = await Promise.all(stack.blocks.map((b) => b.bn.runningMean.read()));
      const result = { loss: (await loss.read())[0], peak, weights, stats };
      loss.dispose();
      x.dispose();
      stack.dispose();
      return result;
    };
    const plain = await run(0);
    const ckpt = await run(3); // segments of 3 blocks: 7 saved inputs + one segment recomputed
    expect(ckpt.loss).toBe(plain.loss);
    expect(ckpt.weights).toEqual(plain.weights);
    expect(ckpt.stats).toEqual(plain.stats);
    expect(plain.peak / ckpt.peak).toBeGreaterThanOrEqual(3);
  });

  it('stores saved activations in f16 on request: half the saved bytes, gradients within 1e-2', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    const run = async (savedF16: boolean) => {
      const stack = new ConvStack(engine, 6, 8, 8);
      const before = await Promise.all(stack.blocks.map((b) => b.weight.data.read()));
      const x = Tensor.fromHost(engine, uniform(2 * 10 * 10 * 8, 2, 1), [2, 10, 10, 8], 'f32', 'input');
      engine.arena.resetPeak();
      stack.step(x, { segment: 0, savedF16 }).dispose();
      const peak = activationBytes(engine);
      const steps = await Promise.all(stack.blocks.map(async (b, i) => (await b.weight.data.read()).map((v, k) => v - before[i][k])));
      x.dispose();
      stack.dispose();
      return { peak, steps };
    };
    const f32 = await run(false);
    const f16 = await run(true);
    f16.steps.forEach((s, i) => expect(relL2(s, f32.steps[i])).toBeLessThan(1e-2));
    expect(f16.peak).toBeLessThan(0.7 * f32.peak);
  });

  it('ends a training step with no activations or workspace alive, and repeats it without new allocations', async () => {
    engine = await testEngine();
    const stack = new ConvStack(engine, 3, 8, 4);
    const x = Tensor.fromHost(engine, uniform(2 * 9 * 7 * 8, 5, 1), [2, 9, 7, 8], 'f32', 'input');
    // The first step creates the optimizer's momentum buffers; from the second on, steps repeat exactly.
    for (let i = 0; i < 2; i++) stack.step(x, { segment: 0 }).dispose();
    await engine.sync();
    const live = engine.stats().live;
    expect(live.activations).toBe(0);
    expect(live.workspace).toBe(0);
    const before = engine.counters();
    const grads = engine.stats().live.grads;
    stack.step(x, { segment: 0 }).dispose();
    await engine.sync();
    const after = engine.counters();
    expect(after.buffers).toBe(before.buffers);
    expect(after.pipelines).toBe(before.pipelines);
    expect(after.bindGroups).toBe(before.bindGroups);
    expect(engine.stats().live.grads).toBe(grads);
    x.dispose();
    stack.dispose();
  });

  it('trains 50 steps with f16 activations (f32 master weights, loss scaling) to within 2% of the f32 loss', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    const data = uniform(2 * 10 * 10 * 8, 21, 1);
    const train = async (dtype: 'f32' | 'f16') => {
      const stack = new ConvStack(engine, 4, 8, 6);
      const x = Tensor.fromHost(engine, data, [2, 10, 10, 8], dtype, 'input');
      const scaler = new LossScaler();
      let last = 0;
      for (let i = 0; i < 50; i++) {
        const loss = stack.step(x, { segment: 0, lossScale: dtype === 'f16' ? scaler.scale : 1 });
        const [, skipped] = await stack.optimizer.control.read();
        scaler.update(skipped !== 0);
        last = (await loss.read())[0];
        loss.dispose();
      }
      x.dispose();
      stack.dispose();
      return last;
    };
    const f32 = await train('f32');
    const f16 = await train('f16');
    expect(Math.abs(f16 - f32) / f32).toBeLessThan(0.02);
  });
});
