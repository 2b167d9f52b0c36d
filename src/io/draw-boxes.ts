/**
 * Labelled boxes on RGB images and PNG grids, for `dataset show` and `predict --save`.
 * Boxes are xyxy in pixels; each class gets a colour from a palette (the reference's 20 colours
 * by default); labels read `name` or `name 0.87`. Drawing composes an SVG overlay with sharp.
 */
import sharp, { type OverlayOptions, type Sharp } from 'sharp';

/** 3-channel uint8 HWC RGB image (the shape `src/data` uses). */
export interface RgbImageLike {
  data: Uint8Array;
  width: number;
  height: number;
}

export type Rgb = [number, number, number];

/** Detections to draw: 4 numbers (x1, y1, x2, y2 in pixels) per box. */
export interface BoxSet {
  xyxy: ArrayLike<number>;
  cls: ArrayLike<number>;
  /** Confidence per box, shown after the name. */
  conf?: ArrayLike<number>;
}

export interface DrawOptions {
  /** Class names by id (default: the id). */
  names?: readonly string[];
  palette?: readonly Rgb[];
  /** Stroke width in px (default as the reference's Annotator: max(round((w + h) / 2 · 0.003), 2)). */
  lineWidth?: number;
  /** Label font size in px (default from the line width). */
  fontSize?: number;
  /** Draw the name/confidence tags (default true). */
  labels?: boolean;
}

/** The reference's `ultralytics.utils.plotting.Colors` palette. */
export const DEFAULT_PALETTE: readonly Rgb[] = [
  '042AFF', '0BDBEB', 'F3F3F3', '00DFB7', '111F68', 'FF6FDD', 'FF444F', 'CCED00', '00F344', 'BD00FF',
  '00B4FF', 'DD00BA', '00FFFF', '26C000', '01FFB3', '7D24FF', '7B0068', 'FF1B6C', 'FC6D2F', 'A2FF0B',
].map((h) => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)] as Rgb);

export function classColor(cls: number, palette: readonly Rgb[] = DEFAULT_PALETTE): Rgb {
  const n = palette.length;
  return palette[((Math.trunc(cls) % n) + n) % n];
}

function hex([r, g, b]: Rgb): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** The label text of box i. */
export function boxLabel(boxes: BoxSet, i: number, names?: readonly string[]): string {
  const c = boxes.cls[i];
  const name = names?.[c] ?? String(c);
  return boxes.conf ? `${name} ${boxes.conf[i].toFixed(2)}` : name;
}

/** An SVG (width x height) with the boxes and their labels, transparent elsewhere. */
export function boxesSvg(width: number, height: number, boxes: BoxSet, options: DrawOptions = {}): string {
  const lw = options.lineWidth ?? Math.max(Math.round(((width + height) / 2) * 0.003), 2);
  const fs = options.fontSize ?? Math.max(11, Math.round(lw * 5));
  const palette = options.palette ?? DEFAULT_PALETTE;
  const parts: string[] = [];
  const n = boxes.cls.length;
  for (let i = 0; i < n; i++) {
    const x1 = boxes.xyxy[i * 4];
    const y1 = boxes.xyxy[i * 4 + 1];
    const x2 = boxes.xyxy[i * 4 + 2];
    const y2 = boxes.xyxy[i * 4 + 3];
    const color = classColor(boxes.cls[i], palette);
    const c = hex(color);
    parts.push(`<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(0, x2 - x1).toFixed(1)}" height="${Math.max(0, y2 - y1).toFixed(1)}" fill="none" stroke="${c}" stroke-width="${lw}"/>`);
    if (options.labels === false) continue;
    const text = boxLabel(boxes, i, options.names);
    const tw = Math.ceil(text.length * fs * 0.6) + 4;
    const th = Math.ceil(fs * 1.25);
    const outside = y1 - th >= 0;
    const ty = outside ? y1 - th : y1;
    const tx = Math.min(Math.max(0, x1 - lw / 2), Math.max(0, width - tw));
    const luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2];
    parts.push(
      `<rect x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" width="${tw}" height="${th}" fill="${c}"/>` +
        `<text x="${(tx + 2).toFixed(1)}" y="${(ty + th - fs * 0.3).toFixed(1)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${fs}" fill="${luminance > 150 ? '#000000' : '#ffffff'}">${escapeXml(text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

async function toRaw(pipeline: Sharp): Promise<RgbImageLike> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

function fromRaw(img: RgbImageLike): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
}

/** A new image with the boxes drawn on `image`. */
export async function drawBoxes(image: RgbImageLike, boxes: BoxSet, options: DrawOptions = {}): Promise<RgbImageLike> {
  if (boxes.cls.length === 0) return { data: image.data.slice(), width: image.width, height: image.height };
  const svg = boxesSvg(image.width, image.height, boxes, options);
  return toRaw(fromRaw(image).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]));
}

export interface GridOptions {
  /** Columns (default ceil(sqrt(n))). */
  columns?: number;
  /** Each tile is fitted (aspect kept) into a tileSize square (default 320). */
  tileSize?: number;
  /** Pixels between tiles (default 4). */
  gap?: number;
  background?: Rgb;
}

/** Tiles images (with optional captions under each) into one image. */
export async function makeGrid(tiles: readonly { image: RgbImageLike; caption?: string }[], options: GridOptions = {}): Promise<RgbImageLike> {
  const n = tiles.length;
  if (n === 0) throw new Error('makeGrid needs at least one image');
  const cols = options.columns ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const size = options.tileSize ?? 320;
  const gap = options.gap ?? 4;
  const bg = options.background ?? [40, 40, 40];
  const captionH = tiles.some((t) => t.caption) ? 16 : 0;
  const cellH = size + captionH;
  const width = cols * size + (cols + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const composites: OverlayOptions[] = [];
  const captions: string[] = [];
  for (let k = 0; k < n; k++) {
    const { image, caption } = tiles[k];
    const r = Math.min(size / image.width, size / image.height);
    const tw = Math.max(1, Math.round(image.width * r));
    const th = Math.max(1, Math.round(image.height * r));
    const tile = await toRaw(fromRaw(image).resize(tw, th, { kernel: 'lanczos3' }));
    const left = gap + (k % cols) * (size + gap) + Math.floor((size - tw) / 2);
    const top = gap + Math.floor(k / cols) * (cellH + gap) + Math.floor((size - th) / 2);
    composites.push({ input: Buffer.from(tile.data.buffer, tile.data.byteOffset, tile.data.length), raw: { width: tw, height: th, channels: 3 }, left, top });
    if (caption) {
      const cx = gap + (k % cols) * (size + gap) + 2;
      const cy = gap + Math.floor(k / cols) * (cellH + gap) + size + 12;
      captions.push(`<text x="${cx}" y="${cy}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11" fill="#e0e0e0">${escapeXml(caption.length > 48 ? `…${caption.slice(-47)}` : caption)}</text>`);
    }
  }
  if (captions.length > 0) {
    composites.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${captions.join('')}</svg>`), left: 0, top: 0 });
  }
  const canvas = sharp({ create: { width, height, channels: 3, background: { r: bg[0], g: bg[1], b: bg[2] } } });
  return toRaw(canvas.composite(composites));
}

/** PNG bytes of an image. */
export async function encodePng(image: RgbImageLike): Promise<Buffer> {
  return fromRaw(image).png().toBuffer();
}

/** Writes an image as PNG. */
export async function writePng(file: string, image: RgbImageLike): Promise<void> {
  await fromRaw(image).png().toFile(file);
}

/** Writes an image in the format its extension names (.jpg, .png, .webp, ...). */
export async function writeImage(file: string, image: RgbImageLike): Promise<void> {
  await fromRaw(image).toFile(file);
}
