/** NCHW (PyTorch fixtures) <-> NHWC (ours) on the host. */
export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + k] = data[(b * c + k) * h * w + i];
  return out;
}

export function nhwcToNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(b * c + k) * h * w + i] = data[(b * h * w + i) * c + k];
  return out;
}
