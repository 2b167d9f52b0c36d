import { UserError } from '../../errors.js';
import type { Tensor } from '../../gpu/tensor.js';
import { copyInto } from '../../kernels/copy.js';
import { Params } from '../../kernels/launch.js';

/** Detection levels the loss kernels address (anchor tables live in the uniform block). */
export const MAX_LEVELS = 4;

/**
 * Where the anchors are: per level its grid and stride; anchors are numbered level by level,
 * row-major (y then x) within a level, and anchor (x, y) of a level sits at
 * ((x + 0.5) stride, (y + 0.5) stride) input pixels.
 */
export interface LossGeometry {
  batch: number;
  nc: number;
  regMax: number;
  heights: number[];
  widths: number[];
  strides: number[];
  /** First anchor of each level within an image. */
  starts: number[];
  /** Anchors per image. */
  anchors: number;
}

/** Checks the per-level head outputs against each other and the input size, and lays out the anchors. */
export function lossGeometry(box: readonly Tensor[], cls: readonly Tensor[], imgSize: readonly [number, number], nc: number, regMax: number): LossGeometry {
  const levels = box.length;
  if (levels === 0 || levels > MAX_LEVELS || cls.length !== levels) {
    throw new UserError(`detection loss: ${box.length} box and ${cls.length} class outputs; expected 1..${MAX_LEVELS} levels of each`);
  }
  const [h, w] = imgSize;
  const batch = box[0].shape[0];
  if (!(batch > 0)) throw new UserError(`detection loss: empty batch (box output 0 has shape [${box[0].shape}])`);
  const geometry: LossGeometry = { batch, nc, regMax, heights: [], widths: [], strides: [], starts: [], anchors: 0 };
  box.forEach((b, l) => {
    const c = cls[l];
    const [n, gh, gw] = b.shape;
    if (b.rank !== 4 || b.shape[3] !== 4 * regMax) throw new UserError(`detection loss: box output ${l} has shape [${b.shape}], expected [N, H, W, ${4 * regMax}]`);
    if (c.rank !== 4 || c.shape[0] !== n || c.shape[1] !== gh || c.shape[2] !== gw || c.shape[3] !== nc) {
      throw new UserError(`detection loss: class output ${l} has shape [${c.shape}], expected [${n}, ${gh}, ${gw}, ${nc}]`);
    }
    if (n !== batch) throw new UserError(`detection loss: level ${l} has batch ${n}, level 0 has ${batch}`);
    const stride = h / gh;
    if (!Number.isInteger(stride) || w / gw !== stride) throw new UserError(`detection loss: a ${gh}x${gw} grid does not evenly cover the ${h}x${w} input`);
    geometry.heights.push(gh);
    geometry.widths.push(gw);
    geometry.strides.push(stride);
    geometry.starts.push(geometry.anchors);
    geometry.anchors += gh * gw;
  });
  return geometry;
}

/** A chunk of consecutive images and the ground-truth rows that belong to them. */
export interface Chunk {
  firstImage: number;
  images: number;
  gtBegin: number;
  gtCount: number;
}

/** Splits the batch into chunks of `imagesPerChunk` images; `start` holds each image's first row (and the total). */
export function chunksOf(batch: number, imagesPerChunk: number, start: ArrayLike<number>): Chunk[] {
  const chunks: Chunk[] = [];
  for (let n = 0; n < batch; n += imagesPerChunk) {
    const images = Math.min(imagesPerChunk, batch - n);
    chunks.push({ firstImage: n, images, gtBegin: start[n], gtCount: start[n + images] - start[n] });
  }
  return chunks;
}

/** Loss gains and the batch size, as the kernels scale with them. */
export interface Gains {
  box: number;
  cls: number;
  dfl: number;
}

/** The uniform block every loss kernel declares (LOSS_PARAMS_WGSL), for one chunk. */
export function lossParams(g: LossGeometry, chunk: Chunk, gains: Gains): Params {
  const pad = <T>(xs: T[], fill: T) => [...xs, ...new Array<T>(MAX_LEVELS - xs.length).fill(fill)];
  return new Params()
    .u32(...pad(g.starts, 0xffffffff))
    .u32(...pad(g.widths, 1))
    .f32(...pad(g.strides, 0))
    .u32(g.anchors, chunk.images, chunk.firstImage, g.nc, chunk.gtBegin, chunk.gtCount, g.batch, 0)
    .f32(gains.box, gains.cls, gains.dfl, g.batch)
    .f32(g.strides[0], g.strides[Math.min(1, g.strides.length - 1)], 0, 0);
}

/** Views of `buffer` ([images, anchors, C] rows) matching each level's [images, H, W, C] block. */
function levelWindows(g: LossGeometry, buffer: Tensor, images: number, channels: number): Tensor[] {
  return g.heights.map((h, l) => {
    const w = g.widths[l];
    return buffer.view([images, h, w, channels], [g.anchors * channels, w * channels, channels, 1], buffer.offset + g.starts[l] * channels);
  });
}

/** Copies images firstImage.. of the per-level maps into `buffer` as [images, anchors, C] rows (f32). */
export function gatherLevels(g: LossGeometry, levels: readonly Tensor[], chunk: Chunk, buffer: Tensor): void {
  copyLevels(g, levels, chunk, buffer, 'gather');
}

/** The inverse of gatherLevels: rows of `buffer` back into images firstImage.. of the per-level maps. */
export function scatterLevels(g: LossGeometry, buffer: Tensor, chunk: Chunk, levels: readonly Tensor[]): void {
  copyLevels(g, levels, chunk, buffer, 'scatter');
}

/** Copies between each level's images firstImage.. and its window of `buffer`: into the buffer (gather) or out of it (scatter). */
function copyLevels(g: LossGeometry, levels: readonly Tensor[], chunk: Chunk, buffer: Tensor, direction: 'gather' | 'scatter'): void {
  const channels = levels[0].shape[3];
  levelWindows(g, buffer, chunk.images, channels).forEach((window, l) => {
    const images = levels[l].slice(0, chunk.firstImage, chunk.firstImage + chunk.images);
    if (direction === 'gather') copyInto(images, window);
    else copyInto(window, images);
    images.dispose();
    window.dispose();
  });
}
