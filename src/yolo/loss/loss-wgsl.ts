import { HELPERS_WGSL } from '../../kernels/elementwise.js';
import { linearIndexWgsl } from '../../kernels/launch.js';
import { GT_WORDS } from './targets.js';

/**
 * WGSL shared by the assigner and loss kernels: the uniform block (lossParams), anchor
 * geometry, CIoU and its gradient, and the elementwise helpers (sigmoidf, bceWithLogitsf).
 * `regMax` is compiled in.
 */
export function lossWgsl(regMax: number, workgroupSize: number): string {
  return /* wgsl */ `
struct Params {
  levelStart: vec4<u32>,
  levelWidth: vec4<u32>,
  levelStride: vec4<f32>,
  anchors: u32,
  images: u32,
  firstImage: u32,
  nc: u32,
  gtBegin: u32,
  gtCount: u32,
  batch: u32,
  pad: u32,
  /** box, cls and dfl gains, and the batch size. */
  gains: vec4<f32>,
  /** Small-box widening of the candidate region (candidateBox): sides below x become y. */
  smallSide: vec4<f32>,
}
@group(0) @binding(0) var<uniform> P: Params;
${linearIndexWgsl(workgroupSize)}
${HELPERS_WGSL}
const R: u32 = ${regMax}u;
/** DFL targets are clamped below the last bin so that bin tl + 1 exists (the reference's reg_max - 1 - 0.01). */
const DFL_MAX: f32 = ${regMax - 1 - 0.01};
const CIOU_EPS: f32 = 1e-7;
/** 4 / pi^2, rounded once from double as the reference's Python constant. */
const V_SCALE: f32 = ${4 / Math.PI ** 2};

/** Anchor centre in grid cells and its level's stride. */
struct Anchor { x: f32, y: f32, stride: f32 }
fn anchorOf(a: u32) -> Anchor {
  var l = 0u;
  for (var k = 1u; k < 4u; k++) { if (a >= P.levelStart[k]) { l = k; } }
  let local = a - P.levelStart[l];
  let w = P.levelWidth[l];
  return Anchor(f32(local % w) + 0.5, f32(local / w) + 0.5, P.levelStride[l]);
}

/** The anchor centre (pixels) lies strictly inside box b (xyxy pixels), by the reference's margin of 1e-9. */
fn insideBox(b: vec4<f32>, anc: Anchor) -> bool {
  let px = anc.x * anc.stride;
  let py = anc.y * anc.stride;
  return min(min(px - b.x, py - b.y), min(b.z - px, b.w - py)) > 1e-9;
}

/** Complete IoU of two xyxy boxes (the reference's bbox_iou with CIoU=True: eps 1e-7 added to heights and areas). */
fn ciou(b1: vec4<f32>, b2: vec4<f32>) -> f32 {
  let w1 = b1.z - b1.x;
  let h1 = b1.w - b1.y + CIOU_EPS;
  let w2 = b2.z - b2.x;
  let h2 = b2.w - b2.y + CIOU_EPS;
  let inter = max(min(b1.z, b2.z) - max(b1.x, b2.x), 0.0) * max(min(b1.w, b2.w) - max(b1.y, b2.y), 0.0);
  let uni = w1 * h1 + w2 * h2 - inter + CIOU_EPS;
  let iou = inter / uni;
  let cw = max(b1.z, b2.z) - min(b1.x, b2.x);
  let ch = max(b1.w, b2.w) - min(b1.y, b2.y);
  let c2 = cw * cw + ch * ch + CIOU_EPS;
  let dx = b2.x + b2.z - b1.x - b1.z;
  let dy = b2.y + b2.w - b1.y - b1.w;
  let rho2 = (dx * dx + dy * dy) / 4.0;
  let d = atan(w2 / h2) - atan(w1 / h1);
  let v = V_SCALE * (d * d);
  let alpha = v / (v - iou + (1.0 + CIOU_EPS));
  return iou - (rho2 / c2 + v * alpha);
}

/** d min(a, b) / da and d max(a, b) / da as torch's minimum/maximum: ties split the gradient. */
fn dMin(a: f32, b: f32) -> f32 { return select(select(0.0, 1.0, a < b), 0.5, a == b); }
fn dMax(a: f32, b: f32) -> f32 { return select(select(0.0, 1.0, a > b), 0.5, a == b); }

/** d ciou(b1, b2) / d b1 with the aspect weight alpha held constant (the reference computes it under no_grad). */
fn ciouGrad(b1: vec4<f32>, b2: vec4<f32>) -> vec4<f32> {
  let w1 = b1.z - b1.x;
  let h1 = b1.w - b1.y + CIOU_EPS;
  let w2 = b2.z - b2.x;
  let h2 = b2.w - b2.y + CIOU_EPS;
  let ix = min(b1.z, b2.z) - max(b1.x, b2.x);
  let iy = min(b1.w, b2.w) - max(b1.y, b2.y);
  let iw = max(ix, 0.0);
  let ih = max(iy, 0.0);
  let inter = iw * ih;
  let uni = w1 * h1 + w2 * h2 - inter + CIOU_EPS;
  let iou = inter / uni;
  // IoU through the intersection (clamps pass the gradient at 0, as torch's clamp) and through w1, h1.
  let dInter = (1.0 + iou) / uni;
  let dIx = dInter * ih * select(0.0, 1.0, ix >= 0.0);
  let dIy = dInter * iw * select(0.0, 1.0, iy >= 0.0);
  let dW = -iou * h1 / uni;
  let dH = -iou * w1 / uni;
  let dIou = vec4<f32>(
    -dIx * dMax(b1.x, b2.x) - dW,
    -dIy * dMax(b1.y, b2.y) - dH,
    dIx * dMin(b1.z, b2.z) + dW,
    dIy * dMin(b1.w, b2.w) + dH,
  );
  // Centre distance over the enclosing diagonal, rho2 / c2.
  let cw = max(b1.z, b2.z) - min(b1.x, b2.x);
  let ch = max(b1.w, b2.w) - min(b1.y, b2.y);
  let c2 = cw * cw + ch * ch + CIOU_EPS;
  let dx = b2.x + b2.z - b1.x - b1.z;
  let dy = b2.y + b2.w - b1.y - b1.w;
  let q = (dx * dx + dy * dy) / 4.0 / c2;
  let dRho = vec4<f32>(-dx, -dy, -dx, -dy) / 2.0;
  let dC2 = 2.0 * vec4<f32>(-cw * dMin(b1.x, b2.x), -ch * dMin(b1.y, b2.y), cw * dMax(b1.z, b2.z), ch * dMax(b1.w, b2.w));
  let dDist = (dRho - q * dC2) / c2;
  // Aspect term alpha v, v = 4 / pi^2 (atan(w2 / h2) - atan(w1 / h1))^2.
  let r1 = w1 / h1;
  let d = atan(w2 / h2) - atan(r1);
  let v = V_SCALE * (d * d);
  let alpha = v / (v - iou + (1.0 + CIOU_EPS));
  let dTheta = -2.0 * V_SCALE * d / (1.0 + r1 * r1) / h1;
  let dVw = dTheta;
  let dVh = -dTheta * r1;
  let dV = vec4<f32>(-dVw, -dVh, dVw, dVh);
  return dIou - dDist - alpha * dV;
}

`;
}

/** Ground-truth rows of a `GT: array<u32>` binding (GT_WORDS words each, see uploadTargets). */
export const GT_WGSL = /* wgsl */ `
fn gtBox(g: u32) -> vec4<f32> {
  let o = g * ${GT_WORDS}u;
  return vec4<f32>(bitcast<f32>(GT[o]), bitcast<f32>(GT[o + 1u]), bitcast<f32>(GT[o + 2u]), bitcast<f32>(GT[o + 3u]));
}
fn gtLabel(g: u32) -> u32 { return GT[g * ${GT_WORDS}u + 4u]; }
fn gtImage(g: u32) -> u32 { return GT[g * ${GT_WORDS}u + 5u]; }
fn gtValid(g: u32) -> bool { return bitcast<f32>(GT[g * ${GT_WORDS}u + 6u]) > 0.0; }
/**
 * The region whose anchors are candidates of box g: the box, with a side shorter than the
 * smallest stride widened about its centre to the next stride (the reference's small-target
 * aware assignment), through xywh in f32 as the reference computes it.
 */
fn candidateBox(g: u32) -> vec4<f32> {
  let b = gtBox(g);
  let centre = (b.xy + b.zw) / 2.0;
  let size = select(b.zw - b.xy, vec2<f32>(P.smallSide.y), b.zw - b.xy < vec2<f32>(P.smallSide.x));
  return vec4<f32>(centre - size / 2.0, centre + size / 2.0);
}
`;

/** Bin distributions of a `BOX: array<f32>` binding of DFL logits (R bins per side). */
export function sideDistributionWgsl(regMax: number): string {
  return /* wgsl */ `
/**
 * The DFL distribution of one box side: softmax of BOX[o .. o + R) into p. Returns the
 * expected distance sum(p_i i) (cells) and the log-sum-exp of the logits (for cross-entropy).
 */
fn sideDistribution(o: u32, p: ptr<function, array<f32, ${regMax}>>) -> vec2<f32> {
  var m = BOX[o];
  for (var i = 1u; i < R; i++) { m = max(m, BOX[o + i]); }
  var s = 0.0;
  for (var i = 0u; i < R; i++) {
    let e = exp(BOX[o + i] - m);
    (*p)[i] = e;
    s += e;
  }
  var d = 0.0;
  for (var i = 0u; i < R; i++) {
    (*p)[i] = (*p)[i] / s;
    d += (*p)[i] * f32(i);
  }
  return vec2<f32>(d, m + log(s));
}
`;
}
