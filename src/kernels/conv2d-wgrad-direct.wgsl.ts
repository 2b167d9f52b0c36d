import type { DType } from '../gpu/dtype.js';
import { weightGradParamsWgsl } from './conv2d-backward.wgsl.js';
import { enables } from './launch.js';
import { range } from './matmul-common.wgsl.js';

/**
 * Direct weight gradient of narrow, ungrouped convolutions (yolov8n's stem and 16-channel
 * layers), where the GEMM tiles of dy^T x im2col(x) are mostly padding: every thread owns
 * `quadsPerThread` output-channel quads x one tap x four input channels (that many vec4
 * accumulators) and walks its workgroup's pixel range, `lanes` threads per owner taking
 * every lanes-th pixel, four pixels' loads at a time; each pixel costs one load of four x
 * channels and one dy quad per owned quad. The lanes' sums are added in a fixed order through workgroup memory and the
 * workgroup writes its partial dW [Cout, KH*KW*Cin] (grid z: pixel ranges), which the
 * deterministic reduction then sums, as for the GEMM kernels.
 */
export interface DirectWeightGradKernel {
  /** Taps and input channels (compile-time: they fix the threads' roles). */
  kh: number;
  kw: number;
  cin: number;
  /** Output-channel quads, ceil(Cout / 4), and how many each thread owns. */
  quads: number;
  quadsPerThread: 1 | 2;
  /** vec4 loads of dy and x (the GEMM kernels' condition). */
  vec: boolean;
}

const MAX_THREADS = 256;
/** Pixels each thread loads before it multiplies (independent loads in flight). */
const STREAMS = 4;

const ownerGroups = (d: DirectWeightGradKernel) => Math.ceil(d.quads / d.quadsPerThread);

/** Threads owning distinct outputs, and the threads per owner sharing its pixels. */
export function directWeightGradThreads(d: DirectWeightGradKernel): { owners: number; lanes: number; threads: number } {
  const owners = ownerGroups(d) * d.kh * d.kw * Math.ceil(d.cin / 4);
  const lanes = Math.max(1, Math.floor(MAX_THREADS / owners));
  return { owners, lanes, threads: owners * lanes };
}

/** The kernel for a Cout x Cin conv with kh x kw taps, or null when its owners exceed a workgroup. */
export function directWeightGradKernel(kh: number, kw: number, cin: number, cout: number, vec: boolean): DirectWeightGradKernel | null {
  const quads = Math.ceil(cout / 4);
  const kernel: DirectWeightGradKernel = { kh, kw, cin, quads, quadsPerThread: quads > 4 ? 2 : 1, vec };
  return directWeightGradThreads(kernel).owners <= MAX_THREADS ? kernel : null;
}

export const directWeightGradKey = (d: DirectWeightGradKernel) => `conv2d-wgrad-direct:${d.kh}x${d.kw}x${d.cin}:${d.quads}/${d.quadsPerThread}:${d.vec ? 'v' : 's'}`;

export function directWeightGradWgsl(d: DirectWeightGradKernel, dy: DType, x: DType): string {
  const { owners, lanes, threads } = directWeightGradThreads(d);
  const cq = Math.ceil(d.cin / 4);
  const J = range(d.quadsPerThread);
  const E = range(4);
  const K = d.kh * d.kw * d.cin;
  const U = range(STREAMS);
  const step = STREAMS * lanes;
  // Loads of pixel stream u into x{u} and d{u}_{j} (zero where the tap falls in the padding or past the range).
  const xAt = (u: number) => `P.xOff + img${u} * P.sxN + u32(hi) * P.sxH + u32(wi) * P.sxW`;
  const xLoad = (u: number) =>
    d.vec
      ? `x${u} = vec4<f32>(xs[(${xAt(u)} + ci0) / 4u]);`
      : `for (var e = 0u; e < 4u; e++) { if (ci0 + e < ${d.cin}u) { x${u}[e] = f32(xs[${xAt(u)} + (ci0 + e) * P.sxC]); } }`;
  const dyLoad = (u: number, j: number) =>
    d.vec
      ? `if (q${j} < ${d.quads}u) { d${u}_${j} = vec4<f32>(gy[(gBase + q${j} * 4u) / 4u]); }`
      : `for (var c = 0u; c < 4u; c++) { if (q${j} * 4u + c < P.Cout) { d${u}_${j}[c] = f32(gy[gBase + (q${j} * 4u + c) * P.sgC]); } }`;
  const loads = (u: number) => `var x${u} = vec4<f32>(); ${J.map((j) => `var d${u}_${j} = vec4<f32>();`).join(' ')}
    { let hi = i32(ho${u}) * P.sh - P.ph + kh; let wi = i32(wo${u}) * P.sw - P.pw + kw;
      if (p${u} < end && u32(hi) < P.H && u32(wi) < P.W) {
        ${xLoad(u)}
        let gBase = P.gOff + img${u} * P.sgN + ho${u} * P.sgH + wo${u} * P.sgW;
        ${J.map((j) => dyLoad(u, j)).join(' ')}
      } }`;
  // One accumulator (dy quad j, x channel e) through the lanes' fixed-order sum to the partial output.
  const flush = (j: number, e: number) => `red[t] = a${j}_${e};
  workgroupBarrier();
  if (lane == 0u && q${j} < ${d.quads}u && ci0 + ${e}u < ${d.cin}u) {
    var s = vec4<f32>();
    for (var l = 0u; l < ${lanes}u; l++) { s += red[owner + l * ${owners}u]; }
    let k = tap * ${d.cin}u + ci0 + ${e}u;
    for (var c = 0u; c < 4u; c++) { let co = q${j} * 4u + c; if (co < P.Cout) { partial[out + co * ${K}u + k] = s[c]; } }
  }
  workgroupBarrier();`;
  return /* wgsl */ `${enables(dy, x)}
${weightGradParamsWgsl(d.vec, dy, x)}
var<workgroup> red: array<vec4<f32>, ${threads}>;

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let owner = t % ${owners}u;
  let lane = t / ${owners}u;
  let qg = owner % ${ownerGroups(d)}u;
  let rest = owner / ${ownerGroups(d)}u;
  let ci0 = (rest % ${cq}u) * 4u;
  let tap = rest / ${cq}u;
  let kh = i32(tap / ${d.kw}u);
  let kw = i32(tap % ${d.kw}u);
  ${J.map((j) => `let q${j} = qg * ${d.quadsPerThread}u + ${j}u;`).join(' ')}
  ${J.flatMap((j) => E.map((e) => `var a${j}_${e} = vec4<f32>();`)).join(' ')}
  let start = wg.z * P.splitLen;
  let end = min(start + P.splitLen, P.pixels);
  let hw = P.Ho * P.Wo;
  // ${STREAMS} pixel streams, each decoded once and then stepped by ${step} (row carries in a loop), their loads issued together.
  ${U.map((u) => `var p${u} = start + lane + ${u * lanes}u; var img${u} = p${u} / hw; var ho${u} = (p${u} % hw) / P.Wo; var wo${u} = p${u} % P.Wo;`).join('\n  ')}
  while (p0 < end) {
    ${U.map(loads).join('\n    ')}
    ${U.map((u) => J.map((j) => E.map((e) => `a${j}_${e} = fma(d${u}_${j}, vec4<f32>(x${u}[${e}]), a${j}_${e});`).join(' ')).join('\n    ')).join('\n    ')}
    ${U.map((u) => `p${u} += ${step}u; wo${u} += ${step}u; while (wo${u} >= P.Wo) { wo${u} -= P.Wo; ho${u} += 1u; if (ho${u} == P.Ho) { ho${u} = 0u; img${u} += 1u; } }`).join('\n    ')}
  }
  let out = wg.z * P.Cout * ${K}u;
  ${J.flatMap((j) => E.map((e) => flush(j, e))).join('\n  ')}
}`;
}
