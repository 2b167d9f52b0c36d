/**
 * ONNX emitters of the single-input modules: each writes the nodes of its module's eval forward
 * (NCHW, BatchNorm folded into the convolutions) and returns the name of its output value.
 * One small function per module class, looked up along the class chain (C3k2 is a C2f, C3k a C3,
 * DWConv a Conv).
 */
import { UserError } from '../../errors.js';
import { attr } from '../../io/onnx-proto.js';
import { Conv2d } from '../../nn/conv2d.js';
import type { HostEntry, Module } from '../../nn/module.js';
import { Sequential } from '../../nn/sequential.js';
import { Attention } from '../modules/attention.js';
import { Bottleneck } from '../modules/bottleneck.js';
import { C2f } from '../modules/c2f.js';
import { C3 } from '../modules/c3.js';
import { Conv } from '../modules/conv.js';
import { C2PSA, PSABlock } from '../modules/psa.js';
import { Upsample } from '../modules/resample.js';
import { SPPF } from '../modules/sppf.js';
import { foldBatchNorm } from './fold-bn.js';
import type { GraphBuilder } from './graph.js';

export interface EmitContext {
  g: GraphBuilder;
  /** The module's name in the state dict, e.g. `model.2.cv1`. */
  path(m: Module): string;
  /** A tensor of the state dict (PyTorch names and layouts). */
  tensor(name: string): HostEntry;
}

type Emitter<M extends Module> = (m: M, x: string, c: EmitContext) => string;

/** Conv2d + BatchNorm (folded) + SiLU. */
const conv: Emitter<Conv> = (m, x, c) => {
  const p = c.path(m);
  const t = (name: string) => c.tensor(`${p}.${name}`);
  const folded = foldBatchNorm(t('conv.weight'), {
    weight: t('bn.weight'),
    bias: t('bn.bias'),
    runningMean: t('bn.running_mean'),
    runningVar: t('bn.running_var'),
    eps: m.bn.state.eps,
  });
  const y = c.g.conv(`${p}.conv`, x, folded.weight, folded.bias, m.conv);
  return m.act ? c.g.silu(`${p}.act`, y) : y;
};

/** A plain Conv2d (the head's last 1x1 convolutions, with bias). */
const conv2d: Emitter<Conv2d> = (m, x, c) => {
  const p = c.path(m);
  return c.g.conv(p, x, c.tensor(`${p}.weight`), m.bias ? c.tensor(`${p}.bias`).data : null, m);
};

const sequential: Emitter<Sequential> = (m, x, c) => m.items.reduce((h, item) => emitModule(item, h, c), x);

const bottleneck: Emitter<Bottleneck> = (m, x, c) => {
  const y = emitModule(m.cv2, emitModule(m.cv1, x, c), c);
  return m.residual ? c.g.op(c.path(m), 'Add', [x, y]) : y;
};

/** Splits channels (axis 1) into parts of the given sizes. */
function splitChannels(c: EmitContext, scope: string, x: string, sizes: number[]): string[] {
  return c.g.opN(scope, 'Split', [x, c.g.ints(sizes)], sizes.length, [attr.int('axis', 1)]);
}

const concatChannels = (c: EmitContext, scope: string, xs: string[]) => c.g.op(scope, 'Concat', xs, [attr.int('axis', 1)]);

const c2f: Emitter<C2f> = (m, x, c) => {
  const p = c.path(m);
  const parts = splitChannels(c, p, emitModule(m.cv1, x, c), [m.c, m.c]);
  for (const block of m.m.items) parts.push(emitModule(block, parts[parts.length - 1], c));
  return emitModule(m.cv2, concatChannels(c, p, parts), c);
};

const c3: Emitter<C3> = (m, x, c) => {
  const a = emitModule(m.m, emitModule(m.cv1, x, c), c);
  const b = emitModule(m.cv2, x, c);
  return emitModule(m.cv3, concatChannels(c, c.path(m), [a, b]), c);
};

const sppf: Emitter<SPPF> = (m, x, c) => {
  const p = c.path(m);
  const pad = Math.floor(m.k / 2);
  const pool = [attr.ints('kernel_shape', [m.k, m.k]), attr.ints('pads', [pad, pad, pad, pad]), attr.ints('strides', [1, 1])];
  const maps = [emitModule(m.cv1, x, c)];
  for (let i = 0; i < 3; i++) maps.push(c.g.op(p, 'MaxPool', [maps[i]], pool));
  return emitModule(m.cv2, concatChannels(c, p, maps), c);
};

const upsample: Emitter<Upsample> = (m, x, c) => {
  const s = m.scale;
  const scales = c.g.floats32(`${c.path(m)}.scales`, [4], Float32Array.of(1, 1, s, s));
  return c.g.op(c.path(m), 'Resize', [x, '', scales], [
    attr.string('coordinate_transformation_mode', 'asymmetric'),
    attr.string('mode', 'nearest'),
    attr.string('nearest_mode', 'floor'),
  ]);
};

/**
 * The reference's Attention.forward: qkv viewed as [B, heads, 2 kd + hd, N] and split; attention =
 * softmax(q^T k * scale) over the keys; v attn^T back to [B, C, H, W] (the input's shape) plus pe(v).
 */
const attention: Emitter<Attention> = (m, x, c) => {
  const { g } = c;
  const p = c.path(m);
  const { numHeads: heads, keyDim: kd, headDim: hd } = m;
  const qkv = g.op(p, 'Reshape', [emitModule(m.qkv, x, c), g.ints([0, heads, 2 * kd + hd, -1])]);
  const [q, k, v] = g.opN(p, 'Split', [qkv, g.ints([kd, kd, hd])], 3, [attr.int('axis', 2)]);
  const transposeLast = (t: string) => g.op(p, 'Transpose', [t], [attr.ints('perm', [0, 1, 3, 2])]);
  const scores = g.op(p, 'Mul', [g.op(p, 'MatMul', [transposeLast(q), k]), g.scalar(m.scale)]);
  const attn = g.op(p, 'Softmax', [scores], [attr.int('axis', -1)]);
  const imageShape = g.op(p, 'Shape', [x]);
  const mixed = g.op(p, 'Reshape', [g.op(p, 'MatMul', [v, transposeLast(attn)]), imageShape]);
  const pe = emitModule(m.pe, g.op(p, 'Reshape', [v, imageShape]), c);
  return emitModule(m.proj, g.op(p, 'Add', [mixed, pe]), c);
};

const psaBlock: Emitter<PSABlock> = (m, x, c) => {
  const p = c.path(m);
  const a = emitModule(m.attn, x, c);
  const h = m.residual ? c.g.op(p, 'Add', [x, a]) : a;
  const f = emitModule(m.ffn, h, c);
  return m.residual ? c.g.op(p, 'Add', [h, f]) : f;
};

const c2psa: Emitter<C2PSA> = (m, x, c) => {
  const p = c.path(m);
  const [a, b] = splitChannels(c, p, emitModule(m.cv1, x, c), [m.c, m.c]);
  return emitModule(m.cv2, concatChannels(c, p, [a, emitModule(m.m, b, c)]), c);
};

type ModuleClass = abstract new (...args: never[]) => Module;
const EMITTERS: [ModuleClass, Emitter<never>][] = [
  [Conv, conv],
  [Conv2d, conv2d],
  [Sequential, sequential],
  [Bottleneck, bottleneck],
  [C2f, c2f],
  [C3, c3],
  [SPPF, sppf],
  [Upsample, upsample],
  [Attention, attention],
  [PSABlock, psaBlock],
  [C2PSA, c2psa],
];

/** Emits a single-input module's nodes on input value `x`; returns its output value. */
export function emitModule(m: Module, x: string, c: EmitContext): string {
  const entry = EMITTERS.find(([cls]) => m instanceof cls);
  if (!entry) throw new UserError(`ONNX export: ${m.constructor.name} (${c.path(m)}) has no ONNX emitter`);
  return (entry[1] as Emitter<Module>)(m, x, c);
}
