/**
 * Builds one batch from a job (indices, shape, epoch): loads the images the batch needs
 * (RAM cache, disk cache or decode), runs the training or validation transforms per sample
 * straight into the batch buffer, and collates the labels. The same code runs in a loader
 * worker and in-process (0 workers), so a batch is the same bytes either way.
 */
import { statSync } from 'node:fs';
import type { HsvLuts } from './augment/hsv.js';
import { HSV_LUT_BYTES } from '../kernels/hsv.wgsl.js';
import { applyHsvLuts, packHsvLuts } from './augment/hsv.js';
import type { AugmentHyp, SamplePlan, SampleSource } from './augment/pipeline.js';
import { planIndices, planSample, STREAM, trainSample, valSample } from './augment/pipeline.js';
import type { Sample } from './augment/sample.js';
import { multiScaleShape } from './batches.js';
import { diskCachePath, readNpy, writeNpy } from './disk-cache.js';
import type { RgbImage } from './image.js';
import { PAD_VALUE, decodeImage, resizedShape, resizeLongSide } from './image.js';
import type { RamCacheLayout } from './ram-cache.js';
import { ramImage, storeRamImage } from './ram-cache.js';
import { resizeBilinear } from './resize.js';
import { Rng } from './rng.js';

/** The dataset as flat arrays (cheap to send to workers). */
export interface LoaderData {
  files: string[];
  /** Original [h, w] per image (after EXIF orientation), 2 per image. */
  shapes: Int32Array;
  /** Label rows of image i: labelStart[i] .. labelStart[i + 1]. */
  labelStart: Int32Array;
  cls: Float32Array;
  /** xywh normalized, 4 per row. */
  bboxes: Float32Array;
}

export interface BuilderConfig {
  imgsz: number;
  stride: number;
  augment: boolean;
  hyp: AugmentHyp;
  seed: number;
  cache: 'none' | 'ram' | 'disk';
  ram?: RamCacheLayout;
}

export interface BatchJob {
  epoch: number;
  batchIndex: number;
  /** Dataset indices of the batch, in order. */
  indices: number[];
  /** Indices mosaic/mixup/cutmix partners are drawn from. */
  pool: number[];
  /** Output [h, w] before multi-scale (imgsz square, or the rect batch shape). */
  shape: [number, number];
  /** Mosaic (and mixup, cutmix) enabled this epoch. */
  mosaicOn: boolean;
  /** Multi-scale long-side size; equal to imgsz when off. */
  size: number;
}

export interface BatchData {
  epoch: number;
  batchIndex: number;
  /** B·H·W·3 RGB uint8, NHWC, before HSV. */
  images: Uint8Array;
  shape: [number, number, number, number];
  /**
   * The HSV still to apply to `images`: per image its hue, sat and val LUTs ([B, 3, 256],
   * `packHsvLuts`; an image marked HSV_SKIP gets none), null when no image gets any (validation,
   * gains 0). `imagesToTensor` applies them on the GPU, `applyBatchHsv` on the CPU.
   */
  hsv: Uint8Array | null;
  batchIdx: Float32Array;
  cls: Float32Array;
  bboxes: Float32Array;
  indices: number[];
  /** Per image: gain h, gain w, pad left, pad top (original -> network pixels). */
  ratioPad: Float64Array;
  warnings: string[];
}

/** [B, H, W] of a job's images (the multi-scale size applied). */
export function batchImageShape(job: BatchJob, imgsz: number, stride: number): [number, number, number] {
  const [bh, bw] = job.shape;
  const [H, W] = job.size === imgsz ? [bh, bw] : multiScaleShape([bh, bw], job.size, stride);
  return [job.indices.length, H, W];
}

/** A batch's `hsv` array from each image's LUTs (null: none); null when no image has any. */
function packBatchHsv(luts: readonly (HsvLuts | null)[]): Uint8Array | null {
  if (luts.every((l) => l === null)) return null;
  const hsv = new Uint8Array(luts.length * HSV_LUT_BYTES);
  luts.forEach((l, k) => packHsvLuts(hsv, k, l));
  return hsv;
}

export class BatchBuilder implements SampleSource {
  private readonly loaded = new Map<number, RgbImage>();
  private readonly failed = new Set<number>();
  private canvas: Uint8Array | null = null;
  /** The multi-scale sample before its resize, kept between batches of the same shape. */
  private scratch: Uint8Array | null = null;
  readonly warnings: string[] = [];

  constructor(
    readonly data: LoaderData,
    readonly config: BuilderConfig,
  ) {}

  image(i: number): RgbImage {
    const img = this.loaded.get(i);
    if (!img) throw new Error(`image ${i} was not loaded for this batch`);
    return img;
  }

  labels(i: number): { cls: Float32Array; bboxes: Float32Array } {
    if (this.failed.has(i)) return { cls: new Float32Array(0), bboxes: new Float32Array(0) };
    const a = this.data.labelStart[i];
    const b = this.data.labelStart[i + 1];
    return { cls: this.data.cls.subarray(a, b), bboxes: this.data.bboxes.subarray(a * 4, b * 4) };
  }

  /** The resized [h, w] of image i. */
  resizedShape(i: number): [number, number] {
    return resizedShape(this.data.shapes[2 * i], this.data.shapes[2 * i + 1], this.config.imgsz);
  }

  /** Loads (decodes and resizes, or reads from a cache) image i; a broken file becomes a gray image with a warning. */
  async loadImage(i: number): Promise<RgbImage> {
    const { cache, ram, imgsz } = this.config;
    if (cache === 'ram' && ram && ram.filled[i]) return ramImage(ram, i);
    const [h, w] = this.resizedShape(i);
    const file = this.data.files[i];
    let npy: string | null = null;
    if (cache === 'disk') {
      npy = diskCachePath(file, imgsz);
      let mtime = 0;
      try {
        mtime = statSync(file).mtimeMs;
      } catch {
        /* decode reports it */
      }
      const hit = readNpy(npy, { h, w, newerThanMs: mtime });
      if (hit) return hit;
    }
    let img: RgbImage;
    try {
      img = resizeLongSide(await decodeImage(file), imgsz);
      if (img.width !== w || img.height !== h) throw new Error(`decoded size ${img.width}x${img.height} differs from the verified ${w}x${h}`);
    } catch (err) {
      this.failed.add(i);
      this.warnings.push(`${file}: ${(err as Error).message}; replaced by a gray image without labels (run dataset check)`);
      return { data: new Uint8Array(w * h * 3).fill(PAD_VALUE), width: w, height: h };
    }
    if (npy) {
      const err = writeNpy(npy, img);
      if (err) this.warnings.push(`${npy}: not written (${err})`);
    }
    if (cache === 'ram' && ram) storeRamImage(ram, i, img);
    return img;
  }

  /** Decodes and stores images into the RAM cache (or writes .npy files for the disk cache). */
  async fill(indices: readonly number[]): Promise<{ warnings: string[] }> {
    this.warnings.length = 0;
    await Promise.all(indices.map((i) => this.loadImage(i)));
    return { warnings: [...this.warnings] };
  }

  /**
   * Builds a batch. `reuse`: a buffer of an earlier batch to write the images into (every byte
   * is overwritten), used when its size fits; fresh memory costs a page fault per 4 KB.
   */
  async build(job: BatchJob, reuse?: ArrayBuffer): Promise<BatchData> {
    const { config } = this;
    this.loaded.clear();
    this.failed.clear();
    this.warnings.length = 0;
    const keys = (i: number): number[] => [config.seed, job.epoch, i];
    const plans: SamplePlan[] = [];
    const needed = new Set<number>();
    for (const i of job.indices) {
      if (config.augment) {
        const plan = planSample(i, job.pool, Rng.derive(...keys(i), STREAM.plan), config.hyp, job.mosaicOn);
        plans.push(plan);
        planIndices(plan, needed);
      } else needed.add(i);
    }
    await Promise.all([...needed].map(async (i) => this.loaded.set(i, await this.loadImage(i))));

    const [B, H, W] = batchImageShape(job, config.imgsz, config.stride);
    const [bh, bw] = job.shape;
    const bytes = B * H * W * 3;
    const images = reuse?.byteLength === bytes ? new Uint8Array(reuse) : new Uint8Array(bytes);
    const slot = H * W * 3;
    let scratch: Uint8Array | null = null;
    if (H !== bh || W !== bw) {
      if (this.scratch?.length !== bh * bw * 3) this.scratch = new Uint8Array(bh * bw * 3);
      scratch = this.scratch;
    }
    // A materialized mosaic canvas is needed only by the rotating/shearing/perspective warp.
    const { degrees, shear, perspective } = config.hyp;
    if (config.augment && job.mosaicOn && (degrees || shear || perspective) && !this.canvas) {
      this.canvas = new Uint8Array(4 * config.imgsz * config.imgsz * 3);
    }
    const batchIdx: number[] = [];
    const cls: number[] = [];
    const bboxes: number[] = [];
    const ratioPad = new Float64Array(B * 4);
    const luts: (HsvLuts | null)[] = new Array<HsvLuts | null>(B).fill(null);
    for (let k = 0; k < B; k++) {
      const i = job.indices[k];
      const out = scratch ?? images.subarray(k * slot, (k + 1) * slot);
      let s: Sample;
      const [h0, w0] = [this.data.shapes[2 * i], this.data.shapes[2 * i + 1]];
      const [rh, rw] = this.resizedShape(i);
      if (config.augment) {
        const ctx = { imgsz: config.imgsz, hyp: config.hyp, shape: job.shape, canvas: this.canvas ?? undefined };
        const t = trainSample(plans[k], this, keys(i), ctx, out);
        s = t;
        if (t.hsv && scratch) {
          // Multi-scale resizes the sample: its HSV must come before, on the CPU.
          applyHsvLuts(t.img, 0, t.width * t.height * 3, t.hsv);
        } else luts[k] = t.hsv;
        ratioPad.set([rh / h0, rw / w0, 0, 0], k * 4);
      } else {
        const r = valSample(i, this, job.shape, out);
        s = r.sample;
        const g = r.geometry;
        ratioPad.set([(rh / h0) * g.ratio[1], (rw / w0) * g.ratio[0], g.left, g.top], k * 4);
      }
      if (s.width !== bw || s.height !== bh) throw new Error(`sample ${i} came out ${s.width}x${s.height}, expected ${bw}x${bh}`);
      if (scratch) resizeBilinear(s.img, bw, bh, W, H, images.subarray(k * slot, (k + 1) * slot));
      for (let b = 0; b < s.cls.length; b++) {
        const [x1, y1, x2, y2] = [s.boxes[b * 4], s.boxes[b * 4 + 1], s.boxes[b * 4 + 2], s.boxes[b * 4 + 3]];
        batchIdx.push(k);
        cls.push(s.cls[b]);
        bboxes.push((x1 + x2) / 2 / bw, (y1 + y2) / 2 / bh, (x2 - x1) / bw, (y2 - y1) / bh);
      }
    }
    return {
      epoch: job.epoch,
      batchIndex: job.batchIndex,
      images,
      shape: [B, H, W, 3],
      hsv: packBatchHsv(luts),
      batchIdx: Float32Array.from(batchIdx),
      cls: Float32Array.from(cls),
      bboxes: Float32Array.from(bboxes),
      indices: job.indices,
      ratioPad,
      warnings: [...this.warnings],
    };
  }
}
