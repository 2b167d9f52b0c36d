/**
 * ONNX emitter of the detection head and its inference decode, as the reference exports it:
 * [B, 4 + nc, anchors], the box as centre x, y, width, height in input pixels, then the class
 * sigmoids. Anchor points are computed from each level's runtime shape, so the same graph
 * serves fixed and symbolic (--dynamic) input sizes. The decode's arithmetic follows the
 * engine's (`decode.ts`) operation for operation.
 */
import { attr, DataType } from '../../io/onnx-proto.js';
import type { Detect } from '../modules/detect.js';
import { emitModule, type EmitContext } from './emitters.js';
import type { GraphBuilder } from './graph.js';

/** Cell centres (x + 0.5, y + 0.5) of a level's grid as [2, h w] and its stride as [1, h w] (f32). */
function levelAnchors(g: GraphBuilder, scope: string, map: string, stride: number): { points: string; strides: string } {
  const hw = g.op(scope, 'Slice', [g.op(scope, 'Shape', [map]), g.ints([2]), g.ints([4])]);
  const ones = g.op(scope, 'ConstantOfShape', [hw], [attr.tensor('value', { name: 'value', dataType: DataType.FLOAT, dims: [1], floatData: [1] })]);
  const half = g.floats32(`${scope}.half`, [], Float32Array.of(0.5));
  const row = (t: string) => g.op(scope, 'Reshape', [t, g.ints([1, -1])]);
  const centres = [1, 0].map((axis) => row(g.op(scope, 'Sub', [g.op(scope, 'CumSum', [ones, g.ints([axis], [])]), half])));
  const s = g.floats32(`${scope}.stride`, [], Float32Array.of(stride));
  return { points: g.op(scope, 'Concat', centres, [attr.int('axis', 0)]), strides: g.op(scope, 'Mul', [row(ones), s]) };
}

/** In the graph's precision (a Cast in f16 graphs). */
function toFloatType(g: GraphBuilder, scope: string, x: string): string {
  return g.half ? g.op(scope, 'Cast', [x], [attr.int('to', DataType.FLOAT16)]) : x;
}

/** Emits Detect on the level maps `xs`; returns the decoded [B, 4 + nc, anchors]. */
export function emitDetect(m: Detect, xs: readonly string[], strides: readonly number[], c: EmitContext): string {
  const box = xs.map((x, i) => emitModule(m.cv2.items[i], x, c));
  const cls = xs.map((x, i) => emitModule(m.cv3.items[i], x, c));
  return emitDecode(c.g, c.path(m), { box, cls, regMax: m.regMax, nc: m.nc }, strides);
}

/** The head's raw NCHW maps per level: `box` [B, 4 regMax, H, W] DFL logits (side-major), `cls` [B, nc, H, W] logits. */
export interface RawHeadValues {
  box: readonly string[];
  cls: readonly string[];
  regMax: number;
  nc: number;
}

/** The inference decode of the raw maps to [B, 4 + nc, anchors]. */
export function emitDecode(g: GraphBuilder, p: string, raw: RawHeadValues, strides: readonly number[]): string {
  const r = raw.regMax;
  const cat = (parts: string[], axis: number) => g.op(p, 'Concat', parts, [attr.int('axis', axis)]);
  const flat = (t: string, channels: number) => g.op(p, 'Reshape', [t, g.ints([0, channels, -1])]);
  const box = cat(raw.box.map((b) => flat(b, 4 * r)), 2);
  const cls = cat(raw.cls.map((b) => flat(b, raw.nc)), 2);
  const anchors = raw.box.map((b, i) => levelAnchors(g, `${p}.anchors.${i}`, b, strides[i]));
  const points = toFloatType(g, p, cat(anchors.map((a) => a.points), 1));
  const stride = toFloatType(g, p, cat(anchors.map((a) => a.strides), 1));
  // DFL: softmax over each side's bins, expectation with the bins 0..regMax-1 -> [B, 4, A] (left, top, right, bottom).
  const probs = g.op(`${p}.dfl`, 'Softmax', [g.op(`${p}.dfl`, 'Reshape', [box, g.ints([0, 4, r, -1])])], [attr.int('axis', 2)]);
  const bins = g.floats(`${p}.dfl.bins`, [1, r], Float32Array.from({ length: r }, (_, i) => i));
  const dist = g.op(`${p}.dfl`, 'Reshape', [g.op(`${p}.dfl`, 'MatMul', [bins, probs]), g.ints([0, 4, -1])]);
  const [lt, rb] = g.opN(p, 'Split', [dist, g.ints([2, 2])], 2, [attr.int('axis', 1)]);
  // As decode.ts: centre = (anchor + 0.5 (rb - lt)) stride, size = (lt + rb) stride.
  const offset = g.op(p, 'Mul', [g.op(p, 'Sub', [rb, lt]), g.scalar(0.5)]);
  const xy = g.op(p, 'Mul', [g.op(p, 'Add', [points, offset]), stride]);
  const wh = g.op(p, 'Mul', [g.op(p, 'Add', [lt, rb]), stride]);
  return cat([xy, wh, g.op(p, 'Sigmoid', [cls])], 1);
}
