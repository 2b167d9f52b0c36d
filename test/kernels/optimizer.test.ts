import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { adamwUpdate, adamwUpdateMany, sgdUpdate, sgdUpdateMany } from '../../src/kernels/optimizer.js';
import { adamwUpdateCpu, sgdUpdateCpu } from '../../src/kernels/optimizer.cpu.js';
import { expectClose, randomData, testEngine } from '../helpers/gpu.js';

const N = 1037;

describe('optimizer kernels', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  function state(seed: number) {
    const data = randomData(N, seed);
    return { host: Float64Array.from(data), gpu: Tensor.fromHost(engine, data, [N], 'f32', 'params') };
  }

  it('SGD with Nesterov momentum and weight decay follows the CPU reference over several steps, and skips on the flag', async () => {
    engine = await testEngine();
    const p = state(1);
    const buf = { host: new Float64Array(N), gpu: Tensor.fromHost(engine, new Float32Array(N), [N], 'f32', 'optimizer') };
    const control = Tensor.fromHost(engine, [0.5, 0, 0, 1], [4], 'f32', 'other');
    const h = { lr: 0.01, momentum: 0.937, nesterov: true, weightDecay: 5e-4 };
    for (let step = 0; step < 4; step++) {
      const g = randomData(N, 100 + step);
      const grad = Tensor.fromHost(engine, g, [N], 'f32', 'grads');
      sgdUpdate(p.gpu, grad, buf.gpu, control, h);
      sgdUpdateCpu(p.host, Float64Array.from(g), buf.host, 0.5, h);
      grad.dispose();
    }
    expectClose(await p.gpu.read(), p.host, 1e-5, 1e-6);
    expectClose(await buf.gpu.read(), buf.host, 1e-5, 1e-6);
    const before = await p.gpu.read();
    control.write([1, 1, 0, 1]);
    const grad = Tensor.fromHost(engine, randomData(N, 9), [N], 'f32', 'grads');
    sgdUpdate(p.gpu, grad, buf.gpu, control, h);
    expect(Array.from(await p.gpu.read())).toEqual(Array.from(before));
    for (const t of [p.gpu, buf.gpu, control, grad]) t.dispose();
  });

  it('AdamW with bias correction and decoupled decay follows the CPU reference', async () => {
    engine = await testEngine();
    const p = state(2);
    const m = { host: new Float64Array(N), gpu: Tensor.fromHost(engine, new Float32Array(N), [N], 'f32', 'optimizer') };
    const v = { host: new Float64Array(N), gpu: Tensor.fromHost(engine, new Float32Array(N), [N], 'f32', 'optimizer') };
    const control = Tensor.fromHost(engine, [2, 0, 0, 0], [4], 'f32', 'other');
    // The step count comes from control[3]; both branches of the bias correction (series, exp) are taken.
    for (const step of [1, 2, 3, 4, 5, 150, 3000]) {
      const h = { lr: 0.002, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step };
      const g = randomData(N, 200 + step);
      const grad = Tensor.fromHost(engine, g, [N], 'f32', 'grads');
      control.write([2, 0, 0, step]);
      adamwUpdate(p.gpu, grad, m.gpu, v.gpu, control, h);
      adamwUpdateCpu(p.host, Float64Array.from(g), m.host, v.host, 2, h);
      grad.dispose();
    }
    expectClose(await p.gpu.read(), p.host, 1e-5, 1e-6);
    // (1 - beta2) is rounded to f32 on the GPU, as in PyTorch: ~1e-5 relative.
    expectClose(await v.gpu.read(), v.host, 1e-4, 1e-9);
    for (const t of [p.gpu, m.gpu, v.gpu, control]) t.dispose();
  });

  it('updates many parameters at once across arena segments and more hyperparameter sets than one dispatch holds', async () => {
    // Small segments spread the tensors over several; 6 hyperparameter sets split the rows over two dispatches.
    const small = await Engine.open({ segmentBytes: 32 * 1024 });
    const sizes = [1, 5, 1023, 1024, 1025, 3000, 77, 2049, 4, 600, 1500, 9];
    for (const kind of ['sgd', 'adamw'] as const) {
      const hypers = [0, 1, 2, 3, 4, 5].map((k) => ({ lr: 0.01 * (k + 1), momentum: 0.8 + 0.02 * k, beta1: 0.8 + 0.02 * k, beta2: 0.999, eps: 1e-8, nesterov: k % 2 === 0, weightDecay: 1e-3 * k }));
      const control = Tensor.fromHost(small, [0.5, 0, 0, 1], [4], 'f32', 'other');
      const rows = sizes.map((n, r) => {
        const data = (seed: number) => randomData(n, 1000 * r + seed);
        const host = { param: Float64Array.from(data(1)), grad: Float64Array.from(data(2)), state: [new Float64Array(n), new Float64Array(n)] };
        const gpu = (a: Float64Array, c: 'params' | 'grads' | 'optimizer') => Tensor.fromHost(small, Float32Array.from(a), [n], 'f32', c);
        const state = (kind === 'sgd' ? host.state.slice(0, 1) : host.state).map((a) => gpu(a, 'optimizer'));
        return { host, h: hypers[r % 6], t: { param: gpu(host.param, 'params'), grad: gpu(host.grad, 'grads'), state } };
      });
      const segments = new Set(rows.map((r) => r.t.param.storage.allocation.segment));
      expect(segments.size).toBeGreaterThan(1);
      if (kind === 'sgd') sgdUpdateMany(rows.map((r) => ({ ...r.t, h: r.h })), control);
      else adamwUpdateMany(rows.map((r) => ({ ...r.t, h: r.h })), control);
      for (const r of rows) {
        const [a, b] = r.host.state;
        if (kind === 'sgd') sgdUpdateCpu(r.host.param, r.host.grad, a, 0.5, r.h);
        else adamwUpdateCpu(r.host.param, r.host.grad, a, b, 0.5, { ...r.h, step: 1 });
        expectClose(await r.t.param.read(), r.host.param, 1e-5, 1e-6);
        expectClose(await r.t.state[0].read(), a, 1e-5, 1e-6);
      }
      for (const r of rows) for (const t of [r.t.param, r.t.grad, ...r.t.state]) t.dispose();
      control.dispose();
    }
    expect(small.stats().liveBytes).toBe(0);
    small.destroy();
  });
});
