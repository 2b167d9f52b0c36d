import type { Category } from '../gpu/arena.js';
import { isFloat, type DType } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

export interface GatherOptions {
  /** Write into this view (same dtype as x, or any float dtype for a float x). */
  out?: Tensor;
  category?: Category;
}

/**
 * What an out-of-range index (< 0 or >= x.shape[axis]) yields: NaN for float data, -1
 * (all bits set) for integer data. Chosen over clamping so that a bad index shows up
 * downstream instead of silently reading a neighbour; never reads outside x.
 */
export function missingValue(dtype: DType): number {
  return isFloat(dtype) ? NaN : dtype === 'i32' ? -1 : 0xffffffff;
}

/** WGSL expression of missingValue (NaN built at run time: a constant NaN is a shader error). */
function missingWgsl(dtype: DType): string {
  if (isFloat(dtype)) return `${dtype}(bitcast<f32>(0x7fc00000u | (P.n & 0u)))`;
  return dtype === 'i32' ? '-1i' : '0xffffffffu';
}

/**
 * torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis`, out shaped
 * like `index` (i32, same rank as x, no larger than x off the axis). Any views. x is
 * addressed through a view of index's shape whose stride along the axis is 0, plus
 * index * (x's axis stride); indices outside [0, size) give `missingValue`.
 */
export function gather(x: Tensor, axis: number, index: Tensor, options: GatherOptions = {}): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new Error(`gather: axis ${axis} out of range for [${x.shape}]`);
  if (index.dtype !== 'i32') throw new Error(`gather: index must be i32, got ${index.dtype}`);
  if (index.rank !== x.rank) throw new Error(`gather: index [${index.shape}] and input [${x.shape}] differ in rank`);
  if (index.shape.some((d, k) => k !== a && d > x.shape[k])) throw new Error(`gather: index [${index.shape}] exceeds input [${x.shape}] off axis ${a}`);
  const out = options.out ?? Tensor.empty(x.engine, index.shape, x.dtype, options.category ?? 'activations');
  if (options.out) {
    if (out.shape.join() !== index.shape.join()) throw new Error(`gather: out has shape [${out.shape}], expected [${index.shape}]`);
    if (out.dtype !== x.dtype && !(isFloat(out.dtype) && isFloat(x.dtype))) throw new Error(`gather: cannot write ${x.dtype} values into a ${out.dtype} out`);
  }
  if (out.size === 0) return out;
  const xv = x.view(index.shape, x.strides.map((s, k) => (k === a ? 0 : s)), x.offset);
  const key = `gather:${x.dtype}->${out.dtype}`;
  launch(
    x.engine,
    {
      key,
      name: 'gather',
      build: () => /* wgsl */ `${enables(x.dtype, out.dtype)}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
@group(0) @binding(1) var<storage, read_write> Y: array<${out.dtype}>;
@group(0) @binding(2) var<storage, read_write> X: array<${x.dtype}>;
@group(0) @binding(3) var<storage, read_write> I: array<i32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.n) { return; }
  let o = offsetsOf(i);
  let j = I[o.z];
  let size = bitcast<u32>(P.scalars.y);
  let inside = j >= 0 && u32(j) < size;
  let v = X[o.y + min(u32(max(j, 0)), size - 1u) * bitcast<u32>(P.scalars.x)]; // clamped: never out of x
  Y[o.x] = select(${missingWgsl(out.dtype)}, ${out.dtype}(v), inside);
}`,
    },
    [out, x, index],
    stridedParams(index.shape, [out, xv, index], [u32Bits(x.strides[a]), u32Bits(x.shape[a])]),
    grid1d(x.engine, out.size, WG),
  );
  xv.dispose();
  return out;
}

/**
 * torch.index_select: the positions `index` (1-D i32, any stride) along `axis`, so
 * out.shape[axis] = index length. A gather whose index is broadcast (stride 0) over the
 * other axes; out-of-range indices give `missingValue`.
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor, options: GatherOptions = {}): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new Error(`indexSelect: axis ${axis} out of range for [${x.shape}]`);
  if (index.rank !== 1 || index.dtype !== 'i32') throw new Error(`indexSelect: index must be 1-D i32, got ${index.dtype} [${index.shape}]`);
  const shape = x.shape.map((d, k) => (k === a ? index.shape[0] : d));
  const broadcast = index.view(shape, shape.map((_, k) => (k === a ? index.strides[0] : 0)), index.offset);
  try {
    return gather(x, a, broadcast, options);
  } finally {
    broadcast.dispose();
  }
}
