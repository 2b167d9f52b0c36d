import { afterAll, describe, expect, it } from 'vitest';
import { applyBatchHsv, hsvLuts, packHsvLuts } from '../../src/data/augment/hsv.js';
import { HSV_LUT_BYTES } from '../../src/kernels/hsv.wgsl.js';
import { loadDataset } from '../../src/data/dataset.js';
import { loadDatasetYaml } from '../../src/data/dataset-yaml.js';
import { DataLoader } from '../../src/data/loader.js';
import { Rng } from '../../src/data/rng.js';
import type { Engine } from '../../src/gpu/engine.js';
import { imagesToTensor } from '../../src/kernels/image-input.js';
import { makeCleanDataset, removeTempDirs } from '../data/make-dataset.js';
import { asStored, expectClose, floatDtypes, testEngine } from '../helpers/gpu.js';

afterAll(removeTempDirs);

/** Pixels of every kind: random, gray, saturated (0/255 channels), one-channel maxima, ties. */
function testPixels(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  const px = new Uint8Array(n * 3);
  const corners = [0, 255];
  for (let p = 0; p < n; p++) {
    const kind = p % 5;
    let rgb: number[];
    if (kind === 0) {
      const g = r.int(0, 256);
      rgb = [g, g, g];
    } else if (kind === 1) rgb = [0, 1, 2].map(() => corners[r.int(0, 2)]);
    else if (kind === 2) {
      const v = r.int(1, 256);
      rgb = [v, v, r.int(0, v)];
      if (r.chance(0.5)) rgb.reverse();
    } else rgb = [r.int(0, 256), r.int(0, 256), r.int(0, 256)];
    px.set(rgb, p * 3);
  }
  return px;
}

/** Float values of bytes / 255 as a dtype stores them. */
function expected(bytes: Uint8Array, dtype: 'f32' | 'f16'): Float32Array {
  return asStored(Float32Array.from(bytes, (b) => b / 255), dtype);
}

/** Elements where got differs from want (counted, not diffed: a failure stays fast on big batches). */
function mismatches(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let n = 0;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) n++;
  return n;
}

function countDiffering(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

describe('imagesToTensor', () => {
  let engine: Engine;
  afterAll(() => engine?.destroy());

  it('expands packed bytes to [0, 1] floats, any length (not a multiple of 4)', async () => {
    engine = await testEngine();
    const shape = [2, 5, 3, 3];
    const bytes = Uint8Array.from({ length: 90 }, (_, i) => (i * 37 + 11) % 256);
    for (const dtype of floatDtypes(engine)) {
      const t = imagesToTensor(engine, bytes, shape, dtype);
      expect(t.shape).toEqual(shape);
      const ref = asStored(Float32Array.from(bytes, (b) => b / 255), dtype);
      expectClose(await t.read(), ref, 1e-6);
      t.dispose();
    }
  });

  it('reads whole words in place, and copies a view at an odd byte offset', async () => {
    engine = await testEngine();
    const shape = [2, 4, 3, 3]; // 72 bytes: whole words
    const backing = Uint8Array.from({ length: 73 }, (_, i) => (i * 53 + 7) % 256);
    for (const bytes of [backing.subarray(0, 72), backing.subarray(1, 73)]) {
      const t = imagesToTensor(engine, bytes, shape, 'f32');
      expectClose(await t.read(), Float32Array.from(bytes, (b) => b / 255), 1e-6);
      t.dispose();
    }
  });

  it('applies each image\'s HSV LUTs bit for bit as applyHsvLuts does (odd sizes, words straddled, a skipped image)', async () => {
    engine = await testEngine();
    const shape = [4, 7, 5, 3]; // 35 pixels an image, 420 bytes; images 1 and 3 start mid-word
    const [B, H, W] = shape;
    const bytes = testPixels(B * H * W, 5);
    const hsv = new Uint8Array(B * HSV_LUT_BYTES);
    const gains: ([number, number, number] | null)[] = [[0.3, 0.7, -0.4], [-0.45, -0.6, 0.5], null, [0.015, 0.7, 0.4]];
    gains.forEach((g, k) => packHsvLuts(hsv, k, g ? hsvLuts(g) : null));
    const want = bytes.slice();
    applyBatchHsv(want, shape, hsv);
    // The test can fail: the LUTs change most pixels of every image but the skipped one.
    const slot = H * W * 3;
    for (let k = 0; k < B; k++) {
      const changed = countDiffering(bytes.subarray(k * slot, (k + 1) * slot), want.subarray(k * slot, (k + 1) * slot));
      if (gains[k]) expect(changed, `image ${k}`).toBeGreaterThan(slot / 2);
      else expect(changed).toBe(0);
    }
    const backing = new Uint8Array(bytes.length + 1);
    backing.set(bytes, 1);
    for (const dtype of floatDtypes(engine)) {
      for (const input of [bytes, backing.subarray(1)]) {
        const t = imagesToTensor(engine, input, shape, dtype as 'f32' | 'f16', 'input', hsv);
        expect(mismatches(await t.read(), expected(want, dtype as 'f32' | 'f16')), dtype).toBe(0);
        t.dispose();
      }
    }
  });

  it('HSV of every 8-bit colour under 16 random gains equals the CPU', async () => {
    engine = await testEngine();
    // 2^24 colours in 4 batches of 4 images of 1024 x 1024 pixels, each image its own gains.
    const shape = [4, 1024, 1024, 3];
    const r = new Rng(11);
    const bytes = new Uint8Array(4 * 1024 * 1024 * 3);
    for (let q = 0; q < 4; q++) {
      for (let p = 0; p < 1 << 22; p++) {
        const c = (q << 22) + p;
        bytes[3 * p] = c >> 16;
        bytes[3 * p + 1] = (c >> 8) & 255;
        bytes[3 * p + 2] = c & 255;
      }
      const hsv = new Uint8Array(4 * HSV_LUT_BYTES);
      for (let k = 0; k < 4; k++) packHsvLuts(hsv, k, hsvLuts([r.uniform(-0.5, 0.5), r.uniform(-1, 1), r.uniform(-1, 1)]));
      const want = bytes.slice();
      applyBatchHsv(want, shape, hsv);
      expect(countDiffering(bytes, want)).toBeGreaterThan(bytes.length / 2);
      const t = imagesToTensor(engine, bytes, shape, 'f32', 'input', hsv);
      const got = await t.read();
      t.dispose();
      expect(mismatches(got, expected(want, 'f32')), `batch ${q}`).toBe(0);
    }
  }, 120_000);

  it('a loader batch with HSV on, expanded on the GPU, has the pixels of the CPU path', async () => {
    engine = await testEngine();
    const { yaml } = await makeCleanDataset(6);
    const ds = await loadDataset(loadDatasetYaml(yaml), 'train', { log: null });
    const loader = await DataLoader.create(ds, { imgsz: 96, batch: 3, augment: true, seed: 4, epochs: 3, closeMosaic: 1, workers: 0, log: () => {}, hyp: { mixup: 0.5 } });
    let checked = 0;
    try {
      for (const epoch of [0, 2]) {
        for await (const batch of loader.epoch(epoch)) {
          expect(batch.hsv).toBeTruthy();
          const cpu = batch.images.slice();
          applyBatchHsv(cpu, batch.shape, batch.hsv!);
          expect(countDiffering(cpu, batch.images)).toBeGreaterThan(cpu.length / 2);
          for (const dtype of floatDtypes(engine)) {
            const t = imagesToTensor(engine, batch.images, batch.shape, dtype, 'input', batch.hsv);
            expect(mismatches(await t.read(), expected(cpu, dtype as 'f32' | 'f16')), dtype).toBe(0);
            t.dispose();
          }
          checked++;
        }
      }
    } finally {
      await loader.close();
    }
    expect(checked).toBe(4);
  });

  it('rejects a byte count that does not match the shape', async () => {
    engine = await testEngine();
    expect(() => imagesToTensor(engine, new Uint8Array(10), [1, 2, 2, 3])).toThrow(/10 bytes for a batch of shape \[1,2,2,3\]/);
  });
});
