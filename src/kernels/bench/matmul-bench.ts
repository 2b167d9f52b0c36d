import type { DType } from '../../gpu/dtype.js';
import type { Engine } from '../../gpu/engine.js';
import { Tensor } from '../../gpu/tensor.js';
import { f16BitsToF32, f32ToF16Bits } from '../../io/half.js';
import { matmul, type MatmulPath } from '../matmul.js';
import { benchData, medianMs } from './timing.js';

export interface MatmulBenchCase {
  m: number;
  n: number;
  k: number;
  dtype: DType;
  path: MatmulPath;
  reps: number;
}

export interface MatmulBenchResult {
  ms: number;
  tflops: number;
  /** Largest relative error over sampled outputs against float64 on the host. */
  maxRelErr: number;
}

/** Times C = A B (row-major, f32 output) and checks 2000 sampled outputs. */
export async function benchMatmul(engine: Engine, c: MatmulBenchCase): Promise<MatmulBenchResult> {
  const round = (x: Float32Array) => (c.dtype === 'f16' ? f16BitsToF32(f32ToF16Bits(x)) : x);
  const ha = round(benchData(c.m * c.k, 1));
  const hb = round(benchData(c.k * c.n, 2));
  const a = Tensor.fromHost(engine, ha, [c.m, c.k], c.dtype, 'input');
  const b = Tensor.fromHost(engine, hb, [c.k, c.n], c.dtype, 'input');
  const out = Tensor.empty(engine, [c.m, c.n], 'f32', 'activations');
  try {
    const ms = await medianMs(engine, () => matmul(a, b, { out, path: c.path }), c.reps);
    const got = await out.read();
    let maxRelErr = 0;
    for (let s = 0; s < 2000; s++) {
      const i = (s * 7919) % c.m;
      const j = (s * 104729) % c.n;
      let ref = 0;
      let mag = 0;
      for (let k = 0; k < c.k; k++) {
        ref += ha[i * c.k + k] * hb[k * c.n + j];
        mag += Math.abs(ha[i * c.k + k] * hb[k * c.n + j]);
      }
      maxRelErr = Math.max(maxRelErr, Math.abs(got[i * c.n + j] - ref) / Math.max(mag, 1e-30));
    }
    return { ms, tflops: (2 * c.m * c.n * c.k) / ms / 1e9, maxRelErr };
  } finally {
    for (const t of [a, b, out]) t.dispose();
  }
}
