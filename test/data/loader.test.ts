import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rectBatches } from '../../src/data/batches.js';
import type { Dataset } from '../../src/data/dataset.js';
import { loadDataset } from '../../src/data/dataset.js';
import { loadDatasetYaml } from '../../src/data/dataset-yaml.js';
import { diskCachePath } from '../../src/data/disk-cache.js';
import type { Batch, LoaderOptions } from '../../src/data/loader.js';
import { DataLoader } from '../../src/data/loader.js';
import { allocateRamCache } from '../../src/data/ram-cache.js';
import { UserError } from '../../src/errors.js';
import { makeCleanDataset, removeTempDirs } from './make-dataset.js';

afterAll(removeTempDirs);

async function collect(ds: Dataset, options: LoaderOptions, epochs: number[]): Promise<Batch[]> {
  const loader = await DataLoader.create(ds, { log: () => {}, ...options });
  const out: Batch[] = [];
  try {
    for (const e of epochs) for await (const b of loader.epoch(e)) out.push(b);
  } finally {
    await loader.close();
  }
  return out;
}

/** Like collect, but each batch is copied and its buffer recycled, as a trainer does after the upload. */
async function collectRecycled(ds: Dataset, options: LoaderOptions, epochs: number[]): Promise<Batch[]> {
  const loader = await DataLoader.create(ds, { log: () => {}, ...options });
  const out: Batch[] = [];
  try {
    for (const e of epochs) {
      for await (const b of loader.epoch(e)) {
        out.push({ ...b, images: b.images.slice() });
        loader.recycle(b);
        expect(b.images.length).toBe(0); // detached: a stale read cannot see later pixels
      }
    }
  } finally {
    await loader.close();
  }
  return out;
}

function expectSameBatches(a: Batch[], b: Batch[]): void {
  expect(b.length).toBe(a.length);
  for (let i = 0; i < a.length; i++) {
    expect(b[i].shape).toEqual(a[i].shape);
    expect(b[i].indices).toEqual(a[i].indices);
    expect(Buffer.from(b[i].images).equals(Buffer.from(a[i].images)), `images of batch ${i}`).toBe(true);
    expect(b[i].hsv ? Buffer.from(b[i].hsv!) : null, `HSV LUTs of batch ${i}`).toEqual(a[i].hsv ? Buffer.from(a[i].hsv!) : null);
    expect(Array.from(b[i].labels.bboxes)).toEqual(Array.from(a[i].labels.bboxes));
    expect(Array.from(b[i].labels.cls)).toEqual(Array.from(a[i].labels.cls));
    expect(Array.from(b[i].labels.batchIdx)).toEqual(Array.from(a[i].labels.batchIdx));
  }
}

describe('DataLoader', () => {
  let ds: Dataset;
  beforeAll(async () => {
    const { yaml } = await makeCleanDataset(14);
    ds = await loadDataset(loadDatasetYaml(yaml), 'train', { log: null });
  });

  const train: LoaderOptions = { imgsz: 96, batch: 4, augment: true, seed: 3, epochs: 5, closeMosaic: 2, hyp: { degrees: 5 } };

  it('gives identical bytes with 0 and 2 workers, with and without the RAM cache', async () => {
    const inProcess = await collect(ds, { ...train, workers: 0 }, [0, 4]);
    expect(inProcess).toHaveLength(8);
    expect(inProcess[0].shape).toEqual([4, 96, 96, 3]);
    expect(inProcess[3].shape).toEqual([2, 96, 96, 3]);
    // HSV is left to the consumer: every training image has its LUTs.
    for (const b of inProcess) expect(b.hsv?.length).toBe(b.shape[0] * 768);
    const workers = await collect(ds, { ...train, workers: 2, prefetch: 3 }, [0, 4]);
    expectSameBatches(inProcess, workers);
    const cached = await collect(ds, { ...train, workers: 2, cache: 'ram' }, [0, 4]);
    expectSameBatches(inProcess, cached);
  });

  it('shuffles per epoch, covers every image once, labels normalized', async () => {
    const batches = await collect(ds, { ...train, workers: 0 }, [0, 1]);
    const e0 = batches.filter((b) => b.epoch === 0).flatMap((b) => b.indices);
    const e1 = batches.filter((b) => b.epoch === 1).flatMap((b) => b.indices);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 14 }, (_, i) => i));
    expect(e1).not.toEqual(e0);
    for (const b of batches) {
      expect(b.labels.bboxes.length).toBe(b.labels.cls.length * 4);
      for (const v of b.labels.bboxes) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(b.paths).toHaveLength(b.shape[0]);
      expect(b.originalShapes[0]).toEqual(ds.entries[b.indices[0]].shape);
    }
  });

  it('switches mosaic off for the last closeMosaic epochs', async () => {
    const loader = await DataLoader.create(ds, { ...train, workers: 0 });
    expect([0, 1, 2, 3, 4].map((e) => loader.mosaicActive(e))).toEqual([true, true, true, false, false]);
    expect(loader.jobs(3)[0].pool).toEqual([]);
    await loader.close();
  });

  it('resumes mid-epoch from saved state with the same batches', async () => {
    const full = await collect(ds, { ...train, workers: 0 }, [1]);
    const loader = await DataLoader.create(ds, { ...train, workers: 0 });
    let taken = 0;
    for await (const b of loader.epoch(1)) {
      expect(b.batchIndex).toBe(taken);
      if (++taken === 2) break;
    }
    const state = loader.state();
    expect(state).toEqual({ epoch: 1, position: 2, seed: 3 });
    await loader.close();
    const resumed = await DataLoader.create(ds, { ...train, workers: 2 });
    resumed.loadState(JSON.parse(JSON.stringify(state)));
    const rest: Batch[] = [];
    for await (const b of resumed.epoch(1)) rest.push(b);
    expect(resumed.state()).toEqual({ epoch: 2, position: 0, seed: 3 });
    await resumed.close();
    expectSameBatches(full.slice(2), rest);
    expect(() => resumed.loadState({ ...state, seed: 4 })).toThrow(UserError);
  });

  it('val: rect batches sorted by aspect, letterboxed with 114, ratio/pad recorded', async () => {
    const batches = await collect(ds, { imgsz: 128, batch: 4, workers: 0 }, [0]);
    const rect = rectBatches(ds.entries.map((e) => e.shape), 4, 128, 32, 0.5);
    expect(batches.map((b) => [b.shape[1], b.shape[2]])).toEqual(rect.shapes);
    expect(batches.flatMap((b) => b.indices)).toEqual(rect.order);
    const b = batches[0];
    const [, H, W] = b.shape;
    const k = 0;
    const [h0, w0] = b.originalShapes[k];
    const [[gh, gw], [left, top]] = b.ratioPad[k];
    expect(Math.round(h0 * gh) + 2 * top).toBeLessThanOrEqual(H);
    expect(Math.round(w0 * gw) + 2 * left).toBeLessThanOrEqual(W);
    if (left > 0) expect(Array.from(b.images.subarray(0, 3))).toEqual([114, 114, 114]);
  });

  it('multi-scale: per-batch sizes on the stride, deterministic', async () => {
    const opts: LoaderOptions = { ...train, imgsz: 64, multiScale: 0.5, workers: 0 };
    const a = await collect(ds, opts, [0]);
    const sizes = a.map((b) => b.shape[1]);
    for (const s of sizes) expect(s % 32).toBe(0);
    expect(new Set(sizes).size).toBeGreaterThan(1);
    // A resized batch got its HSV before the resize, on the CPU; one at imgsz leaves it to the consumer.
    for (const b of a) expect(b.hsv ?? null, `size ${b.shape[1]}`).toEqual(b.shape[1] === 64 ? expect.any(Uint8Array) : null);
    const b = await collect(ds, { ...opts, workers: 2 }, [0]);
    expectSameBatches(a, b);
  });

  it('recycled batch buffers give the same bytes (train with multi-scale, workers or not; val rect)', async () => {
    const opts: LoaderOptions = { ...train, imgsz: 64, multiScale: 0.25 };
    const ref = await collect(ds, { ...opts, workers: 0 }, [0, 1]);
    expectSameBatches(ref, await collectRecycled(ds, { ...opts, workers: 0 }, [0, 1]));
    expectSameBatches(ref, await collectRecycled(ds, { ...opts, workers: 2, prefetch: 2 }, [0, 1]));
    const val: LoaderOptions = { imgsz: 96, batch: 3, workers: 0 };
    expectSameBatches(await collect(ds, val, [0, 1]), await collectRecycled(ds, val, [0, 1]));
  });

  it('disk cache: writes .npy next to the images and reads them back', async () => {
    const { yaml } = await makeCleanDataset(5);
    const small = await loadDataset(loadDatasetYaml(yaml), 'train', { log: null });
    const ref = await collect(small, { ...train, workers: 0 }, [0]);
    const first = await collect(small, { ...train, workers: 0, cache: 'disk' }, [0]);
    expect(small.entries.every((e) => existsSync(diskCachePath(e.imFile, 96)))).toBe(true);
    const second = await collect(small, { ...train, workers: 0, cache: 'disk' }, [0]);
    expectSameBatches(ref, first);
    expectSameBatches(ref, second);
  });

  it('refuses a RAM cache over the memory share, and bad options', async () => {
    expect(() => allocateRamCache([[100000, 100000]], 100000, 0.5)).toThrow(/cache 'ram' needs .* more than 50%/);
    await expect(DataLoader.create(ds, { imgsz: 100 })).rejects.toThrow(/multiple of the stride/);
  });
});
