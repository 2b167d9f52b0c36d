import { afterAll, describe, expect, it } from 'vitest';
import { backward } from '../../src/autograd/backward.js';
import * as ag from '../../src/autograd/ops.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { tidy } from '../../src/gpu/scope.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { BINARY_CPU, mapCpu, UNARY_CPU } from '../../src/kernels/elementwise.cpu.js';
import { hostTensor, type HostTensor } from '../../src/kernels/host-tensor.js';
import { matmulCpu } from '../../src/kernels/matmul.cpu.js';
import { MEAN, reduceCpu, SUM } from '../../src/kernels/reduce.cpu.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { testEngine } from '../helpers/gpu.js';

const keepDims = (t: HostTensor, x: HostTensor, axes: number[]) => hostTensor(x.shape.map((d, i) => (axes.includes(i) ? 1 : d)), t.data);

describe('autograd rules against finite differences', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('add, sub, mul with broadcasting reduce gradients to each operand shape', async () => {
    engine = await testEngine();
    for (const [name, op] of [['add', ag.add], ['sub', ag.sub], ['mul', ag.mul]] as const) {
      await gradcheck(engine, op, (a, b) => mapCpu(BINARY_CPU[name], [a, b]), [[2, 3, 5], [1, 5]], 10);
      await gradcheck(engine, op, (a, b) => mapCpu(BINARY_CPU[name], [a, b]), [[3, 1], [2, 3, 4]], 20);
    }
  });

  it('silu, sigmoid and square', async () => {
    engine = await testEngine();
    await gradcheck(engine, ag.silu, (x) => mapCpu(UNARY_CPU.silu, [x]), [[3, 7]], 30);
    await gradcheck(engine, ag.sigmoid, (x) => mapCpu(UNARY_CPU.sigmoid, [x]), [[3, 7]], 40);
    await gradcheck(engine, ag.square, (x) => mapCpu(UNARY_CPU.square, [x]), [[4, 5]], 45);
  });

  it('sum and mean over axis sets', async () => {
    engine = await testEngine();
    await gradcheck(engine, (x) => ag.sum(x, [0, 2]), (x) => keepDims(reduceCpu(x, [0, 2], SUM), x, [0, 2]), [[3, 4, 5]], 50);
    await gradcheck(engine, (x) => ag.mean(x, [1]), (x) => keepDims(reduceCpu(x, [1], MEAN), x, [1]), [[3, 4, 5]], 60);
  });

  it('matmul, plain and batched with a broadcast operand', async () => {
    engine = await testEngine();
    await gradcheck(engine, ag.matmul, (a, b) => matmulCpu(a, b), [[5, 7], [7, 3]], 70);
    await gradcheck(engine, ag.matmul, (a, b) => matmulCpu(a, b), [[2, 5, 7], [7, 3]], 80);
    await gradcheck(engine, (a, b) => ag.matmul(a, b, { alpha: 0.3 }), (a, b) => matmulCpu(a, b, { alpha: 0.3 }), [[2, 5, 7], [2, 7, 3]], 90);
  });
});

describe('tape', () => {
  it('accumulates a reused value, frees saved tensors, and records nothing under noGrad', async () => {
    const engine = await testEngine();
    const x = new Var(Tensor.fromHost(engine, [1, 2, 3], [3], 'f32', 'params'), true);
    // y = sum(x * x + x): dy/dx = 2x + 1
    const y = tidy(() => ag.sum(ag.add(ag.mul(x, x), x)));
    backward(y);
    expect(Array.from(await x.grad!.read())).toEqual([3, 5, 7]);
    y.dispose();
    const live = engine.stats().live;
    expect(live.activations + live.workspace).toBe(0);
    // The gradient computed as a temporary became .grad in place: counted as grads, no copy left behind.
    expect(x.grad!.storage.category).toBe('grads');
    expect(live.grads).toBe(x.grad!.storage.allocation.size);
    const z = noGrad(() => ag.mul(x, x));
    expect(z.node).toBeNull();
    z.dispose();
    x.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
