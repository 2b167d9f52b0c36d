import type { Tensor } from '../gpu/tensor.js';
import { MAX_RANK, Params, padRank } from './launch.js';

/** Operands a strided kernel can address (the output counts as one). */
export const MAX_OPERANDS = 4;

/**
 * Parameter layout shared by strided kernels: the element count, the iteration shape
 * (padded to MAX_RANK), and per operand an element offset and strides over that shape
 * (0 on broadcast axes). Scalars follow as a vec4<f32>.
 */
export function stridedParams(shape: readonly number[], operands: readonly Tensor[], scalars: readonly number[] = []): Params {
  if (operands.length > MAX_OPERANDS) throw new Error(`at most ${MAX_OPERANDS} operands`);
  const n = shape.reduce((a, b) => a * b, 1);
  const p = new Params().u32(n).align4();
  p.u32(...padRank(shape, shape).shape, 0, 0);
  const offsets = operands.map((t) => t.offset);
  p.u32(...offsets, ...new Array<number>(MAX_OPERANDS - offsets.length).fill(0));
  for (let k = 0; k < MAX_OPERANDS; k++) {
    const t = operands[k];
    const strides = t ? broadcastStrides(t, shape) : new Array<number>(MAX_RANK).fill(0);
    p.u32(...strides, 0, 0);
  }
  const s = [...scalars, 0, 0, 0, 0].slice(0, 4);
  p.f32(...s);
  return p;
}

/** Strides of `t` over `shape` (right-aligned; 0 where t has size 1 or lacks the axis), padded to MAX_RANK. */
function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const lead = shape.length - t.rank;
  if (lead < 0) throw new Error(`operand of rank ${t.rank} exceeds iteration rank ${shape.length}`);
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const own = t.shape[i - lead];
    if (own === d) return own === 1 ? 0 : t.strides[i - lead];
    if (own === 1) return 0;
    throw new Error(`operand [${t.shape}] does not broadcast to [${shape}]`);
  });
  return padRank(shape, strides).strides;
}

/** WGSL declarations of the strided parameter block and index helpers. */
export const STRIDED_WGSL = /* wgsl */ `
struct Params {
  n: u32,
  shape: array<vec4<u32>, 2>,
  offsets: vec4<u32>,
  strides: array<vec4<u32>, ${2 * MAX_OPERANDS}>,
  scalars: vec4<f32>,
}
@group(0) @binding(0) var<uniform> P: Params;

fn dimOf(d: u32) -> u32 { return P.shape[d >> 2u][d & 3u]; }
fn strideOf(k: u32, d: u32) -> u32 { return P.strides[2u * k + (d >> 2u)][d & 3u]; }

/** Element offsets of operands 0..3 for the linear index i of the iteration shape. */
fn offsetsOf(i: u32) -> vec4<u32> {
  var rem = i;
  var off = P.offsets;
  for (var d = ${MAX_RANK - 1}i; d >= 0; d--) {
    let n = dimOf(u32(d));
    let c = rem % n;
    rem = rem / n;
    off += c * vec4<u32>(strideOf(0u, u32(d)), strideOf(1u, u32(d)), strideOf(2u, u32(d)), strideOf(3u, u32(d)));
  }
  return off;
}
`;

/** The f32 whose bit pattern is the u32 n: passes an exact integer through a scalar slot (read with bitcast<u32>). */
export function u32Bits(n: number): number {
  return new Float32Array(new Uint32Array([n]).buffer)[0];
}
