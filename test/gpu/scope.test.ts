import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { keep, tidy } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { testEngine } from '../helpers/gpu.js';

describe('tidy', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('disposes temporaries and views, keeps results and kept tensors', async () => {
    engine = await testEngine();
    let kept!: Tensor;
    const { a } = tidy(() => {
      const t = Tensor.empty(engine, [10, 10], 'f32', 'activations');
      t.slice(0, 0, 5).permute([1, 0]);
      kept = keep(Tensor.empty(engine, [4], 'f32', 'params'));
      tidy(() => Tensor.empty(engine, [3], 'f32', 'workspace'));
      return { a: Tensor.empty(engine, [7], 'f32', 'grads') };
    });
    expect(a.isDisposed).toBe(false);
    expect(kept.isDisposed).toBe(false);
    const live = engine.stats().live;
    expect(live.activations + live.workspace).toBe(0);
    a.dispose();
    kept.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('disposes everything when the function throws', async () => {
    engine = await testEngine();
    expect(() =>
      tidy(() => {
        Tensor.empty(engine, [10], 'f32', 'activations');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(engine.stats().liveBytes).toBe(0);
  });
});
