import type { HostTensor } from './host-tensor.js';

/** Calls fn with the element index of position j along `axis` for every row. */
function forEachRow(shape: readonly number[], axis: number, fn: (at: (j: number) => number, len: number) => void): void {
  const len = shape[axis];
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) fn((j) => (o * len + j) * inner + i, len);
}

/** Softmax / log-softmax along `axis` in float64. */
export function softmaxCpu(x: HostTensor, axis: number, log = false): HostTensor {
  const out = new Float64Array(x.data.length);
  forEachRow(x.shape, axis, (at, len) => {
    let m = -Infinity;
    for (let j = 0; j < len; j++) m = Math.max(m, x.data[at(j)]);
    let z = 0;
    for (let j = 0; j < len; j++) z += Math.exp(x.data[at(j)] - m);
    for (let j = 0; j < len; j++) out[at(j)] = log ? x.data[at(j)] - m - Math.log(z) : Math.exp(x.data[at(j)] - m) / z;
  });
  return { shape: [...x.shape], data: out };
}

/** Input gradient of softmax (log-softmax) from its output y and the output gradient dy. */
export function softmaxBackwardCpu(y: HostTensor, dy: HostTensor, axis: number, log = false): HostTensor {
  const out = new Float64Array(y.data.length);
  forEachRow(y.shape, axis, (at, len) => {
    let s = 0;
    for (let j = 0; j < len; j++) s += log ? dy.data[at(j)] : dy.data[at(j)] * y.data[at(j)];
    for (let j = 0; j < len; j++) {
      const [yj, gj] = [y.data[at(j)], dy.data[at(j)]];
      out[at(j)] = log ? gj - Math.exp(yj) * s : yj * (gj - s);
    }
  });
  return { shape: [...y.shape], data: out };
}
