import { afterAll, describe, expect, it, vi } from 'vitest';
import { batchNorm2d, type BatchNormParams } from '../../src/autograd/batch-norm.js';
import { checkpoint } from '../../src/autograd/checkpoint.js';
import { conv2d } from '../../src/autograd/conv.js';
import { convBnAct } from '../../src/autograd/conv-bn.js';
import { noGrad } from '../../src/autograd/tape.js';
import { Var } from '../../src/autograd/variable.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { conv2dCpu } from '../../src/kernels/conv2d.cpu.js';
import type { HostTensor } from '../../src/kernels/host-tensor.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';
import { batchNormCpu } from '../helpers/nn-cpu.js';

const EPS = 1e-3;

function bnParams(engine: Engine, gamma: Var, beta: Var, c: number): BatchNormParams {
  return {
    weight: gamma,
    bias: beta,
    runningMean: Tensor.fromHost(engine, randomData(c, 5, -0.2, 0.2), [c], 'f32', 'params'),
    runningVar: Tensor.fromHost(engine, randomData(c, 6, 0.5, 1.5), [c], 'f32', 'params'),
    momentum: 0.03,
    eps: EPS,
  };
}

describe('conv2d and BatchNorm rules against finite differences', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('conv2d: bias, stride 2, padding, groups, depthwise', async () => {
    engine = await testEngine();
    const cases = [
      { x: [2, 5, 6, 3], w: [4, 3, 3, 3], stride: 2, padding: 1, groups: 1, bias: true },
      { x: [1, 5, 5, 4], w: [6, 3, 3, 2], stride: 1, padding: 1, groups: 2, bias: false },
      { x: [1, 6, 5, 4], w: [4, 3, 3, 1], stride: 2, padding: 1, groups: 4, bias: true },
      { x: [2, 4, 3, 5], w: [3, 1, 1, 5], stride: 1, padding: 0, groups: 1, bias: false },
    ];
    let seed = 1;
    for (const c of cases) {
      const o = { stride: c.stride, padding: c.padding, groups: c.groups };
      const shapes = c.bias ? [c.x, c.w, [c.w[0]]] : [c.x, c.w];
      await gradcheck(
        engine,
        (x, w, b) => conv2d(x, w, { ...o, bias: b }),
        (x, w, b) => conv2dCpu(x, w, { ...o, bias: b?.data }),
        shapes,
        (seed += 10),
      );
    }
  });

  it('BatchNorm2d in training (batch statistics), with and without SiLU, and in eval', async () => {
    engine = await testEngine();
    for (const silu of [false, true]) {
      await gradcheck(
        engine,
        (x, g, b) => batchNorm2d(x, bnParams(engine, g, b, 5), { training: true, silu }),
        (x, g, b) => batchNormCpu(x, g, b, EPS, silu),
        [[2, 3, 4, 5], [5], [5]],
        silu ? 70 : 80,
      );
    }
    const mean = Array.from(randomData(5, 5, -0.2, 0.2));
    const variance = Array.from(randomData(5, 6, 0.5, 1.5));
    await gradcheck(
      engine,
      (x, g, b) => batchNorm2d(x, bnParams(engine, g, b, 5), { training: false, silu: true }),
      (x, g, b) => batchNormCpu(x, g, b, EPS, true, { mean, variance }),
      [[2, 3, 4, 5], [5], [5]],
      90,
    );
  });

  it('a conv + BN + SiLU stack end to end', async () => {
    engine = await testEngine();
    const block = (x: HostTensor, w: HostTensor, g: HostTensor, b: HostTensor, stride: number) =>
      batchNormCpu(conv2dCpu(x, w, { stride, padding: 1 }), g, b, EPS, true);
    await gradcheck(
      engine,
      (x, w1, g1, b1, w2, g2, b2) => {
        const h = convBnAct(x, { weight: w1, stride: 2, padding: 1, groups: 1 }, bnParams(engine, g1, b1, 4), { act: true, training: true });
        return convBnAct(h, { weight: w2, stride: 1, padding: 1, groups: 1 }, bnParams(engine, g2, b2, 3), { act: true, training: true });
      },
      (x, w1, g1, b1, w2, g2, b2) => block(block(x, w1, g1, b1, 2), w2, g2, b2, 1),
      [[2, 7, 6, 3], [4, 3, 3, 3], [4], [4], [3, 3, 3, 4], [3], [3]],
      100,
    );
  });

  it('updates running statistics with momentum 0.03 and the unbiased variance, not again when recomputing', async () => {
    engine = await testEngine();
    const shape = [2, 3, 3, 4];
    const xd = randomData(72, 11, -2, 2);
    const x = new Var(Tensor.fromHost(engine, xd, shape, 'f32', 'input'), true);
    const g = new Var(Tensor.fromHost(engine, new Float32Array(4).fill(1), [4], 'f32', 'params'), true);
    const b = new Var(Tensor.fromHost(engine, new Float32Array(4), [4], 'f32', 'params'), true);
    const p = bnParams(engine, g, b, 4);
    const rm0 = await p.runningMean.read();
    const rv0 = await p.runningVar.read();
    const y = checkpoint((v) => batchNorm2d(v, p, { training: true }), x);
    const { backward } = await import('../../src/autograd/backward.js');
    backward(y, Tensor.fromHost(engine, randomData(72, 12), shape, 'f32', 'other'));
    const rm = await p.runningMean.read();
    const rv = await p.runningVar.read();
    for (let c = 0; c < 4; c++) {
      const vals = Array.from(xd).filter((_, i) => i % 4 === c);
      const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
      const unbiased = vals.reduce((s, v) => s + (v - mean) ** 2, 0) / (vals.length - 1);
      expectClose([rm[c]], [0.97 * rm0[c] + 0.03 * mean], 1e-5);
      expectClose([rv[c]], [0.97 * rv0[c] + 0.03 * unbiased], 1e-5);
    }
    // Eval mode reads the running statistics and leaves them alone.
    noGrad(() => batchNorm2d(x, p, { training: false }));
    expect(Array.from(await p.runningMean.read())).toEqual(Array.from(rm));
  });

  it('gives f16 inputs f16 gradients (conv and BatchNorm), close to the f32 gradients; weight gradients stay f32', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    const { backward } = await import('../../src/autograd/backward.js');
    const shape = [2, 7, 6, 8];
    const xd = randomData(2 * 7 * 6 * 8, 21);
    const wd = randomData(4 * 3 * 3 * 8, 22, -0.3, 0.3);
    const seed = randomData(2 * 4 * 3 * 4, 23);
    const run = async (dtype: 'f32' | 'f16') => {
      const x = new Var(Tensor.fromHost(engine, xd, shape, dtype, 'input'), true);
      const w = new Var(Tensor.fromHost(engine, wd, [4, 3, 3, 8], 'f32', 'params'), true);
      const g = new Var(Tensor.fromHost(engine, new Float32Array(4).fill(1.5), [4], 'f32', 'params'), true);
      const b = new Var(Tensor.fromHost(engine, new Float32Array(4).fill(0.1), [4], 'f32', 'params'), true);
      const y = convBnAct(x, { weight: w, stride: 2, padding: 1, groups: 1 }, bnParams(engine, g, b, 4), { act: true, training: true });
      backward(y, Tensor.fromHost(engine, seed, y.shape, 'f32', 'other'));
      expect([x.grad!.dtype, w.grad!.dtype, g.grad!.dtype]).toEqual([dtype, 'f32', 'f32']);
      return { dx: await x.grad!.read(), dw: await w.grad!.read() };
    };
    const full = await run('f32');
    const half = await run('f16');
    const scale = (a: Float32Array) => Math.max(...Array.from(a, Math.abs));
    expectClose(half.dx, full.dx, 1e-2, 1e-2 * scale(full.dx));
    expectClose(half.dw, full.dw, 1e-2, 1e-2 * scale(full.dw));
  });

  it('rounds an f32 gradient of an f16 conv output to f16 before the backward kernels (as autocast does)', async () => {
    engine = await testEngine();
    if (!engine.features.shaderF16) return;
    const { backward } = await import('../../src/autograd/backward.js');
    const { sum } = await import('../../src/autograd/ops.js');
    const { conv2dInputGradCpu, conv2dWeightGradCpu } = await import('../../src/kernels/conv2d-backward.cpu.js');
    const { hostTensor } = await import('../../src/kernels/host-tensor.js');
    const { asStored } = await import('../helpers/gpu.js');
    const [xs, ws] = [[2, 6, 5, 8], [6, 1, 1, 8]];
    const xd = asStored(randomData(2 * 6 * 5 * 8, 31), 'f16');
    const wd = asStored(randomData(6 * 8, 32, -0.5, 0.5), 'f16');
    const x = new Var(Tensor.fromHost(engine, xd, xs, 'f16', 'input'), true);
    const w = new Var(Tensor.fromHost(engine, wd, ws, 'f16', 'params'), true);
    const tags: string[] = [];
    const tagged = engine.tagged.bind(engine);
    const spy = vi.spyOn(engine, 'tagged').mockImplementation((tag, fn) => (tags.push(tag), tagged(tag, fn)));
    try {
      backward(sum(conv2d(x, w)), Tensor.fromHost(engine, [3], [], 'f32', 'other')); // dy: 3 everywhere, in f32
    } finally {
      spy.mockRestore();
    }
    expect(tags.filter((t) => t.startsWith('conv2dInputGrad') || t.startsWith('conv2dWeightGrad')).map((t) => t.split(':')[1])).toEqual(['f16', 'f16']);
    const dy = hostTensor([2, 6, 5, 6], new Float32Array(2 * 6 * 5 * 6).fill(3));
    expectClose(await x.grad!.read(), conv2dInputGradCpu(dy, hostTensor(ws, wd), xs, {}).data, 2e-3, 2e-3);
    expectClose(await w.grad!.read(), conv2dWeightGradCpu(dy, hostTensor(xs, xd), ws, {}).data, 1e-3, 1e-2);
  });
});
