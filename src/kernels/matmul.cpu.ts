import type { HostTensor } from './host-tensor.js';

export interface MatmulCpuOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  bias?: ArrayLike<number>;
  alpha?: number;
  /** With `c`: result = alpha op(A) op(B) + beta c (+ bias). */
  beta?: number;
  c?: HostTensor;
}

/** C[b] = alpha op(A[b]) op(B[b]) + beta C[b] (+ bias) in float64; a batch of 1 (or rank 2) broadcasts. */
export function matmulCpu(a: HostTensor, b: HostTensor, options: MatmulCpuOptions = {}): HostTensor {
  const batched = (t: HostTensor) => (t.shape.length === 3 ? t.shape : [1, ...t.shape]);
  const [ba, ra, ca] = batched(a);
  const [bb, rb, cb] = batched(b);
  const [m, k] = options.transposeA ? [ca, ra] : [ra, ca];
  const n = options.transposeB ? rb : cb;
  const batch = Math.max(ba, bb);
  const alpha = options.alpha ?? 1;
  const beta = options.beta ?? 0;
  const out = new Float64Array(batch * m * n);
  const at = (s: number, i: number, kk: number) => (s % ba) * ra * ca + (options.transposeA ? kk * ca + i : i * ca + kk);
  const bt = (s: number, kk: number, j: number) => (s % bb) * rb * cb + (options.transposeB ? j * cb + kk : kk * cb + j);
  for (let s = 0; s < batch; s++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let kk = 0; kk < k; kk++) acc += a.data[at(s, i, kk)] * b.data[bt(s, kk, j)];
        const o = (s * m + i) * n + j;
        out[o] = alpha * acc + (options.c && beta !== 0 ? beta * options.c.data[o] : 0) + (options.bias ? options.bias[j] : 0);
      }
    }
  }
  const rank3 = a.shape.length === 3 || b.shape.length === 3;
  return { shape: rank3 ? [batch, m, n] : [m, n], data: out };
}
