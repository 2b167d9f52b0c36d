import { linearIndex, multiIndex, type HostTensor } from './host-tensor.js';

/** torch.gather in float64; out-of-range indices give `missing` (the GPU's missingValue). */
export function gatherCpu(x: HostTensor, axis: number, index: HostTensor, missing = NaN): HostTensor {
  const out = new Float64Array(index.data.length);
  for (let i = 0; i < out.length; i++) {
    const idx = multiIndex(index.shape, i);
    const j = index.data[i];
    out[i] = j < 0 || j >= x.shape[axis] ? missing : x.data[linearIndex(x.shape, idx.map((v, k) => (k === axis ? j : v)))];
  }
  return { shape: [...index.shape], data: out };
}

/** torch.index_select in float64 with the same out-of-range rule. */
export function indexSelectCpu(x: HostTensor, axis: number, index: ArrayLike<number>, missing = NaN): HostTensor {
  const shape = x.shape.map((d, k) => (k === axis ? index.length : d));
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    const idx = multiIndex(shape, i);
    const j = index[idx[axis]];
    out[i] = j < 0 || j >= x.shape[axis] ? missing : x.data[linearIndex(x.shape, idx.map((v, k) => (k === axis ? j : v)))];
  }
  return { shape, data: out };
}
