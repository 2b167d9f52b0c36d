import type { HostTensor } from './host-tensor.js';

/** C[b] = op(A[b]) op(B[b]) (+ bias) in float64; rank-2 operands broadcast over the batch. */
export function matmulCpu(
  a: HostTensor,
  b: HostTensor,
  options: { transposeA?: boolean; transposeB?: boolean; bias?: ArrayLike<number> } = {},
): HostTensor {
  const batched = (t: HostTensor) => (t.shape.length === 3 ? t.shape : [1, ...t.shape]);
  const [ba, ra, ca] = batched(a);
  const [bb, rb, cb] = batched(b);
  const [m, k] = options.transposeA ? [ca, ra] : [ra, ca];
  const n = options.transposeB ? rb : cb;
  const batch = Math.max(ba, bb);
  const out = new Float64Array(batch * m * n);
  const at = (i: number, kk: number, s: number) => (s % ba) * ra * ca + (options.transposeA ? kk * ca + i : i * ca + kk);
  const bt = (kk: number, j: number, s: number) => (s % bb) * rb * cb + (options.transposeB ? j * cb + kk : kk * cb + j);
  for (let s = 0; s < batch; s++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = options.bias ? options.bias[j] : 0;
        for (let kk = 0; kk < k; kk++) acc += a.data[at(i, kk, s)] * b.data[bt(kk, j, s)];
        out[(s * m + i) * n + j] = acc;
      }
    }
  }
  const rank3 = a.shape.length === 3 || b.shape.length === 3;
  return { shape: rank3 ? [batch, m, n] : [m, n], data: out };
}
