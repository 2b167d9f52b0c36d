import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import type { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { axpby, binary, clamp, unary, where, type BinaryOp, type UnaryOp } from '../../src/kernels/elementwise.js';
import { BINARY_CPU, mapCpu, UNARY_CPU } from '../../src/kernels/elementwise.cpu.js';
import { hostTensor } from '../../src/kernels/host-tensor.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';

const UNARY_OPS: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'sigmoid', 'silu', 'relu', 'abs', 'square'];
const BINARY_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];
const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];

describe('elementwise', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());
  const tol = (d: DType) => (d === 'f16' ? 2e-3 : 2e-6);

  it('unary ops match the CPU on every layout and dtype (positive inputs for log/sqrt)', async () => {
    engine = await testEngine();
    const shape = [3, 5, 7];
    for (const dtype of floatDtypes(engine)) {
      for (const op of UNARY_OPS) {
        const layout = LAYOUTS[UNARY_OPS.indexOf(op) % 3];
        const positive = op === 'log' || op === 'sqrt';
        const data = asStored(randomData(105, 3, positive ? 0.1 : -4, 4), dtype);
        const x = tensorWithLayout(engine, data, shape, dtype, layout);
        const y = unary(op, x);
        expectClose(await y.read(), asStored(Float32Array.from(mapCpu(UNARY_CPU[op], [hostTensor(shape, data)]).data), dtype), tol(dtype), tol(dtype));
        x.dispose();
        y.dispose();
      }
    }
  });

  it('sigmoid and silu stay finite for large magnitudes', async () => {
    engine = await testEngine();
    const x = Tensor.fromHost(engine, [-1000, -90, 90, 1000], [4], 'f32', 'other');
    const s = unary('sigmoid', x);
    const got = await s.read();
    expect(Array.from(got).every(Number.isFinite)).toBe(true);
    expect(got[0]).toBe(0);
    expect(got[1]).toBeLessThan(1e-30); // may flush to zero
    expect([got[2], got[3]]).toEqual([1, 1]);
    const sq = binary('mul', x, x);
    expect(Array.from(await sq.read())).toEqual([1e6, 8100, 8100, 1e6]);
    sq.dispose();
    x.dispose();
    s.dispose();
  });

  it('binary ops broadcast [N,H,W,C] with [C], [N,1,1,C] and scalars', async () => {
    engine = await testEngine();
    const big = [2, 3, 4, 5];
    for (const dtype of floatDtypes(engine)) {
      for (const [k, op] of BINARY_OPS.entries()) {
        const small = k % 2 === 0 ? [5] : [2, 1, 1, 5];
        const ad = asStored(randomData(120, k, 0.2, 2), dtype);
        const bd = asStored(randomData(small.reduce((a, b) => a * b), k + 50, 0.2, 2), dtype);
        // Equal values somewhere so that eq/le/ge see ties.
        ad[0] = bd[0];
        const a = tensorWithLayout(engine, ad, big, dtype, LAYOUTS[k % 3]);
        const b = Tensor.fromHost(engine, bd, small, dtype, 'other');
        const y = binary(op, a, b);
        const ref = mapCpu(BINARY_CPU[op], [hostTensor(big, ad), hostTensor(small, bd)]);
        expectClose(await y.read(), asStored(Float32Array.from(ref.data), dtype), tol(dtype) * 4, tol(dtype) * 4);
        const z = binary(op, 1.5, a);
        expectClose(await z.read(), asStored(Float32Array.from(mapCpu(BINARY_CPU[op], [1.5, hostTensor(big, ad)]).data), dtype), tol(dtype) * 4, tol(dtype) * 4);
        for (const t of [a, b, y, z]) t.dispose();
      }
    }
  });

  it('pow follows torch for negative bases with integer exponents', async () => {
    engine = await testEngine();
    const a = Tensor.fromHost(engine, [-2, -2, 3, -1.5], [4], 'f32', 'other');
    const b = Tensor.fromHost(engine, [3, 2, 0.5, 2], [4], 'f32', 'other');
    const y = binary('pow', a, b);
    expectClose(await y.read(), [-8, 4, Math.sqrt(3), 2.25], 1e-6);
    for (const t of [a, b, y]) t.dispose();
  });

  it('where, clamp, axpby, and in-place output into a view', async () => {
    engine = await testEngine();
    const cd = randomData(24, 1).map((v) => (v > 0 ? 1 : 0));
    const ad = randomData(24, 2);
    const c = Tensor.fromHost(engine, cd, [4, 6], 'f32', 'other');
    const a = Tensor.fromHost(engine, ad, [4, 6], 'f32', 'other');
    const w = where(c, a, -7);
    expect(Array.from(await w.read())).toEqual(Array.from(ad, (v, i) => (cd[i] ? Math.fround(v) : -7)));
    const cl = clamp(a, -0.25, 0.5);
    expectClose(await cl.read(), Array.from(ad, (v) => Math.min(Math.max(v, -0.25), 0.5)), 0);
    axpby(2, a, -1, cl, { out: a });
    expectClose(await a.read(), Array.from(ad, (v) => 2 * v - Math.min(Math.max(v, -0.25), 0.5)), 1e-6);
    for (const t of [c, a, w, cl]) t.dispose();
    expect(engine.stats().liveBytes).toBe(0);
  });
});
