import type { ClipOptions } from './grad-norm.js';

/** CPU reference of gradientControl's first three entries, [gradMul, skip, norm], in float64. */
export function gradientControlCpu(grads: readonly ArrayLike<number>[], options: ClipOptions): [number, number, number] {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  const norm = Math.sqrt(sum) / options.lossScale;
  const coef = Math.min(1, options.maxNorm / (norm + 1e-6));
  return [coef / options.lossScale, Number.isFinite(norm) ? 0 : 1, norm];
}
