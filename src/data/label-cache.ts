/**
 * The label cache: verification results per image, stored as JSON next to the labels folder
 * (`labels/train2017.cache`, like the reference's) or, where that folder is read-only, under
 * `$YOLO_WGPU_CACHE_DIR` (default `~/.cache/yolo-wgpu`) in `labels/<hash of that path>.cache`.
 *
 * Each entry is keyed by the image's byte size and mtime and a SHA-1 of its label bytes, so
 * an edit that keeps every size (which the reference's size-only hash misses) re-verifies
 * that one image; unchanged images are not verified again. A different `version` or class
 * count discards the whole file.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { tryWriteFileAtomic } from '../io/atomic-write.js';
import type { VerifiedItem } from './verify.js';

export const LABEL_CACHE_VERSION = 'yolo-wgpu-labels/1';

export interface CacheKey {
  imgSize: number;
  imgMtimeMs: number;
  /** SHA-1 of the label bytes; null when the label file does not exist. */
  labelHash: string | null;
}

export interface CacheEntry extends CacheKey {
  item: VerifiedItem;
}

interface CacheFile {
  version: string;
  nc: number;
  entries: Record<string, CacheEntry>;
}

export function hashBytes(data: Uint8Array | string): string {
  return createHash('sha1').update(data).digest('hex');
}

export function sameKey(a: CacheKey, b: CacheKey): boolean {
  return a.imgSize === b.imgSize && a.imgMtimeMs === b.imgMtimeMs && a.labelHash === b.labelHash;
}

/** Where the cache of a split lives: `<labels dir>.cache`, or `<annotations>.cache` for COCO JSON. */
export function primaryCachePath(firstLabelFile: string, coco: boolean): string {
  if (coco) return firstLabelFile.replace(/\.json$/i, '') + '.cache';
  const dir = dirname(firstLabelFile);
  return join(dirname(dir), `${basename(dir)}.cache`);
}

/** The fallback location for a cache whose primary folder is not writeable. */
export function fallbackCachePath(primary: string): string {
  const base = process.env.YOLO_WGPU_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'yolo-wgpu');
  return join(base, 'labels', `${hashBytes(primary).slice(0, 16)}-${basename(primary)}`);
}

/** Reads a cache file; null when absent, unreadable, of another version or class count. */
export function readLabelCache(path: string, nc: number): Map<string, CacheEntry> | null {
  let parsed: CacheFile;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
  } catch {
    return null;
  }
  if (!parsed || parsed.version !== LABEL_CACHE_VERSION || parsed.nc !== nc || typeof parsed.entries !== 'object') return null;
  return new Map(Object.entries(parsed.entries));
}

/**
 * Whether new files may be created in `dir`. A folder without write permission bits counts as
 * read-only even for root (who could write there anyway): shared datasets stay untouched.
 */
export function isWritableDir(dir: string): boolean {
  try {
    const st = statSync(dir);
    if (!st.isDirectory() || (st.mode & 0o222) === 0) return false;
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Writes the cache atomically (temp file + rename); returns an error message instead of throwing. */
export function writeLabelCache(path: string, nc: number, entries: Map<string, CacheEntry>): string | null {
  const doc: CacheFile = { version: LABEL_CACHE_VERSION, nc, entries: Object.fromEntries(entries) };
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
  if (!isWritableDir(dirname(path))) return 'EACCES: read-only folder';
  return tryWriteFileAtomic(path, [Buffer.from(JSON.stringify(doc))]);
}
