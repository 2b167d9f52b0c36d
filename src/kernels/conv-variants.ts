import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { DType } from '../gpu/dtype.js';
import type { Engine } from '../gpu/engine.js';
import type { ConvGeometry } from './conv2d.js';
import { SUBGROUP_VARIANT_FORMAT } from './subgroup-tiles.js';

/** The three convolution operations whose kernel a variant table can pick. */
export type ConvOp = 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad';

/**
 * Kernel variants measured best on one device for given convolution shapes, keyed by
 * `convShapeKey` (written by `yolo-wgpu bench tune`, or by bench/device/conv-tc.mjs --variants
 * after its per-layer sweep).
 * A shape without an entry keeps the default choice; an entry is used exactly as the
 * operation's `variant` option would be (`simt`, SIMT tiles, `direct`, `sg`, `sg:...`).
 */
export type ConvVariantTable = Readonly<Record<string, string>>;

/** Operation, activation dtype and the whole geometry: one GEMM problem per key. */
export function convShapeKey(op: ConvOp, dtype: DType, g: ConvGeometry): string {
  return `${op}:${dtype}:${g.n}x${g.h}x${g.w}x${g.cin}>${g.cout}:k${g.kh}x${g.kw}:s${g.sh}x${g.sw}:p${g.ph}x${g.pw}:g${g.groups}`;
}

/** The variant the engine's table names for this operation and shape, if any. */
export function tableVariant(engine: Engine, op: ConvOp, dtype: DType, g: ConvGeometry): string | undefined {
  return engine.convVariants[convShapeKey(op, dtype, g)];
}

const KEY = /^(conv2d|conv2dInputGrad|conv2dWeightGrad):(f16|f32):\d+x\d+x\d+x(\d+)>(\d+):k\d+x\d+:s\d+x\d+:p\d+x\d+:g(\d+)$/;

/** The operation, dtype and channels of a shape key (null if it is not one). */
export function parseConvShapeKey(key: string): { op: ConvOp; dtype: DType; cin: number; cout: number; groups: number } | null {
  const m = KEY.exec(key);
  return m ? { op: m[1] as ConvOp, dtype: m[2] as DType, cin: Number(m[3]), cout: Number(m[4]), groups: Number(m[5]) } : null;
}
const VARIANT = /^(simt|direct(?:\/\d+)?|sg(?:\/[12])?(?:@[12])?|sg:[\w:/@]+|\d+x\d+:[\w:/]+)$/;

/** Reads and checks a variant table file: a JSON object of shape keys to variant names. */
export function readConvVariantTable(path: string): ConvVariantTable {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: not a readable JSON file (${(e as Error).message})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${path}: expected a JSON object of convolution shape keys to kernel variants`);
  for (const [key, variant] of Object.entries(doc)) {
    if (!KEY.test(key)) throw new UserError(`${path}: key "${key}" is not a convolution shape key (e.g. "conv2d:f16:64x160x160x32>32:k3x3:s1x1:p1x1:g1")`);
    if (typeof variant !== 'string' || !VARIANT.test(variant)) throw new UserError(`${path}: "${key}" maps to ${JSON.stringify(variant)}, expected a kernel variant (simt, direct, ${SUBGROUP_VARIANT_FORMAT} or BMxBN:TMxTN:BK)`);
  }
  return doc as ConvVariantTable;
}
