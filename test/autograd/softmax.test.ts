import { afterAll, describe, it } from 'vitest';
import { softmax } from '../../src/autograd/softmax.js';
import { permute } from '../../src/autograd/view-ops.js';
import type { Engine } from '../../src/gpu/engine.js';
import { softmaxCpu } from '../../src/kernels/softmax.cpu.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { testEngine } from '../helpers/gpu.js';

describe('softmax rule', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('matches finite differences along the last axis, a middle axis and over a permuted view', async () => {
    engine = await testEngine();
    await gradcheck(engine, (x) => softmax(x), (x) => softmaxCpu(x, 2), [[2, 3, 37]], 1);
    await gradcheck(engine, (x) => softmax(x, 1), (x) => softmaxCpu(x, 1), [[3, 5, 4]], 2);
    await gradcheck(engine, (x) => softmax(permute(x, [1, 0]), 1), (x) => softmaxCpu({ shape: [7, 5], data: Float64Array.from({ length: 35 }, (_, i) => x.data[(i % 5) * 7 + Math.floor(i / 5)]) }, 1), [[5, 7]], 3);
  });
});
