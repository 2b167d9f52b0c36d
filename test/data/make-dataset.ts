/** Small datasets generated in a temp dir for the data tests (nothing committed). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const made: string[] = [];

/** A new temp dir, removed by `removeTempDirs` (call it in afterAll). */
export function tempDir(prefix = 'yolo-wgpu-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A w x h RGB test pattern (smooth gradients, seeded). */
export function pattern(w: number, h: number, seed = 1): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      px[o] = (x * 255) / w;
      px[o + 1] = (y * 255) / h;
      px[o + 2] = ((x + y) * 37 * seed) % 256;
    }
  }
  return px;
}

export async function writeJpeg(file: string, w: number, h: number, seed = 1, orientation?: number): Promise<void> {
  let img = sharp(pattern(w, h, seed), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 });
  if (orientation) img = img.withMetadata({ orientation });
  await img.toFile(file);
}

export async function jpegBytes(w: number, h: number, seed = 1): Promise<Buffer> {
  return sharp(pattern(w, h, seed), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

export interface PlantedDataset {
  root: string;
  yaml: string;
  names: string[];
}

/** Writes `images/train/<name>` and `labels/train/<stem>.txt` (label null: no label file). */
function label(root: string, stem: string, text: string | null): void {
  if (text !== null) writeFileSync(join(root, 'labels', 'train', `${stem}.txt`), text);
}

/**
 * A dataset with one problem per file (nc = 3):
 * corrupt: truncated.jpg, zero.jpg, text.jpg, tiny.png, cols4, nonnum, range, badcls, polybad;
 * missing: missing.jpg; empty: empty.jpg;
 * found: good.jpg, good2.png, dups.jpg (duplicate row dropped), gray.png, rgba.png, gray16.png,
 * rgb16.png, palette.png, exif.jpg (60x40 stored, orientation 6), trailing.jpg (bytes after the end marker), poly.jpg.
 */
export async function makePlantedDataset(root = tempDir()): Promise<PlantedDataset> {
  const img = join(root, 'images', 'train');
  mkdirSync(img, { recursive: true });
  mkdirSync(join(root, 'labels', 'train'), { recursive: true });
  const ok = '0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n';
  const raw = (w: number, h: number, c: number) => ({ raw: { width: w, height: h, channels: c as 1 | 3 | 4 } });

  await writeJpeg(join(img, 'good.jpg'), 64, 48, 1);
  label(root, 'good', ok);
  await sharp(pattern(50, 40, 2), raw(50, 40, 3)).png().toFile(join(img, 'good2.png'));
  label(root, 'good2', '2 0.5 0.5 0.5 0.5\n');
  const full = await jpegBytes(64, 48, 3);
  writeFileSync(join(img, 'truncated.jpg'), full.subarray(0, full.length >> 1));
  label(root, 'truncated', ok);
  writeFileSync(join(img, 'trailing.jpg'), Buffer.concat([full, Buffer.from('trailing bytes after the end marker')]));
  label(root, 'trailing', ok);
  writeFileSync(join(img, 'zero.jpg'), '');
  label(root, 'zero', ok);
  writeFileSync(join(img, 'text.jpg'), 'hello, I am a text file\n');
  label(root, 'text', ok);
  await sharp(pattern(8, 8), raw(8, 8, 3)).png().toFile(join(img, 'tiny.png'));
  label(root, 'tiny', ok);
  for (const [stem, text] of [
    ['cols4', '0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n'],
    ['nonnum', '0 0.5 abc 0.2 0.2\n'],
    ['range', '0 0.5 0.5 0.2 0.2\n1 1.2 0.5 0.1 0.1\n'],
    ['badcls', '7 0.5 0.5 0.2 0.2\n'],
    ['polybad', '0 0.1 0.1 0.9 0.1 0.9 0.9 0.1\n'],
    ['dups', '0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n0 0.5 0.5 0.2 0.2\n'],
    ['poly', '1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n'],
    ['empty', ''],
  ] as const) {
    await writeJpeg(join(img, `${stem}.jpg`), 64, 48, 4);
    label(root, stem, text);
  }
  await writeJpeg(join(img, 'missing.jpg'), 64, 48, 5);
  // Colour conversions.
  await sharp(pattern(40, 30, 6), raw(40, 30, 3)).toColourspace('b-w').png().toFile(join(img, 'gray.png'));
  label(root, 'gray', ok);
  await sharp(pattern(40, 30, 7), raw(40, 30, 3)).ensureAlpha(0.5).png().toFile(join(img, 'rgba.png'));
  label(root, 'rgba', ok);
  const g16 = new Uint16Array(40 * 30).map((_, i) => i * 50);
  await sharp(g16, raw(40, 30, 1)).toColourspace('grey16').png().toFile(join(img, 'gray16.png'));
  label(root, 'gray16', ok);
  const c16 = new Uint16Array(40 * 30 * 3).map((_, i) => (i * 97) % 65536);
  await sharp(c16, raw(40, 30, 3)).toColourspace('rgb16').png().toFile(join(img, 'rgb16.png'));
  label(root, 'rgb16', ok);
  await sharp(pattern(40, 30, 8), raw(40, 30, 3)).png({ palette: true, colours: 16 }).toFile(join(img, 'palette.png'));
  label(root, 'palette', ok);
  await writeJpeg(join(img, 'exif.jpg'), 60, 40, 9, 6);
  label(root, 'exif', ok);

  const yaml = join(root, 'planted.yaml');
  writeFileSync(yaml, `path: .\ntrain: images/train\nval: images/train\nnames:\n  0: a\n  1: b\n  2: c\n`);
  return { root, yaml, names: ['a', 'b', 'c'] };
}

/** n clean JPEGs of varied aspect with 1-3 boxes each, in images/train + labels/train. */
export async function makeCleanDataset(n: number, root = tempDir()): Promise<PlantedDataset> {
  mkdirSync(join(root, 'images', 'train'), { recursive: true });
  mkdirSync(join(root, 'labels', 'train'), { recursive: true });
  const sizes = [
    [160, 120],
    [120, 160],
    [200, 100],
    [96, 96],
    [150, 110],
  ];
  for (let i = 0; i < n; i++) {
    const [w, h] = sizes[i % sizes.length];
    const stem = `im${String(i).padStart(3, '0')}`;
    await writeJpeg(join(root, 'images', 'train', `${stem}.jpg`), w, h, i + 1);
    const rows = Array.from({ length: 1 + (i % 3) }, (_, k) => `${(i + k) % 3} ${0.3 + 0.2 * k} ${0.4 + 0.1 * k} ${0.2 + 0.05 * k} ${0.3}`);
    if (i % 7 !== 6) writeFileSync(join(root, 'labels', 'train', `${stem}.txt`), rows.join('\n') + '\n');
  }
  const yaml = join(root, 'clean.yaml');
  writeFileSync(yaml, `path: ${root}\ntrain: images/train\nval: images/train\nnames: [a, b, c]\n`);
  return { root, yaml, names: ['a', 'b', 'c'] };
}
