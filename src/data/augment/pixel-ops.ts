/**
 * What follows the geometry in the reference's training pipeline: RandomHSV, then
 * RandomFlip(vertical), then RandomFlip(horizontal). Drawn together (same draws, same order),
 * so that the axis-aligned warp can apply them while it writes each row: the flips by
 * mirroring its row and column maps, HSV on the row while it is in cache.
 */
import type { Rng } from '../rng.js';
import { flipBoxesLR, flipBoxesUD, flipImageLR, flipImageUD } from './flip.js';
import type { HsvLuts } from './hsv.js';
import { applyHsvLuts, drawHsvGains, hsvLuts } from './hsv.js';
import type { Sample } from './sample.js';

export interface PixelOps {
  /** null when every gain is 0. */
  hsv: HsvLuts | null;
  flipUD: boolean;
  flipLR: boolean;
}

export interface PixelOpsHyp {
  hsv_h: number;
  hsv_s: number;
  hsv_v: number;
  flipud: number;
  fliplr: number;
}

/** The HSV gains, then the vertical and the horizontal flip, as the reference draws them. */
export function drawPixelOps(rng: Rng, hyp: PixelOpsHyp): PixelOps {
  const r = drawHsvGains(rng, { h: hyp.hsv_h, s: hyp.hsv_s, v: hyp.hsv_v });
  const hsv = r[0] === 0 && r[1] === 0 && r[2] === 0 ? null : hsvLuts(r);
  const flipUD = rng.chance(hyp.flipud);
  const flipLR = rng.chance(hyp.fliplr);
  return { hsv, flipUD, flipLR };
}

/** Applies the ops to the pixels of a w x h image in place. */
export function applyPixelOpsToImage(img: Uint8Array, w: number, h: number, ops: PixelOps): void {
  if (ops.hsv) applyHsvLuts(img, 0, w * h * 3, ops.hsv);
  if (ops.flipUD) flipImageUD(img, w, h);
  if (ops.flipLR) flipImageLR(img, w, h);
}

/** Mirrors xyxy boxes as the ops' flips mirror the pixels. */
export function flipBoxes(boxes: number[], w: number, h: number, ops: PixelOps): void {
  if (ops.flipUD) flipBoxesUD(boxes, h);
  if (ops.flipLR) flipBoxesLR(boxes, w);
}

/** Applies the ops to a sample: pixels and boxes. */
export function applyPixelOps(s: Sample, ops: PixelOps): void {
  applyPixelOpsToImage(s.img, s.width, s.height, ops);
  flipBoxes(s.boxes, s.width, s.height, ops);
}
