import { range } from './matmul-common.wgsl.js';
import {
  arrayOf,
  bindingDecls,
  bindingsKey,
  CONV_PARAMS_WGSL,
  epilogueKey,
  epilogueLoads,
  epilogueVec,
  OUT_PIXEL_WGSL,
  storeVec,
  type ConvBinding,
  type ConvEpilogue,
} from './conv2d.wgsl.js';
import { enables } from './launch.js';

/**
 * Direct convolution for narrow layers (few channels on one side: yolov8n's stem, its
 * 16-channel layers and their input gradients), where a GEMM tile is mostly idle or
 * padding: every thread computes `pixels` output pixels (a workgroup's pixels are
 * consecutive, so loads and stores coalesce) times all output channels in registers
 * (`quads` vec4s), looping over the taps and the input channels (`lanes` at a time: vec4
 * loads where the input view allows). The whole weight sits in workgroup memory as
 * [k][output-channel quad] f32 vec4s, read by all threads of a subgroup at once
 * (broadcast); one load feeds `pixels` x 4 multiply-adds. Workgroups stride over pixel
 * blocks so that each stages the weight once. Ends in conv2d's epilogue (bias, folded
 * BatchNorm, SiLU, any output view). Groups are not supported (the caller's choice).
 * In the yolov8n f16 batch-64 step on an H100: stem 1.04 -> 0.41 ms, the 16-channel layers
 * 1.1-1.3x faster than the SIMT GEMM (bench/RESULTS.md, twelfth and thirteenth calls).
 */
export interface DirectConvKernel {
  /** Kernel taps and input channels, compile-time constants so the compiler can unroll the loops over them. */
  kh: number;
  kw: number;
  cin: number;
  /** Output-channel quads, ceil(Cout / 4). */
  quads: number;
  /** Output pixels per thread. */
  pixels: number;
  /** Input channels per load: 4 (vec4 view) or 1. */
  lanes: 1 | 4;
  bindings: ConvBinding[];
  epilogue: ConvEpilogue;
}

export const DIRECT_WG = 128;

/** At most this many workgroups: each stages the weight once and strides over the pixel blocks. */
export const DIRECT_MAX_GROUPS = 1024;

export const directWorkgroupBytes = (k: number, quads: number) => 16 * k * quads;

/** Pixels per thread: enough multiply-adds per weight load while the accumulators stay in registers. */
export const directPixels = (quads: number): number => (quads <= 4 ? 4 : 2);

export function directKey(d: DirectConvKernel): string {
  return `conv2d-direct:${d.kh}x${d.kw}x${d.cin}:${d.quads}x${d.pixels}:${d.lanes}:${bindingsKey(d.bindings)}:${epilogueKey(d.epilogue)}`;
}

export function directWgsl(d: DirectConvKernel): string {
  const X = arrayOf(d.bindings, 'x');
  const Wt = arrayOf(d.bindings, 'w');
  const Y = arrayOf(d.bindings, 'y');
  const P = range(d.pixels);
  const Q = range(d.quads);
  const k = d.kh * d.kw * d.cin;
  const perGroup = DIRECT_WG * d.pixels;
  const weightAt = (i: string) => (Wt.binding.vec ? `${Wt.name}[(${i}) / 4u][(${i}) % 4u]` : `${Wt.name}[${i}]`);
  const load =
    d.lanes === 4
      ? (p: number) => `x${p} = vec4<f32>(${X.name}[(at${p} + c) / 4u]);`
      : (p: number) => `x${p} = vec4<f32>(f32(${X.name}[at${p} + c * P.sxC]), 0.0, 0.0, 0.0);`;
  // One input channel (component e of the loaded chunk) into every accumulator.
  const macs = (e: number) => `{ let wk = (k0 + c + ${e}u) * ${d.quads}u;
          ${Q.map((q) => `{ let wv = Ws[wk + ${q}u]; ${P.map((p) => `a${p}_${q} = fma(vec4<f32>(x${p}[${e}]), wv, a${p}_${q});`).join(' ')} }`).join('\n          ')} }`;
  return /* wgsl */ `${enables(...d.bindings.map((b) => b.dtype))}
${CONV_PARAMS_WGSL}
${bindingDecls(d.bindings)}
${OUT_PIXEL_WGSL}
var<workgroup> Ws: array<vec4<f32>, ${k * d.quads}>;

@compute @workgroup_size(${DIRECT_WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  for (var i = t; i < ${k * d.quads}u; i += ${DIRECT_WG}u) {
    let k = i / ${d.quads}u; let q = i % ${d.quads}u;
    var v = vec4<f32>();
    for (var e = 0u; e < 4u; e++) { let co = q * 4u + e; if (co < P.N) { v[e] = f32(${weightAt('P.wOff + co * P.K + k')}); } }
    Ws[i] = v;
  }
  workgroupBarrier();
  ${Q.map((q) => epilogueLoads(d.epilogue, d.bindings, `${q}`, `${q * 4}u`, 'P.N')).join('\n  ')}
  let blocks = (P.M + ${perGroup - 1}u) / ${perGroup}u;
  for (var b = wg.x + wg.y * nwg.x; b < blocks; b += nwg.x * nwg.y) {
    ${P.map(
      (p) => `let m${p} = b * ${perGroup}u + ${p * DIRECT_WG}u + t; let ok${p} = m${p} < P.M;
    let px${p} = pixelOf(m${p});
    let h${p} = i32(px${p}.y) * P.sh - P.ph; let w${p} = i32(px${p}.z) * P.sw - P.pw;
    let base${p} = i32(P.xOff + px${p}.x * P.sxN);
    ${Q.map((q) => `var a${p}_${q} = vec4<f32>();`).join(' ')}`,
    ).join('\n    ')}
    for (var kh = 0u; kh < ${d.kh}u; kh++) {
      for (var kw = 0u; kw < ${d.kw}u; kw++) {
        ${P.map(
          (p) => `let hi${p} = h${p} + i32(kh); let wi${p} = w${p} + i32(kw);
        let in${p} = ok${p} && u32(hi${p}) < P.H && u32(wi${p}) < P.W;
        let at${p} = u32(base${p} + hi${p} * i32(P.sxH) + wi${p} * i32(P.sxW));`,
        ).join('\n        ')}
        let k0 = (kh * ${d.kw}u + kw) * ${d.cin}u;
        for (var c = 0u; c < ${d.cin}u; c += ${d.lanes}u) {
          ${P.map((p) => `var x${p} = vec4<f32>(); if (in${p}) { ${load(p)} }`).join('\n          ')}
          ${range(d.lanes).map(macs).join('\n          ')}
        }
      }
    }
    ${P.map(
      (p) => `if (ok${p}) {
      let row = outAt(px${p});
      ${Q.map((q) => `{ var v = a${p}_${q}; ${epilogueVec(d.epilogue, `${q}`)} ${storeVec(Y, 'row', `${q * 4}u`, `${q * 4}u`, 'P.N')} }`).join('\n      ')}
    }`,
    ).join('\n    ')}
  }
}`;
}
