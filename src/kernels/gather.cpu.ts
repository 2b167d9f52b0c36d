import { linearIndex, multiIndex, type HostTensor } from './host-tensor.js';

/** torch.gather in float64; out-of-range indices give NaN as the GPU kernel does. */
export function gatherCpu(x: HostTensor, axis: number, index: HostTensor): HostTensor {
  const out = new Float64Array(index.data.length);
  for (let i = 0; i < out.length; i++) {
    const idx = multiIndex(index.shape, i);
    const j = index.data[i];
    out[i] = j < 0 || j >= x.shape[axis] ? NaN : x.data[linearIndex(x.shape, idx.map((v, k) => (k === axis ? j : v)))];
  }
  return { shape: [...index.shape], data: out };
}
