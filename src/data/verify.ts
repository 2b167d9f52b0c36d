/**
 * Verification of one image and its labels (`verify_image_label` in the reference, and more):
 * zero-byte and non-image files, unreadable headers, images under 10 px, truncated JPEG/PNG
 * (a missing end marker triggers a full decode: readable files are kept with a warning, never
 * rewritten in place as the reference does), EXIF orientation applied to the recorded size,
 * and the label checks of `labels.ts`. Nothing here throws for a bad file: it returns problems.
 */
import { open, readFile, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { checkLabelRows, checkLabelText } from './labels.js';
import type { Problem } from './problems.js';
import type { SplitItem } from './sources.js';

export type ItemStatus = 'found' | 'missing' | 'empty' | 'corrupt';

export interface VerifiedItem {
  imFile: string;
  /** Label file (txt) or annotations file (COCO JSON); null never for txt (the expected path is kept). */
  labelFile: string;
  status: ItemStatus;
  /** [height, width] after EXIF orientation; [0, 0] when the image is corrupt. */
  shape: [number, number];
  cls: number[];
  /** xywh normalized, 4 per box. */
  boxes: number[];
  problems: Problem[];
  duplicates: number;
}

export interface ImageCheck {
  ok: boolean;
  width: number;
  height: number;
  format: string;
  problems: Problem[];
}

export const MIN_IMAGE_SIDE = 10;

/** Header, size and end-marker checks of one image; `deep` decodes every pixel. */
export async function verifyImage(file: string, options: { deep?: boolean } = {}): Promise<ImageCheck> {
  const problems: Problem[] = [];
  const fail = (kind: Problem['kind'], message: string): ImageCheck => {
    problems.push({ file, kind, severity: 'error', message });
    return { ok: false, width: 0, height: 0, format: '', problems };
  };
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    return fail('unreadable', `cannot read image: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (size === 0) return fail('zero-byte', 'empty file (0 bytes)');
  const { head, tail } = await readEnds(file, size);
  const magic = sniff(head);
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (err) {
    if (magic === null) return fail('not-an-image', `not an image (${describeBytes(head)})`);
    if (magic === 'bmp' || magic === 'heif') {
      return fail('unsupported-format', `${magic} images cannot be decoded by sharp/libvips here; convert to PNG or JPEG`);
    }
    return fail('unreadable', `unreadable ${magic}: ${(err as Error).message}`);
  }
  const format = meta.format ?? magic ?? 'unknown';
  let width = meta.width ?? 0;
  let height = meta.height ?? 0;
  if ((meta.orientation ?? 1) >= 5) [width, height] = [height, width];
  if (width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE) {
    return fail('too-small', `image is ${width}x${height}, under ${MIN_IMAGE_SIDE} px on a side`);
  }
  const noEndMarker =
    (format === 'jpeg' && !(tail[tail.length - 2] === 0xff && tail[tail.length - 1] === 0xd9)) ||
    (format === 'png' && !endsWithIend(tail));
  if (noEndMarker || options.deep) {
    try {
      await sharp(file, { failOn: 'truncated' }).raw().toBuffer();
    } catch (err) {
      const msg = (err as Error).message;
      return fail(noEndMarker || /premature|truncat/i.test(msg) ? 'truncated' : 'unreadable', `truncated or corrupt ${format}: ${msg}`);
    }
    if (noEndMarker) {
      problems.push({ file, kind: 'no-end-marker', severity: 'warning', message: `${format} does not end with its end marker (trailing bytes or a missing marker) but decodes fully; kept` });
    }
  }
  return { ok: true, width, height, format, problems };
}

/** Verifies an image and its labels. */
export async function verifyItem(item: SplitItem, nc: number, options: { deep?: boolean } = {}): Promise<VerifiedItem> {
  const img = await verifyImage(item.imFile, options);
  const out: VerifiedItem = {
    imFile: item.imFile,
    labelFile: item.label.file,
    status: 'found',
    shape: [img.height, img.width],
    cls: [],
    boxes: [],
    problems: img.problems,
    duplicates: 0,
  };
  let checked;
  if (item.label.kind === 'coco') {
    const l = item.label;
    if (img.ok && l.width > 0 && (l.width !== img.width || l.height !== img.height)) {
      out.problems.push({
        file: item.imFile,
        kind: 'size-mismatch',
        severity: 'warning',
        message: `image is ${img.width}x${img.height} but the JSON says ${l.width}x${l.height}; boxes normalized by the JSON size`,
      });
    }
    if (l.rows.length === 0 && l.problems.length === 0) out.status = 'empty';
    checked = checkLabelRows(l.rows, l.file, nc, l.problems);
  } else {
    let text: string | null = null;
    try {
      text = await readFile(item.label.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        out.problems.push({ file: item.label.file, kind: 'label-unreadable', severity: 'error', message: `cannot read label file: ${code ?? (err as Error).message}` });
      }
    }
    if (text === null) {
      if (!out.problems.some((p) => p.kind === 'label-unreadable')) {
        out.status = 'missing';
        out.problems.push({ file: item.label.file, kind: 'missing-label', severity: 'info', message: 'no label file; used as a background image' });
      }
      checked = checkLabelRows([], item.label.file, nc);
    } else if (text.trim() === '') {
      out.status = 'empty';
      out.problems.push({ file: item.label.file, kind: 'empty-label', severity: 'info', message: 'empty label file; used as a background image' });
      checked = checkLabelRows([], item.label.file, nc);
    } else {
      checked = checkLabelText(text, item.label.file, nc);
    }
  }
  out.problems.push(...checked.problems.filter((p) => !out.problems.includes(p)));
  out.cls = checked.cls;
  out.boxes = checked.boxes;
  out.duplicates = checked.duplicates;
  if (!img.ok || out.problems.some((p) => p.severity === 'error')) {
    out.status = 'corrupt';
    out.cls = [];
    out.boxes = [];
  }
  return out;
}

async function readEnds(file: string, size: number): Promise<{ head: Uint8Array; tail: Uint8Array }> {
  const fh = await open(file, 'r');
  try {
    const head = new Uint8Array(Math.min(32, size));
    await fh.read(head, 0, head.length, 0);
    const tail = new Uint8Array(Math.min(16, size));
    await fh.read(tail, 0, tail.length, size - tail.length);
    return { head, tail };
  } finally {
    await fh.close();
  }
}

/** Format from magic bytes, or null when none matches. */
function sniff(b: Uint8Array): string | null {
  const at = (i: number, ...v: number[]): boolean => v.every((x, k) => b[i + k] === x);
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (at(0, 0x42, 0x4d)) return 'bmp';
  if (at(4, 0x66, 0x74, 0x79, 0x70)) return 'heif';
  return null;
}

function endsWithIend(tail: Uint8Array): boolean {
  const iend = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];
  const off = tail.length - 8;
  return off >= 0 && iend.every((v, k) => tail[off + k] === v);
}

function describeBytes(head: Uint8Array): string {
  const printable = head.every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127));
  if (printable) {
    const text = Buffer.from(head).toString('latin1').replace(/\s+/g, ' ').trim();
    return `text file starting with ${JSON.stringify(text.slice(0, 24))}`;
  }
  return `unknown format, first bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')}`;
}
