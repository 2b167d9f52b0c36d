import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { grid1d, type Params } from '../../kernels/launch.js';
import type { AssignerBuffers } from './assigner.js';
import type { Chunk, LossGeometry } from './levels.js';
import { launchLoss } from './loss-launch.js';
import { GT_WGSL, sideDistributionWgsl } from './loss-wgsl.js';

/**
 * The loss terms on the GPU, per anchor and without float atomics. Forward: per anchor of a
 * chunk its soft target, BCE-with-logits summed over classes, and for foreground anchors
 * (1 - CIoU) and the DFL cross-entropy, both weighted by the target; then one fixed-order
 * sum per image, and the batch totals by one thread. Every sum runs in an order that does
 * not depend on how the batch was chunked. Backward: d/d(logits) in place of the gathered
 * logits, from the saved assignment (box, target) of every anchor.
 */
const WG = 256;

/** The per-anchor assignment kept for backward: [batch * anchors] (box as i32 bits, -1 for background; target as f32 bits). */
const SAVED_WGSL = /* wgsl */ `
fn savedBox(row: u32) -> i32 { return bitcast<i32>(SAVED[2u * row]); }
fn savedTarget(row: u32) -> f32 { return bitcast<f32>(SAVED[2u * row + 1u]); }`;

/** DFL's two-bin target for a distance t (cells): bin floor(t) weighted 1 - frac, the next frac. */
const DFL_TARGET_WGSL = /* wgsl */ `
struct DflTarget { bin: u32, left: f32, right: f32 }
fn dflTarget(distance: f32) -> DflTarget {
  let t = clamp(distance, 0.0, DFL_MAX);
  let bin = u32(t);
  let left = f32(bin + 1u) - t;
  return DflTarget(bin, left, 1.0 - left);
}
/** Target distances (left, top, right, bottom; cells) from the anchor to the sides of box b (cells). */
fn targetDistances(anc: Anchor, b: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(anc.x - b.x, anc.y - b.y, b.z - anc.x, b.w - anc.y);
}`;

/** Soft targets and loss terms of a chunk's anchors; the assignment goes to `saved`; per-image sums to `sums` [batch, 4]. */
export function chunkLoss(engine: Engine, g: LossGeometry, chunk: Chunk, b: AssignerBuffers, terms: Tensor, gts: Tensor, saved: Tensor, sums: Tensor, params: Params): void {
  launchLoss(
    engine,
    g,
    {
      key: 'loss-terms',
      name: 'detection loss terms',
      workgroupSize: WG,
      bindings: [
        ['TERMS: array<vec4<f32>>', terms],
        ['SAVED: array<u32>', saved],
        ['BOX: array<f32>', b.box],
        ['CLS: array<f32>', b.cls],
        ['ASSIGNED: array<u32>', b.assigned],
        ['BOXMAX: array<vec2<f32>>', b.boxMax],
        ['GT: array<u32>', gts],
      ],
      wgsl: () => /* wgsl */ `${GT_WGSL}
${sideDistributionWgsl(g.regMax)}
${DFL_TARGET_WGSL}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = linearIndex(gid, groups);
  if (row >= P.images * P.anchors) { return; }
  let box = bitcast<i32>(ASSIGNED[4u * row]);
  var soft = 0.0;
  var label = 0xffffffffu;
  if (box >= 0) {
    let m = BOXMAX[u32(box) - P.gtBegin];
    soft = bitcast<f32>(ASSIGNED[4u * row + 1u]) * m.y / (m.x + 1e-9);
    label = gtLabel(u32(box));
  }
  var cls = 0.0;
  for (var c = 0u; c < P.nc; c++) { cls += bceWithLogitsf(CLS[row * P.nc + c], select(0.0, soft, c == label)); }
  var iouTerm = 0.0;
  var dflTerm = 0.0;
  if (box >= 0) {
    let anc = anchorOf(row % P.anchors);
    let gt = gtBox(u32(box)) / anc.stride;
    let distances = targetDistances(anc, gt);
    var p: array<f32, ${g.regMax}>;
    var d: vec4<f32>;
    var ce = 0.0;
    for (var s = 0u; s < 4u; s++) {
      let o = (row * 4u + s) * R;
      let side = sideDistribution(o, &p);
      d[s] = side.x;
      let t = dflTarget(distances[s]);
      ce += (side.y - BOX[o + t.bin]) * t.left + (side.y - BOX[o + t.bin + 1u]) * t.right;
    }
    let pred = vec4<f32>(anc.x - d.x, anc.y - d.y, anc.x + d.z, anc.y + d.w);
    iouTerm = (1.0 - ciou(pred, gt)) * soft;
    dflTerm = ce / 4.0 * soft;
  }
  TERMS[row] = vec4<f32>(iouTerm, cls, dflTerm, soft);
  let at = P.firstImage * P.anchors + row;
  SAVED[2u * at] = bitcast<u32>(box);
  SAVED[2u * at + 1u] = bitcast<u32>(soft);
}`,
    },
    params,
    grid1d(engine, chunk.images * g.anchors, WG),
  );
  launchLoss(
    engine,
    g,
    {
      key: 'loss-image-sums',
      name: 'detection loss image sums',
      workgroupSize: WG,
      bindings: [
        ['SUMS: array<vec4<f32>>', sums],
        ['TERMS: array<vec4<f32>>', terms],
      ],
      wgsl: () => /* wgsl */ `
var<workgroup> ws: array<vec4<f32>, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let image = wid.x;
  var s = vec4<f32>(0.0);
  for (var a = lid; a < P.anchors; a += WG) { s += TERMS[image * P.anchors + a]; }
  ws[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { ws[lid] += ws[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { SUMS[P.firstImage + image] = ws[0]; }
}`,
    },
    params,
    [chunk.images, 1, 1],
  );
}

/**
 * Batch totals from the per-image sums, in image order: `stats` [5] = box, cls and dfl
 * items (sum / max(target sum, 1) x gain), the loss (items summed x batch), the target sum.
 */
export function finishLoss(engine: Engine, g: LossGeometry, sums: Tensor, stats: Tensor, params: Params): void {
  launchLoss(
    engine,
    g,
    {
      key: 'loss-finish',
      name: 'detection loss totals',
      workgroupSize: 1,
      bindings: [
        ['STATS: array<f32>', stats],
        ['SUMS: array<vec4<f32>>', sums],
      ],
      wgsl: () => /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  var t = vec4<f32>(0.0);
  for (var n = 0u; n < P.batch; n++) { t += SUMS[n]; }
  let norm = max(t.w, 1.0);
  let items = vec3<f32>(t.x / norm * P.gains.x, t.y / norm * P.gains.y, t.z / norm * P.gains.z);
  STATS[0] = items.x;
  STATS[1] = items.y;
  STATS[2] = items.z;
  STATS[3] = (items.x + items.y + items.z) * P.gains.w;
  STATS[4] = norm;
}`,
    },
    params,
    [1, 1, 1],
  );
}

/** What both gradient kernels bind: the logits they overwrite (`CLS` or `BOX`), the saved assignment, the boxes, the totals and the seed. */
function gradientBindings(logits: 'CLS' | 'BOX', tensor: Tensor, saved: Tensor, gts: Tensor, stats: Tensor, seed: Tensor): [string, Tensor][] {
  return [
    [`${logits}: array<f32>`, tensor],
    ['SAVED: array<u32>', saved],
    ['GT: array<u32>', gts],
    ['STATS: array<f32>', stats],
    ['SEED: array<f32>', seed],
  ];
}
/** Helpers of both gradient kernels; gradScale() is the scale of every gradient: seed x batch / target sum (times a gain). */
const GRADIENT_WGSL = /* wgsl */ `${GT_WGSL}
${SAVED_WGSL}
fn gradScale() -> f32 { return SEED[0] * P.gains.w / STATS[4]; }`;

/** d loss / d class logits, in place of the chunk's gathered logits `cls`. */
export function clsGradient(engine: Engine, g: LossGeometry, chunk: Chunk, cls: Tensor, saved: Tensor, gts: Tensor, stats: Tensor, seed: Tensor, params: Params): void {
  launchLoss(
    engine,
    g,
    {
      key: 'loss-cls-grad',
      name: 'detection loss class gradient',
      workgroupSize: WG,
      bindings: gradientBindings('CLS', cls, saved, gts, stats, seed),
      wgsl: () => /* wgsl */ `${GRADIENT_WGSL}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.images * P.anchors * P.nc) { return; }
  let at = P.firstImage * P.anchors + i / P.nc;
  let box = savedBox(at);
  let hit = box >= 0 && gtLabel(u32(max(box, 0))) == i % P.nc;
  let t = select(0.0, savedTarget(at), hit);
  CLS[i] = gradScale() * P.gains.y * (sigmoidf(CLS[i]) - t);
}`,
    },
    params,
    grid1d(engine, chunk.images * g.anchors * g.nc, WG),
  );
}

/**
 * d loss / d DFL logits, in place of the chunk's gathered logits `box`: through the
 * expected distances into (1 - CIoU), plus the DFL cross-entropy, for foreground anchors.
 */
export function boxGradient(engine: Engine, g: LossGeometry, chunk: Chunk, box: Tensor, saved: Tensor, gts: Tensor, stats: Tensor, seed: Tensor, params: Params): void {
  launchLoss(
    engine,
    g,
    {
      key: 'loss-box-grad',
      name: 'detection loss box gradient',
      workgroupSize: WG,
      bindings: gradientBindings('BOX', box, saved, gts, stats, seed),
      wgsl: () => /* wgsl */ `${GRADIENT_WGSL}
${sideDistributionWgsl(g.regMax)}
${DFL_TARGET_WGSL}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = linearIndex(gid, groups);
  if (row >= P.images * P.anchors) { return; }
  let at = P.firstImage * P.anchors + row;
  let box = savedBox(at);
  if (box < 0) {
    for (var i = 0u; i < 4u * R; i++) { BOX[row * 4u * R + i] = 0.0; }
    return;
  }
  let anc = anchorOf(row % P.anchors);
  let gt = gtBox(u32(box)) / anc.stride;
  var p: array<array<f32, ${g.regMax}>, 4>;
  var d: vec4<f32>;
  for (var s = 0u; s < 4u; s++) { d[s] = sideDistribution((row * 4u + s) * R, &p[s]).x; }
  let pred = vec4<f32>(anc.x - d.x, anc.y - d.y, anc.x + d.z, anc.y + d.w);
  let weight = gradScale() * savedTarget(at);
  // d(1 - CIoU) / d(x1, y1, x2, y2), then onto the distances: x1 = ax - l, y1 = ay - t, x2 = ax + r, y2 = ay + b.
  let dPred = -weight * P.gains.x * ciouGrad(pred, gt);
  let dSide = vec4<f32>(-dPred.x, -dPred.y, dPred.z, dPred.w);
  let dfl = weight * P.gains.z / 4.0;
  let distances = targetDistances(anc, gt);
  for (var s = 0u; s < 4u; s++) {
    let t = dflTarget(distances[s]);
    for (var i = 0u; i < R; i++) {
      let q = select(0.0, t.left, i == t.bin) + select(0.0, t.right, i == t.bin + 1u);
      let pi = p[s][i];
      BOX[(row * 4u + s) * R + i] = dSide[s] * pi * (f32(i) - d[s]) + dfl * (pi - q);
    }
  }
}`,
    },
    params,
    grid1d(engine, chunk.images * g.anchors, WG),
  );
}
