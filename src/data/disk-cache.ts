/**
 * `cache: 'disk'`: each image decoded and resized once (long side imgsz) and written next to
 * the original as a NumPy `.npy` (uint8, shape (h, w, 3), RGB) named `<stem>.<imgsz>.npy`
 * (the reference writes full-size BGR `<stem>.npy`; the size in the name keeps the two apart).
 * A cached file is used when its header has the expected shape and it is newer than the image.
 */
import { closeSync, openSync, readSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import { tryWriteFileAtomic } from '../io/atomic-write.js';
import type { RgbImage } from './image.js';
import { isWritableDir } from './label-cache.js';

export function diskCachePath(imFile: string, imgsz: number): string {
  const dot = imFile.lastIndexOf('.');
  const base = dot > imFile.lastIndexOf('/') ? imFile.slice(0, dot) : imFile;
  return `${base}.${imgsz}.npy`;
}

function npyHeader(h: number, w: number): Buffer {
  let dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${h}, ${w}, 3), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(dict.length, 8);
  return Buffer.concat([head, Buffer.from(dict, 'latin1')]);
}

/** Writes an image as .npy atomically (not fsynced: a lost file is rebuilt); returns an error message instead of throwing. */
export function writeNpy(path: string, img: RgbImage): string | null {
  return tryWriteFileAtomic(path, [npyHeader(img.height, img.width), img.data]);
}

/** Reads a .npy written by writeNpy when it holds an image of [h, w] and is newer than `newerThanMs`. */
export function readNpy(path: string, expect?: { h: number; w: number; newerThanMs?: number }): RgbImage | null {
  let fd: number;
  try {
    const st = statSync(path);
    if (expect?.newerThanMs !== undefined && st.mtimeMs < expect.newerThanMs) return null;
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(10);
    if (readSync(fd, head, 0, 10, 0) !== 10 || head.toString('latin1', 0, 6) !== '\x93NUMPY') return null;
    const hlen = head.readUInt16LE(8);
    const dict = Buffer.alloc(hlen);
    readSync(fd, dict, 0, hlen, 10);
    const m = /'shape': \((\d+), (\d+), 3\)/.exec(dict.toString('latin1'));
    if (!m || !dict.toString('latin1').includes("'|u1'")) return null;
    const h = Number(m[1]);
    const w = Number(m[2]);
    if (expect && (h !== expect.h || w !== expect.w)) return null;
    const data = new Uint8Array(h * w * 3);
    if (readSync(fd, data, 0, data.length, 10 + hlen) !== data.length) return null;
    return { data, width: w, height: h };
  } finally {
    closeSync(fd);
  }
}

/** Checks that every image folder is writeable and has room for `bytes` (x1.1); UserError if not. */
export function checkDiskCache(imFiles: readonly string[], bytes: number): void {
  const dirs = [...new Set(imFiles.map((f) => dirname(f)))];
  for (const dir of dirs) {
    if (!isWritableDir(dir)) {
      throw new UserError(`cache 'disk' writes resized images next to the originals, but ${dir} is read-only; use cache 'ram' or no cache`);
    }
  }
  try {
    const st = statfsSync(dirs[0]);
    const free = st.bavail * st.bsize;
    if (bytes * 1.1 > free) {
      throw new UserError(`cache 'disk' needs ${(bytes / 2 ** 30).toFixed(2)} GiB, only ${(free / 2 ** 30).toFixed(2)} GiB free in ${dirs[0]}`);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
  }
}
