import type { Category } from '../gpu/arena.js';
import { isFloat } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { distinctBindings, enables, grid1d, launch, linearIndexWgsl, Params } from './launch.js';

const WG = 256;

/** Square max-pool window: kernel k, stride s (default k), zero-size padding p on each side. */
export interface Pool2dGeometry {
  kernel: number;
  stride?: number;
  padding?: number;
}

export interface MaxPoolOptions extends Pool2dGeometry {
  /**
   * Write into this view instead of a new tensor (e.g. a channel slice of SPPF's concat
   * buffer). It may share x's storage (SPPF pools one slice into the next) but must not
   * overlap x's elements.
   */
  out?: Tensor;
  category?: Category;
}

export function poolOutputSize(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

interface Geometry {
  k: number;
  s: number;
  p: number;
  n: number;
  h: number;
  w: number;
  c: number;
  ho: number;
  wo: number;
}

/** Validated geometry of a pool over an NHWC input shape (PyTorch's rules, floor mode). */
function geometry(op: string, shape: readonly number[], g: Pool2dGeometry): Geometry {
  if (shape.length !== 4) throw new Error(`${op}: input must be NHWC (rank 4), got [${shape}]`);
  const k = g.kernel;
  const s = g.stride ?? k;
  const p = g.padding ?? 0;
  if (![k, s, p].every(Number.isInteger) || k < 1 || s < 1 || p < 0) throw new Error(`${op}: invalid kernel ${k}, stride ${s}, padding ${p}`);
  if (2 * p > k) throw new Error(`${op}: padding ${p} exceeds half the kernel ${k}`);
  const [n, h, w, c] = shape;
  const ho = poolOutputSize(h, k, s, p);
  const wo = poolOutputSize(w, k, s, p);
  if (ho < 1 || wo < 1) throw new Error(`${op}: kernel ${k} (padding ${p}) does not fit input [${shape}]`);
  return { k, s, p, n, h, w, c, ho, wo };
}

/** Offset and NHWC strides of an operand: uniform fields <name>0 (offset) .. <name>4 (C stride). */
const nhwc = (t: Tensor | null) => (t ? [t.offset, ...t.strides] : [0, 0, 0, 0, 0]);
const layoutFields = (name: string) => [0, 1, 2, 3, 4].map((k) => `${name}${k}: u32`).join(', ');
const GEOMETRY_FIELDS = 'total: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, k: u32, s: u32, p: u32';

/**
 * The forward kernel: one invocation per output element (channels fastest, so reads
 * and writes coalesce along C), scanning its window clipped to the input. Writes the
 * max (when `out`) and/or its position (when `indices`).
 *
 * Index encoding (PyTorch's `return_indices`): i32 `hi * W + wi`, the flat position in
 * the input's H x W plane of the same (n, c). Ties go to the first maximum in row-major
 * window order; a NaN in the window wins (propagates) as in PyTorch, as far as the
 * shader compiler keeps `v != v` (WGSL lets implementations assume no NaN).
 */
function runForward(x: Tensor, g: Geometry, out: Tensor | null, indices: Tensor | null): void {
  const { bound, slot } = distinctBindings('maxPool2d', [x, ...(out ? [out] : []), ...(indices ? [indices] : [])]);
  const buf = (t: Tensor) => `buf${slot(t)}`;
  const total = g.n * g.ho * g.wo * g.c;
  const key = `maxpool:${bound.map((t) => t.dtype).join(',')}:x${slot(x)}:o${out ? slot(out) : '-'}:i${indices ? slot(indices) : '-'}`;
  launch(
    x.engine,
    {
      key,
      name: 'maxpool2d',
      build: () => /* wgsl */ `${enables(...bound.map((t) => t.dtype))}
struct Params { ${GEOMETRY_FIELDS}, ${layoutFields('x')}, ${layoutFields('o')}, ${layoutFields('i')} }
@group(0) @binding(0) var<uniform> P: Params;
${bound.map((t, b) => `@group(0) @binding(${b + 1}) var<storage, read_write> buf${b}: array<${t.dtype}>;`).join('\n')}
${linearIndexWgsl(WG)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.total) { return; }
  let c = i % P.C;
  let wo = (i / P.C) % P.Wo;
  let ho = (i / (P.C * P.Wo)) % P.Ho;
  let n = i / (P.C * P.Wo * P.Ho);
  // The window clipped to the input: padding never wins, as with -inf padding.
  let h0 = i32(ho * P.s) - i32(P.p);
  let w0 = i32(wo * P.s) - i32(P.p);
  let hs = u32(max(h0, 0));
  let he = u32(min(h0 + i32(P.k), i32(P.H)));
  let ws = u32(max(w0, 0));
  let we = u32(min(w0 + i32(P.k), i32(P.W)));
  let base = P.x0 + n * P.x1 + c * P.x4;
  var best = f32(${buf(x)}[base + hs * P.x2 + ws * P.x3]);
  var arg = hs * P.W + ws;
  for (var h = hs; h < he; h++) {
    for (var w = ws; w < we; w++) {
      let v = f32(${buf(x)}[base + h * P.x2 + w * P.x3]);
      if (v > best || v != v) { best = v; arg = h * P.W + w; }
    }
  }
  ${out ? `${buf(out)}[P.o0 + n * P.o1 + ho * P.o2 + wo * P.o3 + c * P.o4] = ${out.dtype}(best);` : ''}
  ${indices ? `${buf(indices)}[P.i0 + n * P.i1 + ho * P.i2 + wo * P.i3 + c * P.i4] = i32(arg);` : ''}
}`,
    },
    bound,
    new Params()
      .u32(total, g.h, g.w, g.c, g.ho, g.wo, g.k, g.s, g.p)
      .u32(...nhwc(x), ...nhwc(out), ...nhwc(indices)),
    grid1d(x.engine, total, WG),
  );
}

function checkFloat(op: string, t: Tensor, what: string): void {
  if (!isFloat(t.dtype)) throw new Error(`${op}: ${what} must be f32 or f16, got ${t.dtype}`);
}

function checkShape(op: string, t: Tensor, shape: readonly number[], what: string): void {
  if (t.shape.join() !== shape.join()) throw new Error(`${op}: ${what} has shape [${t.shape}], expected [${shape}]`);
}

function checkOut(op: string, x: Tensor, out: Tensor, shape: readonly number[]): void {
  checkShape(op, out, shape, 'out');
  checkFloat(op, out, 'out');
  if (out.storage === x.storage && out.offset === x.offset) throw new Error(`${op}: out must not overlap the input`);
}

/**
 * Max pooling of an NHWC view with PyTorch semantics (floor mode, padding acts as -inf,
 * windows clipped to the input). For training, either keep the indices of
 * `maxPool2dWithIndices`, or save only x and recompute them in backward with
 * `maxPool2dWithIndices(x, { ..., out: null })` (same kernel, same ties): the cheaper
 * choice for SPPF, whose inputs live in the concat buffer anyway.
 */
export function maxPool2d(x: Tensor, o: MaxPoolOptions): Tensor {
  checkFloat('maxPool2d', x, 'input');
  const g = geometry('maxPool2d', x.shape, o);
  const shape = [g.n, g.ho, g.wo, g.c];
  if (o.out) checkOut('maxPool2d', x, o.out, shape);
  const out = o.out ?? Tensor.empty(x.engine, shape, x.dtype, o.category ?? 'activations');
  if (out.size > 0) runForward(x, g, out, null);
  return out;
}

/**
 * Max pooling that also returns the argmax of each window (i32, `hi * W + wi` in the
 * input plane; see runForward). `out: null` computes the indices only.
 */
export function maxPool2dWithIndices(
  x: Tensor,
  o: Omit<MaxPoolOptions, 'out'> & { out?: Tensor | null },
): { out: Tensor | null; indices: Tensor } {
  checkFloat('maxPool2dWithIndices', x, 'input');
  const g = geometry('maxPool2dWithIndices', x.shape, o);
  const shape = [g.n, g.ho, g.wo, g.c];
  if (g.h * g.w > 2 ** 31 - 1) throw new Error(`maxPool2dWithIndices: input plane [${g.h}, ${g.w}] too large for i32 indices`);
  let out: Tensor | null = null;
  if (o.out === undefined) out = Tensor.empty(x.engine, shape, x.dtype, o.category ?? 'activations');
  else if (o.out !== null) {
    checkOut('maxPool2dWithIndices', x, o.out, shape);
    out = o.out;
  }
  const indices = Tensor.empty(x.engine, shape, 'i32', o.category ?? 'activations');
  if (indices.size > 0) runForward(x, g, out, indices);
  return { out, indices };
}

/**
 * Gradient of max pooling w.r.t. its input [N, H, W, C] from the output gradient and the
 * window argmax indices. One invocation per input element gathers, in a fixed order,
 * the gradients of the (at most ceil(k/s)^2) windows that chose it: no atomics,
 * deterministic. The result has gradOut's dtype (f32 accumulation).
 */
export function maxPool2dBackward(
  gradOut: Tensor,
  indices: Tensor,
  inputShape: readonly number[],
  o: Pool2dGeometry & { category?: Category },
): Tensor {
  const op = 'maxPool2dBackward';
  checkFloat(op, gradOut, 'gradOut');
  if (indices.dtype !== 'i32') throw new Error(`${op}: indices must be i32, got ${indices.dtype}`);
  const g = geometry(op, inputShape, o);
  const shape = [g.n, g.ho, g.wo, g.c];
  checkShape(op, gradOut, shape, 'gradOut');
  checkShape(op, indices, shape, 'indices');
  const gradIn = Tensor.empty(gradOut.engine, inputShape, gradOut.dtype, o.category ?? 'activations');
  const total = gradIn.size;
  if (total === 0) return gradIn;
  const dt = gradOut.dtype;
  launch(
    gradOut.engine,
    {
      key: `maxpool-backward:${dt}`,
      name: 'maxpool2d backward',
      build: () => /* wgsl */ `${enables(dt)}
struct Params { ${GEOMETRY_FIELDS}, ${layoutFields('g')}, ${layoutFields('i')} }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> D: array<${dt}>;
@group(0) @binding(2) var<storage, read_write> G: array<${dt}>;
@group(0) @binding(3) var<storage, read_write> I: array<i32>;
${linearIndexWgsl(WG)}
// Output positions o whose window [o*s - p, o*s - p + k) contains input position x.
fn firstWindow(x: u32) -> u32 {
  let xp = x + P.p;
  return select(0u, (xp + 1u - P.k + P.s - 1u) / P.s, xp + 1u >= P.k);
}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.total) { return; }
  let c = i % P.C;
  let w = (i / P.C) % P.W;
  let h = (i / (P.C * P.W)) % P.H;
  let n = i / (P.C * P.W * P.H);
  let me = i32(h * P.W + w);
  let hoEnd = min((h + P.p) / P.s + 1u, P.Ho);
  let woEnd = min((w + P.p) / P.s + 1u, P.Wo);
  var acc = 0.0;
  for (var ho = firstWindow(h); ho < hoEnd; ho++) {
    for (var wo = firstWindow(w); wo < woEnd; wo++) {
      if (I[P.i0 + n * P.i1 + ho * P.i2 + wo * P.i3 + c * P.i4] == me) {
        acc += f32(G[P.g0 + n * P.g1 + ho * P.g2 + wo * P.g3 + c * P.g4]);
      }
    }
  }
  D[i] = ${dt}(acc);
}`,
    },
    [gradIn, gradOut, indices],
    new Params()
      .u32(total, g.h, g.w, g.c, g.ho, g.wo, g.k, g.s, g.p)
      .u32(...nhwc(gradOut), ...nhwc(indices)),
    grid1d(gradOut.engine, total, WG),
  );
  return gradIn;
}
