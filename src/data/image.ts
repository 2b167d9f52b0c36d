/**
 * Image decoding (sharp), the reference's training-time resize (`load_image`: long side to
 * imgsz) and LetterBox geometry. Images are 3-channel uint8 HWC **RGB** buffers (the
 * reference works in BGR and flips to RGB at the end; the pixels that reach the model agree).
 *
 * Decoding: EXIF orientation applied, alpha dropped (as cv2.imread), grey/16-bit/palette/CMYK
 * converted to 8-bit sRGB. Resizing: `resizeBilinear`, a port of cv2 INTER_LINEAR (see resize.ts).
 */
import sharp from 'sharp';
import { UserError } from '../errors.js';
import { resizeBilinear, rint } from './resize.js';

export interface RgbImage {
  /** HWC RGB, length width * height * 3. */
  data: Uint8Array;
  width: number;
  height: number;
}

export const PAD_VALUE = 114;

/** Decodes any image sharp reads into 8-bit RGB, EXIF orientation applied. */
export async function decodeImage(file: string | Uint8Array): Promise<RgbImage> {
  let out;
  try {
    out = await sharp(file, { failOn: 'none', autoOrient: true })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const name = typeof file === 'string' ? file : 'image buffer';
    throw new UserError(`cannot decode ${name}: ${(err as Error).message}`, { cause: err });
  }
  const { info, data } = out;
  if (info.channels !== 3) throw new UserError(`decoding ${String(file)} gave ${info.channels} channels, expected 3`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * [h, w] after `load_image`'s resize: long side to imgsz keeping the aspect, each side
 * `min(ceil(side * r), imgsz)`; unchanged when the long side already is imgsz.
 */
export function resizedShape(h0: number, w0: number, imgsz: number): [number, number] {
  const r = imgsz / Math.max(h0, w0);
  if (r === 1) return [h0, w0];
  return [Math.min(Math.ceil(h0 * r), imgsz), Math.min(Math.ceil(w0 * r), imgsz)];
}

/** Resizes a decoded image so that its long side is imgsz (up or down), as the reference's `load_image`. */
export function resizeLongSide(img: RgbImage, imgsz: number): RgbImage {
  const [h, w] = resizedShape(img.height, img.width, imgsz);
  if (h === img.height && w === img.width) return img;
  return { data: resizeBilinear(img.data, img.width, img.height, w, h), width: w, height: h };
}

/** Decodes and resizes the long side to imgsz; returns the original [h, w] too. */
export async function loadResized(file: string, imgsz: number): Promise<{ image: RgbImage; originalShape: [number, number] }> {
  const img = await decodeImage(file);
  return { image: resizeLongSide(img, imgsz), originalShape: [img.height, img.width] };
}

export interface LetterboxOptions {
  /** Pad only to the next multiple of `stride` (minimal rectangle), not to the full new shape. */
  auto?: boolean;
  /** Stretch to the new shape without keeping the aspect ratio. */
  scaleFill?: boolean;
  /** Allow r > 1 (default true; the validator uses false). */
  scaleup?: boolean;
  /** Centre the image (default true); else pad at the right and bottom only. */
  center?: boolean;
  stride?: number;
}

export interface LetterboxGeometry {
  /** Scale factors [w, h] applied to the image (equal unless scaleFill). */
  ratio: [number, number];
  /** Size of the resized image before padding, [w, h]. */
  newUnpad: [number, number];
  top: number;
  bottom: number;
  left: number;
  right: number;
  /** Output [h, w]. */
  shape: [number, number];
}

/** Python's round(): half to even. */
const pyRound = rint;

/** The reference's LetterBox geometry, exactly (Python rounding, the -0.1/+0.1 split of the padding). */
export function letterboxGeometry(h: number, w: number, newShape: number | [number, number], options: LetterboxOptions = {}): LetterboxGeometry {
  const [nh, nw] = typeof newShape === 'number' ? [newShape, newShape] : newShape;
  const { auto = false, scaleFill = false, scaleup = true, center = true, stride = 32 } = options;
  let r = Math.min(nh / h, nw / w);
  if (!scaleup) r = Math.min(r, 1);
  let ratio: [number, number] = [r, r];
  let newUnpad: [number, number] = [pyRound(w * r), pyRound(h * r)];
  let dw = nw - newUnpad[0];
  let dh = nh - newUnpad[1];
  if (auto) {
    dw = ((dw % stride) + stride) % stride;
    dh = ((dh % stride) + stride) % stride;
  } else if (scaleFill) {
    dw = 0;
    dh = 0;
    newUnpad = [nw, nh];
    ratio = [nw / w, nh / h];
  }
  if (center) {
    dw /= 2;
    dh /= 2;
  }
  const top = center ? pyRound(dh - 0.1) : 0;
  const bottom = pyRound(dh + 0.1);
  const left = center ? pyRound(dw - 0.1) : 0;
  const right = pyRound(dw + 0.1);
  return { ratio, newUnpad, top, bottom, left, right, shape: [newUnpad[1] + top + bottom, newUnpad[0] + left + right] };
}

/** Applies letterbox geometry: resize (cv2 INTER_LINEAR) and pad with 114. */
export function applyLetterbox(img: RgbImage, g: LetterboxGeometry, out?: Uint8Array): RgbImage {
  const [uw, uh] = g.newUnpad;
  const resized = uw === img.width && uh === img.height ? img.data : resizeBilinear(img.data, img.width, img.height, uw, uh);
  const [oh, ow] = g.shape;
  const data = out ?? new Uint8Array(oh * ow * 3);
  if (g.top + g.bottom + g.left + g.right > 0) data.fill(PAD_VALUE, 0, oh * ow * 3);
  const rowBytes = uw * 3;
  for (let y = 0; y < uh; y++) {
    const o = ((y + g.top) * ow + g.left) * 3;
    data.set(resized.subarray(y * rowBytes, (y + 1) * rowBytes), o);
  }
  return { data, width: ow, height: oh };
}

/** Letterboxes an image to `newShape` ([h, w] or square). */
export function letterbox(img: RgbImage, newShape: number | [number, number], options: LetterboxOptions = {}): { image: RgbImage; geometry: LetterboxGeometry } {
  const geometry = letterboxGeometry(img.height, img.width, newShape, options);
  return { image: applyLetterbox(img, geometry), geometry };
}
