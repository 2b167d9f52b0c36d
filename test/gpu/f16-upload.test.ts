import { describe, expect, it } from 'vitest';
// Only the engine and tensors: the kernels an upload needs must come with the engine.
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';

describe('f16 uploads', () => {
  it('of an odd element count work with nothing but the engine imported', async () => {
    const engine = await Engine.open();
    if (!engine.features.shaderF16) return engine.destroy();
    const t = Tensor.fromHost(engine, [1, 2.5, -3], [3], 'f16', 'other');
    expect(Array.from(await t.read())).toEqual([1, 2.5, -3]);
    engine.destroy();
  });
});
