import type { Category } from '../gpu/arena.js';
import { Tensor } from '../gpu/tensor.js';
import { enables, grid1d, launch, linearIndexWgsl } from './launch.js';
import { STRIDED_WGSL, stridedParams, u32Bits } from './strided.js';

const WG = 256;

/**
 * torch.gather: out[..., i, ...] = x[..., index[..., i, ...], ...] along `axis`, with
 * out shaped like `index` (i32). x is addressed through a view whose stride along the
 * axis is 0, plus index * (x's axis stride). An index outside [0, size) yields NaN
 * rather than reading a neighbour's memory.
 */
export function gather(x: Tensor, axis: number, index: Tensor, options: { category?: Category } = {}): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (index.dtype !== 'i32') throw new Error('gather: indices must be i32');
  if (index.rank !== x.rank) throw new Error(`gather: index rank ${index.rank} differs from input rank ${x.rank}`);
  index.shape.forEach((d, k) => {
    if (k !== a && d > x.shape[k]) throw new Error(`gather: index shape [${index.shape}] exceeds input [${x.shape}] off the axis`);
  });
  const out = Tensor.empty(x.engine, index.shape, x.dtype, options.category ?? 'activations');
  const strides = x.strides.map((s, k) => (k === a ? 0 : s));
  const xv = x.view(index.shape, strides, x.offset);
  const key = `gather:${x.dtype}`;
  launch(
    x.engine,
    {
      key,
      name: 'gather',
      build: () => /* wgsl */ `${enables(x.dtype)}
${STRIDED_WGSL}
${linearIndexWgsl(WG)}
@group(0) @binding(1) var<storage, read_write> Y: array<${x.dtype}>;
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
  let v = f32(X[o.y + u32(max(j, 0)) * bitcast<u32>(P.scalars.x)]);
  Y[o.x] = ${x.dtype}(select(bitcast<f32>(0x7fc00000u | (P.n & 0u)), v, inside));
}`,
    },
    [out, x, index],
    stridedParams(index.shape, [out, xv, index], [u32Bits(x.strides[a]), u32Bits(x.shape[a])]),
    grid1d(x.engine, out.size, WG),
  );
  xv.dispose();
  return out;
}

/** Rows (or any axis) picked by a 1-D i32 index: out.shape[axis] = index.length. */
export function indexSelect(x: Tensor, axis: number, index: Tensor, options: { category?: Category } = {}): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (index.rank !== 1) throw new Error('indexSelect: the index must be 1-D');
  const shape = x.shape.map((d, k) => (k === a ? index.shape[0] : d));
  const strides = shape.map((_, k) => (k === a ? index.strides[0] : 0));
  const broadcast = index.view(shape, strides, index.offset);
  const out = gather(x, a, broadcast, options);
  broadcast.dispose();
  return out;
}
