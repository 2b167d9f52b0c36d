/**
 * `cache: 'ram'`: every image decoded and resized (long side imgsz) once, held in
 * SharedArrayBuffers that all loader workers read without copies. Sizes are known from the
 * verified shapes, so the exact byte count is checked against free memory before anything is
 * allocated; the cache refuses (UserError) to take more than a share (default 50%) of it.
 */
import { freemem } from 'node:os';
import { UserError } from '../errors.js';
import type { RgbImage } from './image.js';
import { resizedShape } from './image.js';

/** Plain data, structured-cloneable to workers (the SharedArrayBuffers are shared, not copied). */
export interface RamCacheLayout {
  chunks: SharedArrayBuffer[];
  chunk: Int32Array;
  offset: Float64Array;
  width: Int32Array;
  height: Int32Array;
  /** 1 when image i is in the cache (shared). */
  filled: Uint8Array;
  bytes: number;
}

const MAX_CHUNK = 1 << 30;

function formatGiB(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Memory a new allocation may take: free memory, or the cgroup limit minus what is used. */
export function availableMemory(): number {
  let avail = freemem();
  const constrained = (process as unknown as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (constrained && constrained > 0 && constrained < 2 ** 60) avail = Math.min(avail, constrained - process.memoryUsage().rss);
  return Math.max(0, avail);
}

/** Bytes the cache of these original [h, w] shapes takes at imgsz. */
export function ramCacheBytes(shapes: readonly (readonly [number, number])[], imgsz: number): number {
  let bytes = 0;
  for (const [h0, w0] of shapes) {
    const [h, w] = resizedShape(h0, w0, imgsz);
    bytes += h * w * 3;
  }
  return bytes;
}

/** Allocates the cache, or throws a UserError when it would exceed `share` of available memory. */
export function allocateRamCache(shapes: readonly (readonly [number, number])[], imgsz: number, share = 0.5): RamCacheLayout {
  const n = shapes.length;
  const bytes = ramCacheBytes(shapes, imgsz);
  const avail = availableMemory();
  if (bytes > avail * share) {
    throw new UserError(
      `cache 'ram' needs ${formatGiB(bytes)} for ${n} images at imgsz ${imgsz}, more than ${Math.round(share * 100)}% ` +
        `of the ${formatGiB(avail)} available; use cache 'disk', no cache, a smaller imgsz, or raise the share (cacheRamShare)`,
    );
  }
  const layout: RamCacheLayout = {
    chunks: [],
    chunk: new Int32Array(n),
    offset: new Float64Array(n),
    width: new Int32Array(n),
    height: new Int32Array(n),
    filled: new Uint8Array(new SharedArrayBuffer(Math.max(1, n))),
    bytes,
  };
  const sizes: number[] = [];
  let cur = 0;
  for (let i = 0; i < n; i++) {
    const [h, w] = resizedShape(shapes[i][0], shapes[i][1], imgsz);
    const size = h * w * 3;
    if (sizes.length === 0 || cur + size > MAX_CHUNK) {
      sizes.push(0);
      cur = 0;
    }
    layout.chunk[i] = sizes.length - 1;
    layout.offset[i] = cur;
    layout.width[i] = w;
    layout.height[i] = h;
    cur += size;
    sizes[sizes.length - 1] = cur;
  }
  layout.chunks = sizes.map((s) => new SharedArrayBuffer(Math.max(1, s)));
  return layout;
}

/** A view of cached image i (no copy). */
export function ramImage(layout: RamCacheLayout, i: number): RgbImage {
  const w = layout.width[i];
  const h = layout.height[i];
  return { data: new Uint8Array(layout.chunks[layout.chunk[i]], layout.offset[i], w * h * 3), width: w, height: h };
}

/** Stores a decoded, resized image; false when its size is not the planned one. */
export function storeRamImage(layout: RamCacheLayout, i: number, img: RgbImage): boolean {
  if (img.width !== layout.width[i] || img.height !== layout.height[i]) return false;
  ramImage(layout, i).data.set(img.data);
  layout.filled[i] = 1;
  return true;
}
