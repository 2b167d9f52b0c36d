import { linearIndex, multiIndex, type HostTensor } from './host-tensor.js';

/** Softmax / log-softmax along `axis` in float64. */
export function softmaxCpu(x: HostTensor, axis: number, log = false): HostTensor {
  const out = new Float64Array(x.data.length);
  const len = x.shape[axis];
  for (let i = 0; i < x.data.length; i++) {
    const idx = multiIndex(x.shape, i);
    if (idx[axis] !== 0) continue;
    const at = (j: number) => linearIndex(x.shape, idx.map((v, k) => (k === axis ? j : v)));
    let m = -Infinity;
    for (let j = 0; j < len; j++) m = Math.max(m, x.data[at(j)]);
    let z = 0;
    for (let j = 0; j < len; j++) z += Math.exp(x.data[at(j)] - m);
    for (let j = 0; j < len; j++) out[at(j)] = log ? x.data[at(j)] - m - Math.log(z) : Math.exp(x.data[at(j)] - m) / z;
  }
  return { shape: [...x.shape], data: out };
}
