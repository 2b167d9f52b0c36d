import { afterAll, describe, expect, it } from 'vitest';
import type { DType } from '../../src/gpu/dtype.js';
import { Engine } from '../../src/gpu/engine.js';
import { Tensor } from '../../src/gpu/tensor.js';
import { add, axpby, binary, clamp, elementwise, unary, where, type BinaryOp, type UnaryOp } from '../../src/kernels/elementwise.js';
import { AXPBY_CPU, BINARY_CPU, CLAMP_CPU, mapCpu, UNARY_CPU, WHERE_CPU } from '../../src/kernels/elementwise.cpu.js';
import { hostTensor, type HostTensor } from '../../src/kernels/host-tensor.js';
import { asStored, expectClose, floatDtypes, randomData, tensorWithLayout, testEngine, type Layout } from '../helpers/gpu.js';
import { poisoned } from '../helpers/k1-poison.js';

const UNARY_OPS = Object.keys(UNARY_CPU) as UnaryOp[];
const BINARY_OPS = Object.keys(BINARY_CPU) as BinaryOp[];
/** 'contiguous' on an odd size takes the dense path, on a multiple of 4 the vec4 path. */
const LAYOUTS: Layout[] = ['contiguous', 'sliced', 'permuted'];
const POSITIVE: UnaryOp[] = ['log', 'sqrt', 'rsqrt'];

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
/** Tolerance suited to the output dtype (f16 outputs round to 11 bits). */
const tol = (d: DType) => (d === 'f16' ? 1e-3 : 2e-6);
const expected = (ref: HostTensor, dtype: DType) => asStored(Float32Array.from(ref.data), dtype);

describe('elementwise', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('unary ops match the CPU on every layout and dtype, dense and vec4 paths, into poisoned outputs', async () => {
    engine = await testEngine();
    for (const dtype of floatDtypes(engine)) {
      for (const op of UNARY_OPS) {
        for (const [shape, layout] of [[[3, 5, 7], 'contiguous'], [[4, 3, 6], 'contiguous'], [[3, 5, 7], 'sliced'], [[2, 3, 5, 3], 'permuted']] as [number[], Layout][]) {
          const lo = POSITIVE.includes(op) ? 0.1 : op === 'reciprocal' ? 0.5 : -4;
          const data = asStored(randomData(size(shape), 3 + shape[0], lo, 4), dtype);
          const x = tensorWithLayout(engine, data, shape, dtype, layout);
          const out = poisoned(engine, shape, dtype);
          expect(unary(op, x, { out })).toBe(out);
          const ref = mapCpu(UNARY_CPU[op], [hostTensor(shape, data)]);
          expectClose(await out.read(), expected(ref, dtype), tol(dtype), tol(dtype));
          x.dispose();
          out.dispose();
        }
      }
    }
    expect(engine.stats().liveBytes).toBe(0);
  });

  it('sigmoid and silu never overflow, f32 and f16 (computed in f32)', async () => {
    engine = await testEngine();
    const xs = [-60000, -1000, -90, -20, 0, 20, 90, 1000, 60000];
    for (const dtype of floatDtypes(engine)) {
      const x = Tensor.fromHost(engine, xs, [xs.length], dtype, 'other');
      const s = unary('sigmoid', x);
      const u = unary('silu', x);
      const sig = Array.from(await s.read());
      const silu = Array.from(await u.read());
      expect([...sig, ...silu].every(Number.isFinite)).toBe(true);
      expectClose(sig, asStored(Float32Array.from(xs, (v) => UNARY_CPU.sigmoid(v)), dtype), tol(dtype), 1e-7);
      expectClose(silu, asStored(Float32Array.from(xs, (v) => UNARY_CPU.silu(v)), dtype), tol(dtype), 1e-6);
      for (const t of [x, s, u]) t.dispose();
    }
  });

  it('binary ops broadcast [N,H,W,C] with [C], [1,C] and [N,1,1,C], both orders and scalars, every layout', async () => {
    engine = await testEngine();
    const big = [2, 3, 5, 7];
    const smalls = [[7], [1, 7], [2, 1, 1, 7]];
    for (const dtype of floatDtypes(engine)) {
      for (const [k, op] of BINARY_OPS.entries()) {
        const small = smalls[k % 3];
        const ad = asStored(randomData(size(big), k, 0.2, 2), dtype);
        const bd = asStored(randomData(size(small), k + 50, 0.2, 2), dtype);
        // Exact ties somewhere, so that eq/le/ge see them.
        ad[0] = bd[0];
        ad[7 * 3 + 2] = bd[2];
        const a = tensorWithLayout(engine, ad, big, dtype, LAYOUTS[k % 3]);
        const b = tensorWithLayout(engine, bd, small, dtype, LAYOUTS[(k + 1) % 3]);
        const ha = hostTensor(big, ad);
        const hb = hostTensor(small, bd);
        const cases: [Tensor | number, Tensor | number, HostTensor | number, HostTensor | number][] = [
          [a, b, ha, hb],
          [b, a, hb, ha],
          [a, 1.5, ha, 1.5],
          [0.75, a, 0.75, ha],
        ];
        for (const [x, y, hx, hy] of cases) {
          const out = poisoned(engine, big, dtype);
          binary(op, x, y, { out });
          expectClose(await out.read(), expected(mapCpu(BINARY_CPU[op], [hx, hy]), dtype), tol(dtype) * 2, tol(dtype) * 2);
          out.dispose();
        }
        a.dispose();
        b.dispose();
      }
    }
  });

  it('per-channel vectors over contiguous [N,H,W,C], C a multiple of 4, take the rows path (BatchNorm apply), views at offsets', async () => {
    engine = await testEngine();
    const big = [2, 3, 5, 8];
    const keys: string[] = [];
    const run = engine.run.bind(engine);
    engine.run = (request, ...rest) => (keys.push(request.key), run(request, ...rest));
    try {
      for (const dtype of floatDtypes(engine)) {
        for (const vectorOffset of [4, 2]) {
          const xd = asStored(randomData(size(big), 60, -3, 3), dtype);
          const sd = randomData(8, 61, 0.5, 1.5);
          const td = randomData(8, 62);
          // Both vectors are views into one buffer (as BatchNorm's affine rows are), at the given offset.
          const host = new Float32Array(vectorOffset + 16).fill(1e6);
          host.set(sd, vectorOffset);
          host.set(td, vectorOffset + 8);
          const vectors = Tensor.fromHost(engine, host, [host.length], 'f32', 'other');
          const scale = vectors.slice(0, vectorOffset, vectorOffset + 8);
          const shift = vectors.view([1, 8], [8, 1], vectorOffset + 8);
          const x = Tensor.fromHost(engine, xd, big, dtype, 'other');
          keys.length = 0;
          const y = elementwise('siluf(x0 * x1 + x2)', [x, scale, shift], { outDtype: dtype });
          expect(keys[0]).toMatch(vectorOffset % 4 === 0 ? /^ew:rows:/ : /^ew:strided:/);
          const ref = Float32Array.from(xd, (v, i) => {
            const u = v * sd[i % 8] + td[i % 8];
            return u / (1 + Math.exp(-u));
          });
          expectClose(await y.read(), asStored(ref, dtype), tol(dtype) * 2, tol(dtype) * 2);
          for (const t of [vectors, scale, shift, x, y]) t.dispose();
        }
      }
    } finally {
      engine.run = run;
    }
  });

  it('contiguous views at offsets (vec4 path at 4-aligned offsets, strided otherwise); mixed dtypes promote to f32', async () => {
    engine = await testEngine();
    for (const dtype of floatDtypes(engine)) {
      for (const start of [1, 2]) {
        // Rows start..start+3 of a [6, 4, 5] buffer: contiguous, offset 20*start (4-aligned for start 1? 20, 40: both).
        const ad = asStored(randomData(120, start, -3, 3), dtype);
        const bd = asStored(randomData(120, start + 9, -3, 3), dtype);
        const a = Tensor.fromHost(engine, ad, [6, 4, 5], dtype, 'other');
        const b = Tensor.fromHost(engine, bd, [6, 4, 5], dtype, 'other');
        const av = a.slice(0, start, start + 3);
        const bv = b.slice(0, start + 1, start + 4);
        const out = poisoned(engine, [5, 4, 5], dtype);
        const ov = out.slice(0, 2, 5);
        binary('sub', av, bv, { out: ov });
        const got = await out.read();
        for (let i = 0; i < 100; i++) {
          const want = i < 40 ? Number.NaN : asStored(Float32Array.of(ad[start * 20 + i - 40] - bd[(start + 1) * 20 + i - 40]), dtype)[0];
          if (!(Number.isNaN(want) ? got[i] > 1e30 || Number.isNaN(got[i]) : Math.abs(got[i] - want) <= tol(dtype) * 4)) {
            expect.fail(`${dtype} start ${start} element ${i}: got ${got[i]}, want ${Number.isNaN(want) ? 'poison' : want}`);
          }
        }
        // Offset 2 (not 4-aligned), 8 elements: the strided path.
        const flat = a.reshape([120]);
        const odd = flat.slice(0, 2, 10);
        const y = unary('neg', odd);
        expect(Array.from(await y.read())).toEqual(Array.from(ad.slice(2, 10), (v) => -v));
        for (const t of [a, b, av, bv, out, ov, flat, odd, y]) t.dispose();
      }
    }
    const dtypes = floatDtypes(engine);
    const ad = randomData(240, 1, -3, 3);
    const bd = randomData(240, 2, -3, 3);
    const a = Tensor.fromHost(engine, ad, [4, 6, 10], 'f32', 'other');
    const b = Tensor.fromHost(engine, bd, [4, 6, 10], dtypes[dtypes.length - 1], 'other');
    const y = binary('mul', a, b);
    expect(y.dtype).toBe('f32');
    const hb = asStored(bd, b.dtype);
    expectClose(await y.read(), Float32Array.from(ad, (v, i) => v * hb[i]), 1e-6);
    for (const t of [a, b, y]) t.dispose();
  });

  it('comparisons give float 0/1 by default and a u32 mask on request; where takes either', async () => {
    engine = await testEngine();
    for (const dtype of floatDtypes(engine)) {
      const shape = [3, 4, 5];
      const ad = asStored(randomData(60, 4, -1, 1), dtype);
      const bd = asStored(randomData(5, 5, -1, 1), dtype);
      ad[10] = bd[0];
      const a = tensorWithLayout(engine, ad, shape, dtype, 'permuted');
      const b = Tensor.fromHost(engine, bd, [5], dtype, 'other');
      for (const op of ['lt', 'ge', 'eq'] as BinaryOp[]) {
        const ref = mapCpu(BINARY_CPU[op], [hostTensor(shape, ad), hostTensor([5], bd)]);
        const f = binary(op, a, b);
        expect(f.dtype).toBe(dtype);
        expect(Array.from(await f.read())).toEqual(Array.from(ref.data));
        const m = binary(op, a, b, { outDtype: 'u32' });
        expect(m.dtype).toBe('u32');
        expect(Array.from(await m.read())).toEqual(Array.from(ref.data));
        // where(mask, a, b) with the float mask, the integer mask, scalar and broadcast branches.
        for (const cond of [f, m]) {
          const w = where(cond, a, b);
          expect(w.dtype).toBe(dtype);
          expect(Array.from(await w.read())).toEqual(Array.from(mapCpu(WHERE_CPU, [ref, hostTensor(shape, ad), hostTensor([5], bd)]).data));
          const s = where(cond, -2.5, a);
          expect(Array.from(await s.read())).toEqual(Array.from(mapCpu(WHERE_CPU, [ref, -2.5, hostTensor(shape, ad)]).data));
          w.dispose();
          s.dispose();
        }
        f.dispose();
        m.dispose();
      }
      a.dispose();
      b.dispose();
    }
  });

  it('clamp (scalar and tensor bounds), axpby, pow like torch', async () => {
    engine = await testEngine();
    for (const dtype of floatDtypes(engine)) {
      const shape = [5, 3, 7];
      const xd = asStored(randomData(105, 6, -2, 2), dtype);
      const yd = asStored(randomData(105, 7, -2, 2), dtype);
      const x = tensorWithLayout(engine, xd, shape, dtype, 'sliced');
      const y = tensorWithLayout(engine, yd, shape, dtype, 'permuted');
      const hx = hostTensor(shape, xd);
      const hy = hostTensor(shape, yd);
      const c = clamp(x, -0.5, 0.75);
      expectClose(await c.read(), expected(mapCpu(CLAMP_CPU, [hx, -0.5, 0.75]), dtype), 0, 0);
      const hiData = asStored(randomData(7, 8, 0, 1), dtype);
      const hi = Tensor.fromHost(engine, hiData, [7], dtype, 'other');
      const ct = clamp(x, -0.25, hi);
      expectClose(await ct.read(), expected(mapCpu(CLAMP_CPU, [hx, -0.25, hostTensor([7], hiData)]), dtype), 0, 0);
      const z = axpby(0.9, x, -1.25, y);
      expectClose(await z.read(), expected(mapCpu(AXPBY_CPU, [0.9, hx, -1.25, hy]), dtype), tol(dtype) * 2, tol(dtype) * 2);
      for (const t of [x, y, c, hi, ct, z]) t.dispose();
    }
    const a = Tensor.fromHost(engine, [-2, -2, 3, -1.5, -2, 0, 0, 2], [8], 'f32', 'other');
    const b = Tensor.fromHost(engine, [3, 2, 0.5, 2, 0.5, 0, 2, -1], [8], 'f32', 'other');
    const p = binary('pow', a, b);
    expectClose(await p.read(), [-8, 4, Math.sqrt(3), 2.25, Number.NaN, 1, 0, 0.5], 1e-6);
    for (const t of [a, b, p]) t.dispose();
  });

  it('writes into a channel slice of a concat buffer, reading another slice of it, touching nothing else (rows path where slices are vec4-aligned)', async () => {
    engine = await testEngine();
    const keys: string[] = [];
    const run = engine.run.bind(engine);
    engine.run = (request, ...rest) => (keys.push(request.key), run(request, ...rest));
    try {
      // [N,H,W,C] buffer: slice src holds x, the op writes x + bias into slice dst.
      const cases = [
        { c: 12, src: 0, dst: 5, width: 5, path: 'strided' }, // odd width
        { c: 16, src: 0, dst: 8, width: 8, path: 'rows' }, // pitch 16, offsets 0 and 8
        { c: 20, src: 12, dst: 4, width: 8, path: 'rows' }, // the output before the input in the buffer
        { c: 14, src: 0, dst: 8, width: 4, path: 'strided' }, // pitch 14 is not a multiple of 4
      ];
      for (const dtype of floatDtypes(engine)) {
        for (const k of cases) {
          const shape = [2, 3, 5, k.c];
          const init = asStored(randomData(size(shape), 9, -1, 1), dtype);
          const buffer = Tensor.fromHost(engine, init, shape, dtype, 'other');
          const src = buffer.slice(3, k.src, k.src + k.width);
          const dst = buffer.slice(3, k.dst, k.dst + k.width);
          const biasData = asStored(randomData(k.width, 10), dtype);
          const bias = Tensor.fromHost(engine, biasData, [k.width], dtype, 'other');
          keys.length = 0;
          add(src, bias, { out: dst });
          expect(keys[0]).toMatch(new RegExp(`^ew:${k.path}:`));
          const got = await buffer.read();
          for (let i = 0; i < got.length; i++) {
            const c = i % k.c;
            const inside = c >= k.dst && c < k.dst + k.width;
            const want = inside ? asStored(Float32Array.of(init[i - k.dst + k.src] + biasData[c - k.dst]), dtype)[0] : init[i];
            if (Math.abs(got[i] - want) > tol(dtype) * 2) expect.fail(`${dtype} C ${k.c} element ${i} (channel ${c}): got ${got[i]}, want ${want}`);
          }
          for (const t of [buffer, src, dst, bias]) t.dispose();
        }
      }
    } finally {
      engine.run = run;
    }
  });

  it('runs in place on every path and rejects partial overlaps and bad shapes', async () => {
    engine = await testEngine();
    for (const [shape, layout] of [[[4, 6], 'contiguous'], [[3, 5], 'contiguous'], [[3, 5], 'sliced']] as [number[], Layout][]) {
      const data = randomData(size(shape), 11, -2, 2);
      const x = tensorWithLayout(engine, data, shape, 'f32', layout);
      const y = unary('silu', x, { out: x });
      expect(y).toBe(x);
      expectClose(await x.read(), Float32Array.from(data, UNARY_CPU.silu), 2e-6);
      // x * x: one storage bound once for three operands.
      binary('mul', x, x, { out: x });
      expectClose(await x.read(), Float32Array.from(data, (v) => UNARY_CPU.silu(v) ** 2), 5e-6);
      x.dispose();
    }
    const m = Tensor.fromHost(engine, randomData(16, 12), [4, 4], 'f32', 'other');
    const t = m.permute([1, 0]);
    expect(() => add(t, 1, { out: m })).toThrow(/overlaps the output/);
    const row = m.slice(0, 1, 2);
    expect(() => add(row, m, { out: m })).toThrow(/overlaps the output/);
    const other = Tensor.empty(engine, [4, 3], 'f32', 'other');
    expect(() => add(m, 1, { out: other })).toThrow(/elementwise x0 \+ x1: out has shape \[4,3\]/);
    expect(() => add(m, Tensor.empty(engine, [3], 'f32', 'other'))).toThrow(/do not broadcast/);
    expect(() => add(m, 1, { out: other, outDtype: 'f16' })).toThrow(/outDtype/);
    for (const v of [m, t, row, other]) v.dispose();
  });

  it('is bitwise deterministic and allocates the same in meta mode', async () => {
    engine = await testEngine();
    const shape = [2, 5, 7, 9];
    const x = tensorWithLayout(engine, randomData(size(shape), 13, -5, 5), shape, 'f32', 'permuted');
    const b = Tensor.fromHost(engine, randomData(9, 14), [9], 'f32', 'other');
    const run = async () => {
      const s = unary('silu', x);
      const y = elementwise('x0 * x1 + exp(x0) / (1.0 + x1 * x1)', [s, b]);
      const bits = new Uint32Array(Float32Array.from(await y.read()).buffer);
      s.dispose();
      y.dispose();
      return Array.from(bits);
    };
    expect(await run()).toEqual(await run());
    x.dispose();
    b.dispose();

    const meta = Engine.meta();
    const mx = Tensor.empty(meta, [4, 8, 8, 16], 'f16', 'activations');
    const my = binary('mul', mx, 2, { category: 'workspace' });
    expect(my.shape).toEqual([4, 8, 8, 16]);
    expect(meta.stats().live.workspace).toBeGreaterThanOrEqual(4 * 8 * 8 * 16 * 2);
    mx.dispose();
    my.dispose();
    expect(meta.stats().liveBytes).toBe(0);
  });
});
