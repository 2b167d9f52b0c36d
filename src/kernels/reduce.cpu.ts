import { hostTensor, linearIndex, multiIndex, type HostTensor } from './host-tensor.js';

/** Reduces over `axes` in float64 with `f` over the values of each group, in row-major order (keepDims false). */
export function reduceCpu(x: HostTensor, axes: number[], f: (values: number[]) => number): HostTensor {
  const kept = x.shape.map((_, a) => a).filter((a) => !axes.includes(a));
  const outShape = kept.map((a) => x.shape[a]);
  const groups: number[][] = Array.from({ length: outShape.reduce((s, d) => s * d, 1) }, () => []);
  for (let i = 0; i < x.data.length; i++) {
    const idx = multiIndex(x.shape, i);
    groups[linearIndex(outShape, kept.map((a) => idx[a]))].push(x.data[i]);
  }
  return hostTensor(outShape, groups.map(f));
}

/** Index of the best value by `better`; ties keep the first index. */
const argBest = (v: number[], better: (a: number, b: number) => boolean) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (better(v[i], v[best])) best = i;
  return best;
};

export const SUM = (v: number[]) => v.reduce((a, b) => a + b, 0);
export const MEAN = (v: number[]) => SUM(v) / v.length;
export const ARGMAX = (v: number[]) => argBest(v, (a, b) => a > b);
export const ARGMIN = (v: number[]) => argBest(v, (a, b) => a < b);
export const MAX = (v: number[]) => v[ARGMAX(v)];
export const MIN = (v: number[]) => v[ARGMIN(v)];
/** Biased variance (divides by the count), two-pass in float64. */
export const VARIANCE = (v: number[]) => {
  const m = MEAN(v);
  return MEAN(v.map((x) => (x - m) ** 2));
};
