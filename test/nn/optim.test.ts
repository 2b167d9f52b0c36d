import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { gradientControlCpu } from '../../src/kernels/grad-norm.cpu.js';
import { adamwUpdateCpu, sgdUpdateCpu } from '../../src/kernels/optimizer.cpu.js';
import { Module } from '../../src/nn/module.js';
import { AdamW, LossScaler, referenceParamGroups, SGD } from '../../src/nn/optim.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';

class Norm extends Module {
  readonly isNormLayer = true as const;
  constructor(engine: Engine) {
    super(engine);
    this.parameter('weight', [5], randomData(5, 1));
    this.parameter('bias', [5], randomData(5, 2));
  }
}

class Tiny extends Module {
  constructor(engine: Engine) {
    super(engine);
    this.parameter('weight', [3, 7], randomData(21, 3));
    this.parameter('bias', [3], randomData(3, 4));
    this.module('bn', new Norm(engine));
  }
}

function setGrads(model: Module, seed: number, scale = 1): Map<string, Float32Array> {
  const grads = new Map<string, Float32Array>();
  model.namedParameters().forEach(([name, v], i) => {
    const g = randomData(v.data.size, seed + i, -2, 2).map((x) => x * scale);
    v.zeroGrad();
    v.grad = Tensor.fromHost(v.data.engine, g, v.data.shape, 'f32', 'grads');
    grads.set(name, g);
  });
  return grads;
}

describe('optimizers', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('builds the reference parameter groups: pg0 biases, pg1 decayed weights, pg2 norm weights', async () => {
    engine = await testEngine();
    const model = new Tiny(engine);
    const groups = referenceParamGroups(model, 0.01, 5e-4, 0.937);
    const names = new Map(model.namedParameters().map(([n, v]) => [v, n]));
    expect(groups.map((g) => g.params.map((v) => names.get(v)))).toEqual([['bias', 'bn.bias'], ['weight'], ['bn.weight']]);
    expect(groups.map((g) => g.weightDecay)).toEqual([0, 5e-4, 0]);
    model.dispose();
  });

  for (const kind of ['sgd', 'adamw'] as const) {
    it(`${kind}: clipped steps over all groups match the CPU reference`, async () => {
      engine = await testEngine();
      const model = new Tiny(engine);
      const groups = referenceParamGroups(model, 0.01, 5e-4, 0.9);
      const opt = kind === 'sgd' ? new SGD(engine, groups, true) : new AdamW(engine, groups);
      const host = new Map((await model.stateDict()).entries());
      const params = new Map([...host].map(([n, e]) => [n, Float64Array.from(e.data)]));
      const state = new Map([...host].map(([n, e]) => [n, [new Float64Array(e.data.length), new Float64Array(e.data.length)]]));
      const groupOf = new Map(model.namedParameters().map(([n, v]) => [n, groups.find((g) => g.params.includes(v))!]));
      for (let step = 1; step <= 3; step++) {
        const grads = setGrads(model, 10 * step);
        opt.step({ maxNorm: 1 });
        const [gradMul] = gradientControlCpu([...grads.values()], { maxNorm: 1, lossScale: 1 });
        for (const [n, g] of grads) {
          const group = groupOf.get(n)!;
          const [a, b] = state.get(n)!;
          if (kind === 'sgd') sgdUpdateCpu(params.get(n)!, Float64Array.from(g), a, gradMul, { lr: group.lr, momentum: group.momentum, nesterov: true, weightDecay: group.weightDecay });
          else adamwUpdateCpu(params.get(n)!, Float64Array.from(g), a, b, gradMul, { lr: group.lr, beta1: group.momentum, beta2: 0.999, eps: 1e-8, weightDecay: group.weightDecay, step });
        }
      }
      const after = await model.stateDict();
      for (const [n, p] of params) expectClose(after.get(n)!.data, p, 1e-5, 1e-6);
      opt.zeroGrad();
      opt.dispose();
      model.dispose();
      expect(engine.stats().liveBytes).toBe(0);
    });
  }

  it('the loss scaler halves on overflow and doubles after the growth interval', () => {
    const s = new LossScaler(1024, 3);
    s.update(true);
    expect(s.scale).toBe(512);
    s.update(false);
    s.update(false);
    expect(s.scale).toBe(512);
    s.update(false);
    expect(s.scale).toBe(1024);
  });
});

describe('ModelEMA', () => {
  it('follows the reference decay schedule over parameters and buffers', async () => {
    const engine = await testEngine();
    const { ModelEMA } = await import('../../src/nn/ema.js');
    const model = new Tiny(engine);
    const ema = new ModelEMA(model);
    const start = (await model.stateDict()).get('weight')!.data;
    expect(ema.decay(1)).toBeCloseTo(0.9999 * (1 - Math.exp(-1 / 2000)), 12);
    const w = model.namedParameters().find(([n]) => n === 'weight')![1].data;
    const next = randomData(21, 99);
    w.write(next);
    ema.update();
    const d = ema.decay(1);
    expectClose(await ema.tensors[0].read(), Array.from(start, (s, i) => d * s + (1 - d) * next[i]), 1e-6);
    ema.dispose();
    model.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
