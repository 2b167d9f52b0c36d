import { pathToFileURL } from 'node:url';
import type { DType } from '../../gpu/dtype.js';
import { Engine } from '../../gpu/engine.js';
import { Tensor } from '../../gpu/tensor.js';
import { f16BitsToF32, f32ToF16Bits } from '../../io/half.js';
import { hostTensor } from '../host-tensor.js';
import { matmul, matmulPath, SIMT_VARIANTS, SUBGROUP_VARIANTS, type MatmulPath } from '../matmul.js';
import { matmulCpu } from '../matmul.cpu.js';
import { benchData, medianMs } from './timing.js';

export interface MatmulBenchCase {
  m: number;
  n: number;
  k: number;
  dtype: DType;
  path: MatmulPath;
  reps: number;
  /** Tile configuration (see MatmulOptions.variant); default: matmul's choice. */
  variant?: string;
  /** Default f32. */
  outDtype?: DType;
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface MatmulBenchResult {
  ms: number;
  tflops: number;
  /** Largest |error| / sum_k |a b| over 2000 sampled outputs against float64 on the host. */
  maxRelErr: number;
}

const round = (x: Float32Array, dtype: DType) => (dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(x)) : x);

/** Times C = op(A) op(B) (median per launch) and checks 2000 sampled outputs in float64. */
export async function benchMatmul(engine: Engine, c: MatmulBenchCase): Promise<MatmulBenchResult> {
  const shapeA = c.transposeA ? [c.k, c.m] : [c.m, c.k];
  const shapeB = c.transposeB ? [c.n, c.k] : [c.k, c.n];
  const ha = round(benchData(c.m * c.k, 1), c.dtype);
  const hb = round(benchData(c.k * c.n, 2), c.dtype);
  const a = Tensor.fromHost(engine, ha, shapeA, c.dtype, 'input');
  const b = Tensor.fromHost(engine, hb, shapeB, c.dtype, 'input');
  const out = Tensor.empty(engine, [c.m, c.n], c.outDtype ?? 'f32', 'activations');
  const A = (i: number, k: number) => (c.transposeA ? ha[k * c.m + i] : ha[i * c.k + k]);
  const B = (k: number, j: number) => (c.transposeB ? hb[j * c.k + k] : hb[k * c.n + j]);
  try {
    const options = { out, path: c.path, variant: c.variant, transposeA: c.transposeA, transposeB: c.transposeB };
    const ms = await medianMs(engine, () => matmul(a, b, options), c.reps);
    const got = await out.read();
    let maxRelErr = 0;
    for (let s = 0; s < 2000; s++) {
      const i = (s * 7919) % c.m;
      const j = (s * 104729 + (s >> 3)) % c.n;
      let ref = 0;
      let mag = 0;
      for (let k = 0; k < c.k; k++) {
        const p = A(i, k) * B(k, j);
        ref += p;
        mag += Math.abs(p);
      }
      const err = Math.abs(got[i * c.n + j] - ref) / Math.max(mag, 1e-30);
      maxRelErr = Math.max(maxRelErr, Number.isNaN(err) ? Infinity : err);
    }
    return { ms, tflops: (2 * c.m * c.n * c.k) / ms / 1e9, maxRelErr };
  } finally {
    for (const t of [a, b, out]) t.dispose();
  }
}

export interface MatmulCheck {
  name: string;
  path: MatmulPath;
  maxRelErr: number;
  ok: boolean;
  /** Why the case could not run (e.g. a shader the device rejected). */
  error?: string;
}

interface CheckCase {
  a: number[];
  b: number[];
  ta?: boolean;
  tb?: boolean;
  bias?: boolean;
  beta?: number;
  out: DType;
  /** Operands as windows of wider rows (strided views with an offset). */
  sliced?: boolean;
}

const CHECK_CASES: CheckCase[] = [
  { a: [130, 72], b: [72, 200], out: 'f32' },
  { a: [2, 130, 40], b: [40, 72], out: 'f32' },
  { a: [33, 37], b: [30, 33], ta: true, tb: true, out: 'f16', bias: true, beta: -1 },
  { a: [64, 200], b: [200, 96], out: 'f32', sliced: true, bias: true },
  { a: [256, 130], b: [256, 190], ta: true, out: 'f16' },
  { a: [260, 256], b: [136, 256], tb: true, out: 'f32', beta: 0.5 },
];

/** One case against the full float64 reference; errors (e.g. a shader the device rejects) become a failed check. */
async function checkCase(engine: Engine, path: MatmulPath, dtype: DType, c: CheckCase, seed: number, variant?: string): Promise<MatmulCheck> {
  const name = `${dtype}->${c.out} A[${c.a}]${c.ta ? 'T' : ''} B[${c.b}]${c.tb ? 'T' : ''}${c.bias ? ' bias' : ''}${c.beta ? ' beta' : ''}${c.sliced ? ' sliced' : ''}${variant ? ` ${variant}` : ''}`;
  const owned: Tensor[] = [];
  const upload = (shape: number[], data: Float32Array) => {
    if (!c.sliced) return Tensor.fromHost(engine, data, shape, dtype, 'input');
    const cols = shape[shape.length - 1];
    const host = new Float32Array((data.length / cols) * (cols + 4)).fill(1000);
    for (let r = 0; r < data.length / cols; r++) host.set(data.subarray(r * cols, (r + 1) * cols), r * (cols + 4) + 4);
    const base = Tensor.fromHost(engine, host, [...shape.slice(0, -1), cols + 4], dtype, 'input');
    const view = base.slice(-1, 4, 4 + cols);
    base.dispose();
    return view;
  };
  try {
    const ha = round(benchData(c.a.reduce((x, y) => x * y), seed), dtype);
    const hb = round(benchData(c.b.reduce((x, y) => x * y), seed + 1), dtype);
    const n = c.tb ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
    const k = c.ta ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
    const hbias = benchData(n, seed + 2);
    const a = upload(c.a, ha);
    owned.push(a);
    const b = upload(c.b, hb);
    owned.push(b);
    const bias = c.bias ? Tensor.fromHost(engine, hbias, [n], 'f32', 'input') : undefined;
    if (bias) owned.push(bias);
    const m = c.ta ? c.a[c.a.length - 1] : c.a[c.a.length - 2];
    const batch = Math.max(c.a.length === 3 ? c.a[0] : 1, c.b.length === 3 ? c.b[0] : 1);
    const shape = c.a.length === 3 || c.b.length === 3 ? [batch, m, n] : [m, n];
    const prior = round(benchData(shape.reduce((x, y) => x * y), seed + 3), c.out);
    const out = Tensor.fromHost(engine, c.beta ? prior : new Float32Array(prior.length).fill(NaN), shape, c.out, 'activations');
    owned.push(out);
    const alpha = c.beta ? 1.5 : 1;
    matmul(a, b, { transposeA: c.ta, transposeB: c.tb, bias, out, alpha, beta: c.beta, path, variant });
    const got = await out.read();
    const ref = matmulCpu(hostTensor(c.a, ha), hostTensor(c.b, hb), {
      transposeA: c.ta, transposeB: c.tb, bias: c.bias ? hbias : undefined, alpha, beta: c.beta, c: hostTensor(shape, prior),
    });
    let maxRelErr = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const err = Math.abs(got[i] - ref.data[i]) / Math.max(1, Math.abs(ref.data[i]));
      maxRelErr = Math.max(maxRelErr, Number.isNaN(err) ? Infinity : err);
    }
    const limit = c.out === 'f16' ? 2e-3 : 1e-6 * Math.max(8, k);
    return { name, path, maxRelErr, ok: maxRelErr <= limit };
  } catch (error) {
    const message = (error as Error).message;
    // A tile that does not fit this device's workgroup memory is skipped, not failed.
    const skipped = /bytes of workgroup memory/.test(message);
    return { name, path, maxRelErr: NaN, ok: skipped, error: skipped ? `skipped: ${message}` : message };
  } finally {
    for (const t of owned) t.dispose();
  }
}

/**
 * Full comparison with the float64 CPU reference on small awkward problems, for every path
 * the device has: edges, transposes, strided views, batch broadcast, bias, alpha/beta and
 * f16 output; the first case runs under every tile configuration. The subgroup-matrix path
 * can only be verified this way (CI has no tensor cores).
 */
export async function verifyMatmulOnDevice(engine: Engine): Promise<MatmulCheck[]> {
  const paths: MatmulPath[] = matmulPath(engine, 'f16', 'f16') === 'subgroup-matrix' ? ['simt', 'subgroup-matrix'] : ['simt'];
  const dtypes: DType[] = engine.features.shaderF16 ? ['f32', 'f16'] : ['f32'];
  const results: MatmulCheck[] = [];
  for (const path of paths) {
    const variants = path === 'subgroup-matrix' ? [undefined, ...SUBGROUP_VARIANTS] : [undefined, ...SIMT_VARIANTS];
    for (const dtype of path === 'subgroup-matrix' ? ['f16' as const] : dtypes) {
      for (const [i, c] of CHECK_CASES.entries()) {
        for (const variant of i === 0 ? variants : [undefined]) results.push(await checkCase(engine, path, dtype, c, 10 * (i + 1), variant));
      }
    }
  }
  return results;
}

export interface MatmulSweepRow extends MatmulBenchResult {
  dtype: DType;
  path: MatmulPath;
  variant: string;
  layout: string;
  outDtype: DType;
}

/** Times every tile configuration at size^3 (the numbers that choose the defaults), plus the backward-pass layouts. */
export async function sweepMatmul(engine: Engine, size = 4096, reps = 10): Promise<MatmulSweepRow[]> {
  const rows: MatmulSweepRow[] = [];
  const run = async (dtype: DType, path: MatmulPath, variant: string | undefined, layout = 'NN', outDtype: DType = 'f32') => {
    const transposeA = layout[0] === 'T';
    const transposeB = layout[1] === 'T';
    try {
      const r = await benchMatmul(engine, { m: size, n: size, k: size, dtype, path, reps, variant, outDtype, transposeA, transposeB });
      rows.push({ ...r, dtype, path, variant: variant ?? 'default', layout, outDtype });
    } catch (error) {
      rows.push({ ms: NaN, tflops: NaN, maxRelErr: NaN, dtype, path, variant: `${variant ?? 'default'} (${(error as Error).message})`, layout, outDtype });
    }
  };
  const simt = [...SIMT_VARIANTS, '128x128x16'];
  for (const v of simt) for (const b of ['/1', '/2']) await run('f32', 'simt', v + b);
  for (const layout of ['NN', 'TN', 'NT']) await run('f32', 'simt', undefined, layout);
  if (engine.features.shaderF16) await run('f16', 'simt', undefined);
  if (matmulPath(engine, 'f16', 'f16') === 'subgroup-matrix') {
    for (const v of SUBGROUP_VARIANTS) for (const b of ['/1', '/2']) await run('f16', 'subgroup-matrix', v + b);
    for (const layout of ['NN', 'TN', 'NT']) await run('f16', 'subgroup-matrix', undefined, layout);
    await run('f16', 'subgroup-matrix', undefined, 'NN', 'f16');
  }
  return rows;
}

/** `node dist/src/kernels/bench/matmul-bench.js [size] [reps]`: device checks, then the sweep; JSON to $OUT/matmul.json when set. */
async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? 4096);
  const reps = Number(process.argv[3] ?? 10);
  const engine = await Engine.open();
  const info = { adapter: engine.gpu!.adapter, features: engine.features, limits: engine.gpu!.limits };
  console.log(JSON.stringify(info));
  const checks = await verifyMatmulOnDevice(engine);
  for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.path.padEnd(15)} ${c.name.padEnd(60)} ${c.maxRelErr.toExponential(2)}${c.error ? ` ${c.error}` : ''}`);
  const sweep = await sweepMatmul(engine, size, reps);
  for (const r of sweep) {
    console.log(`${r.path.padEnd(15)} ${r.dtype}->${r.outDtype} ${r.layout} ${r.variant.padEnd(22)} ${r.ms.toFixed(3).padStart(9)} ms ${r.tflops.toFixed(1).padStart(7)} TFLOP/s  err ${r.maxRelErr.toExponential(2)}`);
  }
  if (process.env.OUT) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${process.env.OUT}/matmul.json`, JSON.stringify({ info, checks, sweep }, null, 2));
  }
  engine.destroy();
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
