import type { Category } from '../gpu/arena.js';
import type { DType } from '../gpu/dtype.js';
import { registerCastKernel, Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl } from './launch.js';
import { STRIDED_WGSL, stridedParams } from './strided.js';

const WG = 256;

/**
 * dst[...] = src[...] for any two views of one shape (src may broadcast), converting
 * the dtype on the way: strided copy, permute copy, cast and broadcast in one kernel.
 */
export function copyInto(src: Tensor, dst: Tensor): void {
  const engine = dst.engine;
  const key = `copy:${src.dtype}->${dst.dtype}`;
  launch(
    engine,
    {
      key,
      name: key,
      build: () => /* wgsl */ `${enables(src.dtype, dst.dtype)}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
@group(0) @binding(1) var<storage, read_write> dst: array<${dst.dtype}>;
@group(0) @binding(2) var<storage, read_write> src: array<${src.dtype}>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let o = offsetsOf(i);
  dst[o.x] = ${dst.dtype}(src[o.y]);
}`,
    },
    [dst, src],
    stridedParams(dst.shape, [dst, src]),
    grid1d(engine, dst.size, WG),
  );
}

/** A new contiguous tensor with the values of `src`, optionally cast to `dtype`. */
export function copy(src: Tensor, category: Category, dtype: DType = src.dtype): Tensor {
  const out = Tensor.empty(src.engine, src.shape, dtype, category);
  copyInto(src, out);
  return out;
}

/** `t` itself (a new reference) when contiguous, else a contiguous copy. */
export function contiguous(t: Tensor, category: Category): Tensor {
  return t.isContiguous() ? t.view(t.shape, t.strides, t.offset) : copy(t, category);
}

/** Sets every element of a view to `value`. */
export function fill(dst: Tensor, value: number): void {
  const engine = dst.engine;
  const key = `fill:${dst.dtype}`;
  launch(
    engine,
    {
      key,
      name: key,
      build: () => /* wgsl */ `${enables(dst.dtype)}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
@group(0) @binding(1) var<storage, read_write> dst: array<${dst.dtype}>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  dst[offsetsOf(i).x] = ${dst.dtype}(P.scalars.x);
}`,
    },
    [dst],
    stridedParams(dst.shape, [dst], [value]),
    grid1d(engine, dst.size, WG),
  );
}

registerCastKernel(copyInto);
