/**
 * The reference's training transforms (`v8_transforms`) and validation transform, on one sample:
 *
 * train: Mosaic(p=mosaic) -> RandomPerspective (LetterBox first when no mosaic) -> MixUp(p)
 *        -> CutMix(p) -> RandomHSV -> RandomFlip(vertical, flipud) -> RandomFlip(horizontal, fliplr)
 * val:   LetterBox(shape, scaleup=false)
 *
 * Randomness is split in two streams per sample, both derived from (seed, epoch, index): the
 * *plan* (which partner images a mosaic/mixup/cutmix uses, drawn from a pool of indices) is made
 * first so that the images can be loaded before the CPU work; the *augmentation* stream then
 * drives centres, matrices, gains and flips. Nothing depends on other samples or on workers.
 */
import type { LetterboxGeometry, RgbImage } from '../image.js';
import { applyLetterbox, letterboxGeometry } from '../image.js';
import { Rng } from '../rng.js';
import type { PerspectiveHyp } from './affine.js';
import { randomPerspective } from './affine.js';
import { cutmix } from './cutmix.js';
import type { HsvLuts } from './hsv.js';
import { drawMixupRatio, mixup } from './mixup.js';
import { mosaicCentre, mosaicRows } from './mosaic.js';
import type { PixelOps } from './pixel-ops.js';
import { applyPixelOps, drawPixelOps } from './pixel-ops.js';
import type { Sample } from './sample.js';
import { xywhnToXyxy } from './sample.js';

/** Augmentation hyper-parameters, named as the reference's (defaults: `cfg/default.yaml`). */
export interface AugmentHyp extends PerspectiveHyp {
  mosaic: number;
  mixup: number;
  cutmix: number;
  hsv_h: number;
  hsv_s: number;
  hsv_v: number;
  flipud: number;
  fliplr: number;
}

export const DEFAULT_AUGMENT: Readonly<AugmentHyp> = Object.freeze({
  mosaic: 1.0,
  mixup: 0.0,
  cutmix: 0.0,
  degrees: 0.0,
  translate: 0.1,
  scale: 0.5,
  shear: 0.0,
  perspective: 0.0,
  hsv_h: 0.015,
  hsv_s: 0.7,
  hsv_v: 0.4,
  flipud: 0.0,
  fliplr: 0.5,
});

/** Images and labels by dataset index, already loaded (long side resized to imgsz). */
export interface SampleSource {
  image(index: number): RgbImage;
  /** cls and xywh-normalized boxes. */
  labels(index: number): { cls: ArrayLike<number>; bboxes: ArrayLike<number> };
}

/** Which images one training sample is made of. */
export interface SamplePlan {
  index: number;
  /** The 3 mosaic partners, or empty when the mosaic is not applied. */
  partners: number[];
  mixup: SamplePlan | null;
  cutmix: SamplePlan | null;
}

/** Stream ids mixed into Rng.derive(seed, epoch, index, stream). */
export const STREAM = { plan: 1, augment: 2, mixup: 3, cutmix: 4 } as const;

/**
 * Draws the plan of sample `index`. `mosaicOn` false (close_mosaic, rect) disables mosaic,
 * mixup and cutmix as the reference's `close_mosaic` does.
 */
export function planSample(index: number, pool: readonly number[], rng: Rng, hyp: AugmentHyp, mosaicOn: boolean): SamplePlan {
  const pre = (i: number): SamplePlan => ({
    index: i,
    partners: mosaicOn && rng.chance(hyp.mosaic) ? [rng.choice(pool), rng.choice(pool), rng.choice(pool)] : [],
    mixup: null,
    cutmix: null,
  });
  const plan = pre(index);
  if (mosaicOn && rng.chance(hyp.mixup)) plan.mixup = pre(rng.choice(pool));
  if (mosaicOn && rng.chance(hyp.cutmix)) plan.cutmix = pre(rng.choice(pool));
  return plan;
}

/** Every dataset index a plan reads. */
export function planIndices(plan: SamplePlan, into: Set<number> = new Set()): Set<number> {
  into.add(plan.index);
  for (const p of plan.partners) into.add(p);
  if (plan.mixup) planIndices(plan.mixup, into);
  if (plan.cutmix) planIndices(plan.cutmix, into);
  return into;
}

export interface TrainContext {
  imgsz: number;
  hyp: AugmentHyp;
  /** Output [h, w] without mosaic (rect training); default [imgsz, imgsz]. */
  shape?: [number, number];
  /** Reusable 2·imgsz square canvas for the mosaic. */
  canvas?: Uint8Array;
}

function part(src: SampleSource, i: number): Sample {
  const img = src.image(i);
  const { cls, bboxes } = src.labels(i);
  return { img: img.data, width: img.width, height: img.height, boxes: xywhnToXyxy(bboxes, img.width, img.height), cls: Array.from(cls) };
}

/**
 * Mosaic + RandomPerspective, or LetterBox + RandomPerspective (the reference's pre_transform);
 * `pixelOps` (HSV, flips) drawn after the matrix and applied with the warp.
 */
function preTransform(plan: SamplePlan, src: SampleSource, rng: Rng, ctx: TrainContext, out?: Uint8Array, pixelOps?: () => PixelOps): Sample {
  const s = ctx.imgsz;
  if (plan.partners.length === 3) {
    const parts = [plan.index, ...plan.partners].map((i) => part(src, i));
    const { xc, yc } = mosaicCentre(rng, s);
    const m = mosaicRows(parts, s, xc, yc, ctx.canvas);
    return randomPerspective(m, rng, ctx.hyp, -Math.floor(s / 2), { out, pixelOps });
  }
  const p = part(src, plan.index);
  const shape = ctx.shape ?? [s, s];
  const g = letterboxGeometry(p.height, p.width, shape);
  if (g.newUnpad[0] === p.width && g.newUnpad[1] === p.height) {
    // Padding only: warp straight from the unpadded image (identical pixels, no copy).
    const frame = { width: g.shape[1], height: g.shape[0], offsetX: g.left, offsetY: g.top };
    return randomPerspective(p, rng, ctx.hyp, 0, { out, frame, pixelOps });
  }
  const lb = applyLetterbox({ data: p.img, width: p.width, height: p.height }, g);
  const r = g.ratio[0];
  const boxes = p.boxes.map((v, k) => v * r + (k % 2 === 0 ? g.left : g.top));
  return randomPerspective({ img: lb.data, width: lb.width, height: lb.height, boxes, cls: p.cls }, rng, ctx.hyp, 0, { out, pixelOps });
}

/**
 * A training sample whose HSV is still to apply: `hsv` holds the LUTs of the gains drawn for
 * it (null when every gain is 0). HSV is the last pixel op of the reference (after mixup and
 * cutmix; the flips that follow it commute with a per-pixel op), so the data loader leaves it
 * to the GPU, which applies it while it expands the batch (`imagesToTensor`); `applyHsvLuts`
 * is the CPU version.
 */
export interface TrainSample extends Sample {
  hsv: HsvLuts | null;
}

/** One augmented training sample, before HSV; written into `out` (h·w·3 of the output shape) when given. */
export function trainSample(plan: SamplePlan, src: SampleSource, seedKeys: readonly number[], ctx: TrainContext, out?: Uint8Array): TrainSample {
  const rng = Rng.derive(...seedKeys, STREAM.augment);
  // HSV and flips come after mixup/cutmix; without those, they are the next draws of this
  // stream after the matrix (mixup and cutmix draw from their own), so the warp applies the
  // flips. The HSV gains are drawn at the same point, their LUTs returned instead of applied.
  const drawn: { hsv: HsvLuts | null } = { hsv: null };
  const drawOps = (): PixelOps => {
    const ops = drawPixelOps(rng, ctx.hyp);
    drawn.hsv = ops.hsv;
    return { ...ops, hsv: null };
  };
  const mixed = plan.mixup !== null || plan.cutmix !== null;
  const s = preTransform(plan, src, rng, ctx, out, mixed ? undefined : drawOps);
  if (plan.mixup) {
    const mixRng = Rng.derive(...seedKeys, STREAM.mixup);
    const other = preTransform(plan.mixup, src, mixRng, ctx);
    mixup(s, other, drawMixupRatio(mixRng));
  }
  if (plan.cutmix) {
    const cutRng = Rng.derive(...seedKeys, STREAM.cutmix);
    const other = preTransform(plan.cutmix, src, cutRng, ctx);
    cutmix(s, other, cutRng);
  }
  if (mixed) applyPixelOps(s, drawOps());
  return { ...s, hsv: drawn.hsv };
}

/** Validation / inference sample: LetterBox(shape, scaleup=false), boxes scaled and shifted. */
export function valSample(index: number, src: SampleSource, shape: [number, number], out?: Uint8Array): { sample: Sample; geometry: LetterboxGeometry } {
  const p = part(src, index);
  const g = letterboxGeometry(p.height, p.width, shape, { scaleup: false });
  const lb = applyLetterbox({ data: p.img, width: p.width, height: p.height }, g, out);
  const r = g.ratio[0];
  const boxes = p.boxes.map((v, k) => v * r + (k % 2 === 0 ? g.left : g.top));
  return { sample: { img: lb.data, width: lb.width, height: lb.height, boxes, cls: p.cls }, geometry: g };
}
