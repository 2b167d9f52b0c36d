import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { grid1d, type Params } from '../../kernels/launch.js';
import type { Chunk, LossGeometry } from './levels.js';
import { launchLoss } from './loss-launch.js';
import { GT_WGSL, sideDistributionWgsl } from './loss-wgsl.js';

/**
 * The task-aligned assigner (the reference's TaskAlignedAssigner: top-k 10, alpha 0.5,
 * beta 6) on the GPU, for a chunk of images, without its [images, boxes, anchors] tensors:
 *  1. decode: each anchor's predicted box (pixels) from its DFL logits;
 *  2. top-k: one workgroup per box scans the anchors of its image for the 10 largest
 *     alignment metrics sqrt(score) CIoU^6 (0 outside the box's candidate region, which
 *     widens sides shorter than the smallest stride; ties to the lower anchor);
 *  3. claim: each selected anchor strictly inside the region counts its claimants (integer
 *     atomics: order-free, so deterministic) and keeps the lowest claiming box;
 *  4. resolve: an anchor claimed once goes to its claimant; claimed more than once, to the
 *     box of its image with the largest CIoU overlap (first on ties), as the reference;
 *  5. box maxima: per box the largest alignment and overlap over the anchors it got.
 * The soft target of anchor a assigned to box g is then align(a) maxOverlap(g) / (maxAlign(g) + 1e-9)
 * (computed by the loss kernels). Working memory is per chunk, never per batch.
 */
export const TOPK = 10;
const ANCHOR_WG = 256;
const BOX_WG = 128;

/** Per-chunk working buffers (category workspace), sized for the largest chunk. */
export interface AssignerBuffers {
  /** [images, anchors, 4 regMax] DFL logits of the chunk (f32). */
  box: Tensor;
  /** [images, anchors, nc] class logits of the chunk (f32). */
  cls: Tensor;
  /** [images * anchors] predicted boxes, xyxy pixels (f32 x 4). */
  pred: Tensor;
  /** [images * anchors] claim count and lowest claiming box (i32 x 2). */
  claim: Tensor;
  /** [boxes, TOPK] selected anchors, -1 where not a candidate (i32). */
  topk: Tensor;
  /** [images * anchors] assigned box (-1: background), alignment, overlap (u32 bits x 4). */
  assigned: Tensor;
  /** [boxes] largest alignment and overlap over each box's anchors (f32 x 2). */
  boxMax: Tensor;
}

/** Alignment metric and overlap of box g with the anchor at `row` (image * anchors + anchor). */
const ALIGNMENT_WGSL = /* wgsl */ `${GT_WGSL}
fn overlapOf(g: u32, row: u32, anc: Anchor) -> f32 {
  if (!gtValid(g) || !insideBox(candidateBox(g), anc)) { return 0.0; }
  return max(ciou(gtBox(g), PRED[row]), 0.0);
}
fn alignmentOf(g: u32, row: u32, anc: Anchor) -> vec2<f32> {
  let overlap = overlapOf(g, row, anc);
  if (overlap == 0.0) { return vec2<f32>(0.0, 0.0); }
  let score = sigmoidf(CLS[row * P.nc + gtLabel(g)]);
  let o2 = overlap * overlap;
  return vec2<f32>(sqrt(score) * (o2 * o2 * o2), overlap);
}`;

export function assignChunk(engine: Engine, g: LossGeometry, chunk: Chunk, b: AssignerBuffers, gts: Tensor, start: Tensor, params: Params): void {
  const rows = chunk.images * g.anchors;
  launchLoss(
    engine,
    g,
    {
      key: 'loss-decode',
      name: 'assigner decode',
      workgroupSize: ANCHOR_WG,
      bindings: [
        ['PRED: array<vec4<f32>>', b.pred],
        ['BOX: array<f32>', b.box],
        ['CLAIM: array<i32>', b.claim],
      ],
      wgsl: () => /* wgsl */ `${sideDistributionWgsl(g.regMax)}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = linearIndex(gid, groups);
  if (row >= P.images * P.anchors) { return; }
  let anc = anchorOf(row % P.anchors);
  var p: array<f32, ${g.regMax}>;
  var d: vec4<f32>;
  for (var s = 0u; s < 4u; s++) { d[s] = sideDistribution((row * 4u + s) * R, &p).x; }
  PRED[row] = vec4<f32>(anc.x - d.x, anc.y - d.y, anc.x + d.z, anc.y + d.w) * anc.stride;
  CLAIM[2u * row] = 0;
  CLAIM[2u * row + 1u] = 0x7fffffff;
}`,
    },
    params,
    grid1d(engine, rows, ANCHOR_WG),
  );
  if (chunk.gtCount > 0) {
    launchLoss(
      engine,
      g,
      {
        key: 'loss-topk',
        name: 'assigner top-k',
        workgroupSize: BOX_WG,
        bindings: [
          ['TOP: array<i32>', b.topk],
          ['PRED: array<vec4<f32>>', b.pred],
          ['CLS: array<f32>', b.cls],
          ['GT: array<u32>', gts],
        ],
        wgsl: () => /* wgsl */ `
const TOPK: u32 = ${TOPK}u;
${ALIGNMENT_WGSL}
var<workgroup> wv: array<f32, WG>;
var<workgroup> wa: array<u32, WG>;
var<workgroup> wt: array<u32, WG>;
/** Metric order: larger first, the lower anchor on ties (torch.topk's pick among equal values). */
fn better(va: f32, ia: u32, vb: f32, ib: u32) -> bool { return va > vb || (va == vb && ia < ib); }
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let local = wid.x + wid.y * nwg.x;
  if (local >= P.gtCount) { return; }
  let g = P.gtBegin + local;
  let base = (gtImage(g) - P.firstImage) * P.anchors;
  // Each thread keeps its own top-k, sorted; anchors come in increasing order.
  var vals: array<f32, TOPK>;
  var idxs: array<u32, TOPK>;
  for (var k = 0u; k < TOPK; k++) { vals[k] = -1.0; idxs[k] = 0xffffffffu; }
  for (var a = lid; a < P.anchors; a += WG) {
    let m = alignmentOf(g, base + a, anchorOf(a)).x;
    if (!better(m, a, vals[TOPK - 1u], idxs[TOPK - 1u])) { continue; }
    var j = TOPK - 1u;
    loop {
      if (j == 0u || !better(m, a, vals[j - 1u], idxs[j - 1u])) { break; }
      vals[j] = vals[j - 1u];
      idxs[j] = idxs[j - 1u];
      j--;
    }
    vals[j] = m;
    idxs[j] = a;
  }
  // TOPK rounds of a workgroup arg-max over the threads' heads; the winner pops its head.
  var head = 0u;
  for (var r = 0u; r < TOPK; r++) {
    let h = min(head, TOPK - 1u);
    wv[lid] = select(-1.0, vals[h], head < TOPK);
    wa[lid] = select(0xffffffffu, idxs[h], head < TOPK);
    wt[lid] = lid;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s && better(wv[lid + s], wa[lid + s], wv[lid], wa[lid])) {
        wv[lid] = wv[lid + s];
        wa[lid] = wa[lid + s];
        wt[lid] = wt[lid + s];
      }
      workgroupBarrier();
    }
    let a = wa[0];
    if (lid == wt[0]) { head++; }
    if (lid == 0u) {
      let candidate = a != 0xffffffffu && gtValid(g) && insideBox(candidateBox(g), anchorOf(a));
      TOP[local * TOPK + r] = select(-1, i32(a), candidate);
    }
    workgroupBarrier();
  }
}`,
      },
      params,
      grid1d(engine, chunk.gtCount, 1),
    );
    launchLoss(
      engine,
      g,
      {
        key: 'loss-claim',
        name: 'assigner claim',
        workgroupSize: ANCHOR_WG,
        bindings: [
          ['CLAIM: array<atomic<i32>>', b.claim],
          ['TOP: array<i32>', b.topk],
          ['GT: array<u32>', gts],
        ],
        wgsl: () => /* wgsl */ `${GT_WGSL}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = linearIndex(gid, groups);
  if (i >= P.gtCount * ${TOPK}u) { return; }
  let a = TOP[i];
  if (a < 0) { return; }
  let g = P.gtBegin + i / ${TOPK}u;
  let row = (gtImage(g) - P.firstImage) * P.anchors + u32(a);
  atomicAdd(&CLAIM[2u * row], 1);
  atomicMin(&CLAIM[2u * row + 1u], i32(g));
}`,
      },
      params,
      grid1d(engine, chunk.gtCount * TOPK, ANCHOR_WG),
    );
  }
  launchLoss(
    engine,
    g,
    {
      key: 'loss-resolve',
      name: 'assigner resolve',
      workgroupSize: ANCHOR_WG,
      bindings: [
        ['ASSIGNED: array<u32>', b.assigned],
        ['CLAIM: array<i32>', b.claim],
        ['PRED: array<vec4<f32>>', b.pred],
        ['CLS: array<f32>', b.cls],
        ['GT: array<u32>', gts],
        ['START: array<i32>', start],
      ],
      wgsl: () => /* wgsl */ `${ALIGNMENT_WGSL}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = linearIndex(gid, groups);
  if (row >= P.images * P.anchors) { return; }
  let anc = anchorOf(row % P.anchors);
  let claims = CLAIM[2u * row];
  var g = -1;
  if (claims == 1) {
    g = CLAIM[2u * row + 1u];
  } else if (claims > 1) {
    // The box of this image with the largest overlap (the first on ties), claimant or not.
    let image = P.firstImage + row / P.anchors;
    let first = u32(START[image]);
    var best = first;
    var bestOverlap = overlapOf(first, row, anc);
    for (var h = first + 1u; h < u32(START[image + 1u]); h++) {
      let o = overlapOf(h, row, anc);
      if (o > bestOverlap) {
        best = h;
        bestOverlap = o;
      }
    }
    g = i32(best);
  }
  var m = vec2<f32>(0.0, 0.0);
  if (g >= 0) { m = alignmentOf(u32(g), row, anc); }
  ASSIGNED[4u * row] = bitcast<u32>(g);
  ASSIGNED[4u * row + 1u] = bitcast<u32>(m.x);
  ASSIGNED[4u * row + 2u] = bitcast<u32>(m.y);
}`,
    },
    params,
    grid1d(engine, rows, ANCHOR_WG),
  );
  if (chunk.gtCount === 0) return;
  launchLoss(
    engine,
    g,
    {
      key: 'loss-box-max',
      name: 'assigner box maxima',
      workgroupSize: BOX_WG,
      bindings: [
        ['BOXMAX: array<vec2<f32>>', b.boxMax],
        ['ASSIGNED: array<u32>', b.assigned],
        ['GT: array<u32>', gts],
      ],
      wgsl: () => /* wgsl */ `${GT_WGSL}
var<workgroup> wm: array<vec2<f32>, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let local = wid.x + wid.y * nwg.x;
  if (local >= P.gtCount) { return; }
  let g = P.gtBegin + local;
  let base = (gtImage(g) - P.firstImage) * P.anchors;
  var m = vec2<f32>(0.0, 0.0);
  for (var a = lid; a < P.anchors; a += WG) {
    let row = base + a;
    if (bitcast<i32>(ASSIGNED[4u * row]) == i32(g)) {
      m = max(m, vec2<f32>(bitcast<f32>(ASSIGNED[4u * row + 1u]), bitcast<f32>(ASSIGNED[4u * row + 2u])));
    }
  }
  wm[lid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { wm[lid] = max(wm[lid], wm[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { BOXMAX[local] = wm[0]; }
}`,
    },
    params,
    grid1d(engine, chunk.gtCount, 1),
  );
}
