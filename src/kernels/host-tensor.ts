import { contiguousStrides, sizeOf } from '../gpu/tensor.js';

/**
 * A contiguous row-major tensor on the host: what the CPU references of the kernels
 * take and return. Float64 data lets references (and gradient checks) run in double.
 */
export interface HostTensor {
  data: Float64Array | Float32Array;
  shape: number[];
}

export function hostTensor(shape: readonly number[], data?: ArrayLike<number>): HostTensor {
  const n = sizeOf(shape);
  if (data && data.length !== n) throw new Error(`${data.length} values for shape [${shape}]`);
  return { shape: [...shape], data: data ? Float64Array.from(data) : new Float64Array(n) };
}

/** Linear index of a multi-index in a contiguous tensor of `shape`. */
export function linearIndex(shape: readonly number[], index: readonly number[]): number {
  let at = 0;
  for (let k = 0; k < shape.length; k++) at = at * shape[k] + index[k];
  return at;
}

/** Multi-index of a linear index in a contiguous tensor of `shape`. */
export function multiIndex(shape: readonly number[], linear: number): number[] {
  const index = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    index[k] = linear % shape[k];
    linear = Math.floor(linear / shape[k]);
  }
  return index;
}

export { contiguousStrides, sizeOf };
