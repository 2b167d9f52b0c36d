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

  it('adamw: a skipped step (inf gradient) changes nothing and is not counted by the bias correction', async () => {
    engine = await testEngine();
    const model = new Tiny(engine);
    const groups = referenceParamGroups(model, 0.01, 5e-4, 0.9);
    const opt = new AdamW(engine, groups);
    const host = new Map((await model.stateDict()).entries());
    const params = new Map([...host].map(([n, e]) => [n, Float64Array.from(e.data)]));
    const state = new Map([...host].map(([n, e]) => [n, [new Float64Array(e.data.length), new Float64Array(e.data.length)]]));
    const groupOf = new Map(model.namedParameters().map(([n, v]) => [n, groups.find((g) => g.params.includes(v))!]));
    let taken = 0;
    for (const [seed, poisoned] of [[5, false], [6, true], [7, false]] as const) {
      const grads = setGrads(model, seed);
      if (poisoned) {
        const [, v] = model.namedParameters()[0];
        v.grad!.write(Float32Array.from(grads.values().next().value!, (x, i) => (i === 0 ? Infinity : x)));
      }
      opt.step({ maxNorm: 10 });
      if (poisoned) continue;
      taken++;
      const [gradMul] = gradientControlCpu([...grads.values()], { maxNorm: 10, lossScale: 1 });
      for (const [n, g] of grads) {
        const group = groupOf.get(n)!;
        const [a, b] = state.get(n)!;
        adamwUpdateCpu(params.get(n)!, Float64Array.from(g), a, b, gradMul, { lr: group.lr, beta1: group.momentum, beta2: 0.999, eps: 1e-8, weightDecay: group.weightDecay, step: taken });
      }
    }
    const after = await model.stateDict();
    for (const [n, p] of params) expectClose(after.get(n)!.data, p, 1e-5, 1e-6);
    expect((await opt.state()).steps).toBe(2);
    opt.zeroGrad();
    opt.dispose();
    model.dispose();
  });

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

describe('optimizer and EMA state for checkpoints', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  async function paramsOf(model: Module): Promise<Float32Array[]> {
    return Promise.all(model.namedParameters().map(async ([, v]) => Float32Array.from(await v.data.read())));
  }

  for (const kind of ['SGD', 'AdamW'] as const) {
    it(`${kind}: a restored state continues bit for bit like the original`, async () => {
      engine = await testEngine();
      const make = (m: Module) => {
        const groups = referenceParamGroups(m, 0.01, 5e-4, 0.9);
        return kind === 'SGD' ? new SGD(engine, groups, true) : new AdamW(engine, groups);
      };
      const a = new Tiny(engine);
      const optA = make(a);
      for (let step = 1; step <= 2; step++) {
        setGrads(a, 40 * step);
        optA.step({ maxNorm: 10 });
      }
      const saved = await optA.state();
      const names = kind === 'SGD' ? ['momentum_buffer'] : ['exp_avg', 'exp_avg_sq'];
      expect([...saved.tensors.keys()].sort()).toEqual(
        ['pg0.0', 'pg0.1', 'pg1.0', 'pg2.0'].flatMap((p) => names.map((n) => `${p}.${n}`)).sort(),
      );
      expect(saved).toMatchObject({ kind, steps: 2 });
      expect(saved.tensors.get(`pg1.0.${names[0]}`)!.shape).toEqual([3, 7]);

      const b = new Tiny(engine);
      b.loadStateDict(await a.stateDict());
      const optB = make(b);
      optB.loadState(saved);
      setGrads(a, 777);
      setGrads(b, 777);
      optA.step({ maxNorm: 10 });
      optB.step({ maxNorm: 10 });
      expect(await paramsOf(b)).toEqual(await paramsOf(a));
      const [sa, sb] = [await optA.state(), await optB.state()];
      expect(sb.steps).toBe(3);
      for (const [k, t] of sa.tensors) expect(sb.tensors.get(k)!.data).toEqual(t.data);

      const other = kind === 'SGD' ? new AdamW(engine, referenceParamGroups(b, 0.01, 0, 0.9)) : new SGD(engine, referenceParamGroups(b, 0.01, 0, 0.9), true);
      expect(() => other.loadState(saved, 'last.safetensors')).toThrow(`last.safetensors: saved by ${kind}, this run uses ${other.kind}`);
      const renamed = new Map([...saved.tensors].map(([k, v]) => [k.replace('pg1.0', 'pg1.5'), v]));
      expect(() => optB.loadState({ ...saved, tensors: renamed })).toThrow(`optimizer state: 'pg1.5.${names[0]}' names no state of this optimizer's parameters`);
      const reshaped = new Map([...saved.tensors].map(([k, v]) => [k, k.startsWith('pg1.0') ? { shape: [7, 3], data: v.data } : v]));
      expect(() => optB.loadState({ ...saved, tensors: reshaped })).toThrow(`'pg1.0.${names[0]}' has shape [7,3], the parameter's is [3,7]`);
      for (const x of [optA, optB, other]) {
        x.zeroGrad();
        x.dispose();
      }
      a.dispose();
      b.dispose();
      expect(engine.stats().liveBytes).toBe(0);
    });
  }

  it('EMA state is the averages as a PyTorch-layout state dict (conv weights OIHW) and restores exactly', async () => {
    engine = await testEngine();
    const { ModelEMA } = await import('../../src/nn/ema.js');
    const { Conv2d } = await import('../../src/nn/conv2d.js');
    const { BatchNorm2d } = await import('../../src/nn/batch-norm.js');
    class Net extends Module {
      constructor(e: Engine, seed: number) {
        super(e);
        this.module('conv', new Conv2d(e, 3, 5, 3, { bias: true })).resetParameters(seed);
        this.module('bn', new BatchNorm2d(e, 5));
      }
    }
    const model = new Net(engine, 1);
    const ema = new ModelEMA(model);
    for (let k = 0; k < 3; k++) {
      model.namedParameters().forEach(([, v], i) => v.data.write(randomData(v.data.size, 100 * k + i)));
      ema.update();
    }
    const s = await ema.state();
    expect(s.updates).toBe(3);
    expect([...s.stateDict.keys()]).toEqual(['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var']);
    expect(s.stateDict.get('conv.weight')!.shape).toEqual([5, 3, 3, 3]);
    // the state dict is the averages, not the model's own weights
    const own = await model.stateDict();
    expect(s.stateDict.get('conv.bias')!.data).not.toEqual(own.get('conv.bias')!.data);
    expectClose(s.stateDict.get('conv.bias')!.data, await ema.tensors[1].read(), 0, 0);

    const fresh = new Net(engine, 2);
    const restored = new ModelEMA(fresh);
    const before = await fresh.stateDict();
    restored.loadState(s);
    expect(restored.updates).toBe(3);
    for (let i = 0; i < ema.tensors.length; i++) expect(await restored.tensors[i].read()).toEqual(await ema.tensors[i].read());
    // the model itself is untouched by loading its EMA
    expect(await fresh.stateDict()).toEqual(before);
    // swap exchanges model and averages; swapping again restores both
    const averages = (await restored.state()).stateDict;
    restored.swap();
    expect(await fresh.stateDict()).toEqual(averages);
    expect((await restored.state()).stateDict).toEqual(before);
    restored.swap();
    expect(await fresh.stateDict()).toEqual(before);
    expect((await restored.state()).stateDict).toEqual(averages);
    s.stateDict.delete('bn.running_var');
    expect(() => restored.loadState(s, 'ckpt')).toThrow('tensor bn.running_var is missing in ckpt');
    for (const x of [ema, restored]) x.dispose();
    model.dispose();
    fresh.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
