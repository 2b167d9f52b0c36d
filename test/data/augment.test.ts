import { describe, expect, it } from 'vitest';
import { boxCandidates, randomPerspective, transformBoxes, warpImage } from '../../src/data/augment/affine.js';
import { cutmix } from '../../src/data/augment/cutmix.js';
import { flipLR, flipUD } from '../../src/data/augment/flip.js';
import { HSV_LUT_BYTES } from '../../src/kernels/hsv.wgsl.js';
import { applyBatchHsv, applyHsv, applyHsvLuts, hsvLuts, packHsvLuts, unpackHsvLuts } from '../../src/data/augment/hsv.js';
import { mixup } from '../../src/data/augment/mixup.js';
import { mosaic4, mosaicRows } from '../../src/data/augment/mosaic.js';
import { applyPixelOpsToImage } from '../../src/data/augment/pixel-ops.js';
import type { AugmentHyp, SampleSource } from '../../src/data/augment/pipeline.js';
import { DEFAULT_AUGMENT, planSample, trainSample, valSample } from '../../src/data/augment/pipeline.js';
import type { Sample } from '../../src/data/augment/sample.js';
import type { RgbImage } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';

/** Colours that bilinear blends with the gray background (or each other) never imitate. */
const COLOURS: [number, number, number][] = [
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
  [255, 0, 255],
  [0, 255, 255],
  [255, 255, 255],
  [0, 0, 0],
];
const BG = 114;

interface Rect {
  cls: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** A gray image with filled rectangles, one colour per class, and its labels (xywh normalized). */
function canvas(w: number, h: number, rects: Rect[]): { image: RgbImage; cls: number[]; bboxes: number[] } {
  const data = new Uint8Array(w * h * 3).fill(BG);
  for (const r of rects) {
    for (let y = r.y1; y < r.y2; y++) for (let x = r.x1; x < r.x2; x++) data.set(COLOURS[r.cls], (y * w + x) * 3);
  }
  return {
    image: { data, width: w, height: h },
    cls: rects.map((r) => r.cls),
    bboxes: rects.flatMap((r) => [(r.x1 + r.x2) / 2 / w, (r.y1 + r.y2) / 2 / h, (r.x2 - r.x1) / w, (r.y2 - r.y1) / h]),
  };
}

/** Bounding box [x1, y1, x2, y2] of the pixels of a colour inside a window, and their count. */
function maskBox(s: Sample, cls: number, win?: number[]): { box: number[]; count: number } | null {
  const [cr, cg, cb] = COLOURS[cls];
  const [wx1, wy1, wx2, wy2] = win ? [Math.max(0, Math.floor(win[0])), Math.max(0, Math.floor(win[1])), Math.min(s.width, Math.ceil(win[2])), Math.min(s.height, Math.ceil(win[3]))] : [0, 0, s.width, s.height];
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  let count = 0;
  for (let y = wy1; y < wy2; y++) {
    for (let x = wx1; x < wx2; x++) {
      const o = (y * s.width + x) * 3;
      if (Math.abs(s.img[o] - cr) <= 10 && Math.abs(s.img[o + 1] - cg) <= 10 && Math.abs(s.img[o + 2] - cb) <= 10) {
        x1 = Math.min(x1, x);
        y1 = Math.min(y1, y);
        x2 = Math.max(x2, x + 1);
        y2 = Math.max(y2, y + 1);
        count++;
      }
    }
  }
  return count > 0 ? { box: [x1, y1, x2, y2], count } : null;
}

function iou(a: number[], b: number[]): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/**
 * Every label box of at least `minSide` px covers the pixels of its colour (IoU > 0.9); returns
 * the number of boxes checked. With rotation or perspective, a box clipped by the frame is
 * skipped: clipping the enclosing box of a rotated box (the reference's rule) overshoots its
 * visible pixels at a cut corner.
 */
function expectLabelsFollowPixels(s: Sample, minSide = 40, skipClipped = false): number {
  let checked = 0;
  for (let i = 0; i < s.cls.length; i++) {
    const box = s.boxes.slice(i * 4, i * 4 + 4);
    expect(box[0]).toBeGreaterThanOrEqual(0);
    expect(box[2]).toBeLessThanOrEqual(s.width);
    if (box[2] - box[0] < minSide || box[3] - box[1] < minSide) continue;
    if (skipClipped && (box[0] <= 0 || box[1] <= 0 || box[2] >= s.width || box[3] >= s.height)) continue;
    const m = maskBox(s, s.cls[i], [box[0] - 8, box[1] - 8, box[2] + 8, box[3] + 8]);
    expect(m, `class ${s.cls[i]} has no pixels in its box ${box.map((v) => v.toFixed(1))}`).not.toBeNull();
    expect(iou(box, m!.box), `box ${box.map((v) => v.toFixed(1))} vs mask ${m!.box}`).toBeGreaterThan(0.9);
    checked++;
  }
  // Conversely, a colour with a large visible area has a label.
  for (let c = 0; c < COLOURS.length; c++) {
    const m = maskBox(s, c);
    if (m && m.count > 4000 && m.box[2] - m.box[0] > minSide && m.box[3] - m.box[1] > minSide) expect(s.cls, `class ${c} is visible but unlabelled`).toContain(c);
  }
  return checked;
}

class Source implements SampleSource {
  constructor(readonly items: { image: RgbImage; cls: number[]; bboxes: number[] }[]) {}
  image(i: number): RgbImage {
    return this.items[i].image;
  }
  labels(i: number) {
    return { cls: this.items[i].cls, bboxes: this.items[i].bboxes };
  }
}

/** Four 320-px images with two rectangles each, eight classes in all. */
function source(): Source {
  return new Source([
    canvas(320, 240, [
      { cls: 0, x1: 20, y1: 30, x2: 120, y2: 110 },
      { cls: 1, x1: 170, y1: 120, x2: 290, y2: 220 },
    ]),
    canvas(240, 320, [
      { cls: 2, x1: 30, y1: 20, x2: 150, y2: 130 },
      { cls: 3, x1: 60, y1: 180, x2: 210, y2: 300 },
    ]),
    canvas(320, 200, [
      { cls: 4, x1: 10, y1: 10, x2: 140, y2: 150 },
      { cls: 5, x1: 180, y1: 40, x2: 300, y2: 180 },
    ]),
    canvas(300, 300, [
      { cls: 6, x1: 40, y1: 150, x2: 160, y2: 280 },
      { cls: 7, x1: 180, y1: 20, x2: 280, y2: 130 },
    ]),
  ]);
}

const NO_HSV: Partial<AugmentHyp> = { hsv_h: 0, hsv_s: 0, hsv_v: 0 };

describe('augmentations keep labels on their pixels', () => {
  const src = source();
  const run = (hyp: Partial<AugmentHyp>, mosaicOn: boolean, seeds: number, skipClipped = false): number => {
    const full: AugmentHyp = { ...DEFAULT_AUGMENT, ...NO_HSV, ...hyp };
    let checked = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const index = seed % 4;
      const plan = planSample(index, [0, 1, 2, 3], new Rng(seed, 1), full, mosaicOn);
      const s = trainSample(plan, src, [seed, 0, index], { imgsz: 320, hyp: full });
      expect([s.width, s.height]).toEqual([320, 320]);
      checked += expectLabelsFollowPixels(s, 40, skipClipped);
    }
    return checked;
  };

  it('mosaic + default affine + flips', () => {
    expect(run({ fliplr: 0.5, flipud: 0.5 }, true, 12)).toBeGreaterThan(20);
  });

  it('rotation, shear and scale (generic warp)', () => {
    expect(run({ degrees: 30, shear: 10, scale: 0.3 }, true, 8, true)).toBeGreaterThan(8);
  });

  it('perspective', () => {
    expect(run({ perspective: 0.0005, degrees: 10 }, true, 6, true)).toBeGreaterThan(4);
  });

  it('letterbox + affine without mosaic (close_mosaic), and rect shapes', () => {
    expect(run({}, false, 8)).toBeGreaterThan(8);
    const full: AugmentHyp = { ...DEFAULT_AUGMENT, ...NO_HSV, degrees: 5 };
    const s = trainSample(planSample(2, [], new Rng(1), full, false), src, [1, 0, 2], { imgsz: 320, hyp: full, shape: [224, 320] });
    expect([s.width, s.height]).toEqual([320, 224]);
    expectLabelsFollowPixels(s);
  });

  it('validation letterbox', () => {
    for (let i = 0; i < 4; i++) {
      const { sample, geometry } = valSample(i, src, [256, 320]);
      expect([sample.height, sample.width]).toEqual([256, 320]);
      expect(geometry.ratio[0]).toBeLessThanOrEqual(1);
      expect(expectLabelsFollowPixels(sample, 30)).toBe(2);
    }
  });

  it('mosaic places images around the centre and clips labels', () => {
    const parts = [0, 1, 2, 3].map((i) => {
      const it = src.items[i];
      const w = it.image.width;
      const h = it.image.height;
      const boxes = it.cls.flatMap((_, k) => {
        const [x, y, bw, bh] = it.bboxes.slice(k * 4, k * 4 + 4);
        return [(x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h];
      });
      return { img: it.image.data, width: w, height: h, boxes, cls: [...it.cls] };
    });
    const m = mosaic4(parts, 320, 330, 300);
    expect([m.width, m.height]).toEqual([640, 640]);
    // Image 0 (320x240) ends at the centre: its top-left is at (10, 60).
    expect(Array.from(m.img.subarray((60 * 640 + 10) * 3, (60 * 640 + 10) * 3 + 3))).toEqual([BG, BG, BG]);
    expect(m.boxes.slice(0, 4)).toEqual([30, 90, 130, 170]);
    expectLabelsFollowPixels(m);
    // Rows assembled on demand, whole or only some columns, match the materialized canvas.
    const rows = mosaicRows(parts, 320, 330, 300).rows;
    for (const [y, x0, x1] of [[0, 0, 640], [61, 5, 331], [300, 329, 333], [477, 17, 601], [639, 600, 640]]) {
      const want = m.img.subarray((y * 640 + x0) * 3, (y * 640 + x1) * 3);
      expect(Buffer.from(rows.row(y, x0, x1).subarray(x0 * 3, x1 * 3)).equals(Buffer.from(want)), `row ${y} [${x0}, ${x1})`).toBe(true);
    }
  });
});

describe('warp', () => {
  it('is the identity for an integer translation and fills 114 outside', () => {
    const src = canvas(50, 40, [{ cls: 0, x1: 5, y1: 5, x2: 20, y2: 25 }]).image;
    const dst = new Uint8Array(60 * 50 * 3);
    warpImage(src.data, 50, 40, new Float64Array([1, 0, 3, 0, 1, 2, 0, 0, 1]), dst, 60, 50);
    const want = new Uint8Array(60 * 50 * 3).fill(BG);
    for (let y = 0; y < 40; y++) want.set(src.data.subarray(y * 150, (y + 1) * 150), ((y + 2) * 60 + 3) * 3);
    expect(Buffer.from(dst).equals(Buffer.from(want))).toBe(true);
  });

  it('separable and generic paths agree', () => {
    const r = new Rng(5);
    const src = Uint8Array.from({ length: 70 * 50 * 3 }, () => r.int(0, 256));
    const M = new Float64Array([0.73, 0, -4.2, 0, 1.31, 3.7, 0, 0, 1]);
    const a = new Uint8Array(64 * 64 * 3);
    const b = new Uint8Array(64 * 64 * 3);
    warpImage(src, 70, 50, M, a, 64, 64);
    // A rotation by 1e-12 rad takes the generic path with the same 1/32-px coordinates.
    const c = Math.cos(1e-12);
    const s = Math.sin(1e-12);
    warpImage(src, 70, 50, new Float64Array([0.73 * c, -1.31 * s * 1e-3, -4.2, 0.73 * s * 1e-3, 1.31 * c, 3.7, 0, 0, 1]), b, 64, 64);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('applies HSV and flips while warping as they apply after it (every flip combination, edges included)', () => {
    const r = new Rng(8);
    const [sw, sh, dw, dh] = [71, 53, 67, 45];
    const src = Uint8Array.from({ length: sw * sh * 3 }, () => r.int(0, 256));
    // Scale 0.83 x 1.27 with a shift: rows and columns on both sides fall outside the source.
    const M = new Float64Array([0.83, 0, -3.6, 0, 1.27, -6.2, 0, 0, 1]);
    const hsv = hsvLuts([0.02, 0.5, -0.3]);
    for (const [flipUD, flipLR] of [[false, false], [true, false], [false, true], [true, true]]) {
      const ops = { hsv, flipUD, flipLR };
      const fused = new Uint8Array(dw * dh * 3);
      warpImage(src, sw, sh, M, fused, dw, dh, 0, 0, ops);
      const want = new Uint8Array(dw * dh * 3);
      warpImage(src, sw, sh, M, want, dw, dh);
      applyPixelOpsToImage(want, dw, dh, ops);
      expect(Buffer.from(fused).equals(Buffer.from(want)), `flipUD ${flipUD} flipLR ${flipLR}`).toBe(true);
    }
  });

  it('box candidates: the reference thresholds', () => {
    expect(boxCandidates([0, 0, 10, 10], [0, 0, 10, 10])).toEqual([true]);
    expect(boxCandidates([0, 0, 10, 10], [0, 0, 2, 10])).toEqual([false]); // w <= 2
    expect(boxCandidates([0, 0, 100, 100], [0, 0, 30, 30])).toEqual([false]); // area 9% of the original
    expect(boxCandidates([0, 0, 1000, 1000], [0, 0, 500, 4.9])).toEqual([false]); // aspect > 100
    expect(transformBoxes([0, 0, 10, 20], new Float64Array([0, -1, 0, 1, 0, 0, 0, 0, 1]))).toEqual([-20, 0, 0, 10]);
  });

  it('randomPerspective drops boxes pushed outside', () => {
    const c = canvas(100, 100, [
      { cls: 0, x1: 0, y1: 0, x2: 10, y2: 10 },
      { cls: 1, x1: 30, y1: 30, x2: 70, y2: 70 },
    ]);
    const s: Sample = { img: c.image.data, width: 100, height: 100, boxes: [0, 0, 10, 10, 30, 30, 70, 70], cls: [0, 1] };
    const out = randomPerspective(s, new Rng(3), { degrees: 0, translate: 0, scale: 0, shear: 0, perspective: 0 }, -25);
    expect([out.width, out.height]).toEqual([50, 50]);
    expect(out.cls).toEqual([1]);
    expect(out.boxes).toEqual([5, 5, 45, 45]);
  });
});

describe('flips, HSV, mixup, cutmix', () => {
  it('flips mirror pixels and boxes', () => {
    const c = canvas(64, 48, [{ cls: 2, x1: 5, y1: 10, x2: 25, y2: 40 }]);
    const s: Sample = { img: c.image.data.slice(), width: 64, height: 48, boxes: [5, 10, 25, 40], cls: [2] };
    flipLR(s);
    expect(s.boxes).toEqual([39, 10, 59, 40]);
    expect(maskBox(s, 2)!.box).toEqual([39, 10, 59, 40]);
    flipUD(s);
    expect(s.boxes).toEqual([39, 8, 59, 38]);
    expect(maskBox(s, 2)!.box).toEqual([39, 8, 59, 38]);
  });

  it('HSV: LUTs as the reference, gray stays gray, round trip within 5 levels (8-bit HSV, H in 2° steps)', () => {
    const { hue, sat, val } = hsvLuts([0.01, -0.5, 0.2]);
    expect(hue[10]).toBe(Math.trunc(10 + 1.8));
    expect(hue[179]).toBe(Math.trunc((179 + 1.8) % 180));
    expect(sat[0]).toBe(0);
    expect(sat[200]).toBe(100);
    expect(val[250]).toBe(255);
    const r = new Rng(9);
    const px = Uint8Array.from({ length: 3000 * 3 }, () => r.int(0, 256));
    const id = px.slice();
    applyHsv(id, 3000, [0, 0, 1e-12]);
    let maxErr = 0;
    for (let i = 0; i < px.length; i++) maxErr = Math.max(maxErr, Math.abs(id[i] - px[i]));
    expect(maxErr).toBeLessThanOrEqual(5);
    const gray = new Uint8Array([100, 100, 100, 7, 7, 7]);
    applyHsv(gray, 2, [0.3, 0.7, 0.5]);
    expect(Array.from(gray)).toEqual([150, 150, 150, 10, 10, 10]);
    // Pure red with hue +30 (of 180) becomes yellow-ish (R = G).
    const red = new Uint8Array([200, 0, 0]);
    applyHsv(red, 1, [30 / 180, 0, 0]);
    expect(Array.from(red)).toEqual([200, 200, 0]);
  });

  it('HSV: every pixel as cv2 computes it (integer RGB->HSV, LUTs, HSV->RGB v·(1 - s·k/30) exactly rounded)', () => {
    const r = new Rng(21);
    const n = 20011;
    const px = Uint8Array.from({ length: n * 3 }, () => r.int(0, 256));
    const gains: [number, number, number] = [0.013, -0.41, 0.27];
    const { hue, sat, val } = hsvLuts(gains);
    const want = new Uint8Array(n * 3);
    for (let i = 0; i < n * 3; i += 3) {
      const [R, G, B] = [px[i], px[i + 1], px[i + 2]];
      const v = Math.max(R, G, B);
      const diff = v - Math.min(R, G, B);
      const s = v === 0 ? 0 : (diff * Math.round((255 << 12) / v) + 2048) >> 12;
      let h = diff === 0 ? 0 : v === R ? G - B : v === G ? B - R + 2 * diff : R - G + 4 * diff;
      if (diff !== 0) h = (h * Math.round((180 << 12) / (6 * diff)) + 2048) >> 12;
      if (h < 0) h += 180;
      const [H, S, V] = [hue[h], sat[s], val[v]];
      const sector = Math.floor(H / 30);
      const k = H - sector * 30;
      // One correctly rounded division of integers: exact halves stay halves, rounded up.
      const t = (q: number): number => Math.round((V * (7650 - S * q)) / 7650);
      const tab = [V, t(30), t(k), t(30 - k)];
      const order = [[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]][sector];
      want.set(order.map((j) => tab[j]), i);
    }
    const got = px.slice();
    applyHsv(got, n, gains);
    expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
  });

  it('trainSample leaves HSV to its consumer: same draws, the pixels without HSV, the LUTs of the gains', () => {
    const src = source();
    const base: AugmentHyp = { ...DEFAULT_AUGMENT, fliplr: 0.5, flipud: 0.5, mixup: 0.5, cutmix: 0.5 };
    let mixed = 0;
    for (let seed = 0; seed < 10; seed++) {
      const plan = planSample(seed % 4, [0, 1, 2, 3], new Rng(seed, 1), base, seed % 3 !== 0);
      if (plan.mixup || plan.cutmix) mixed++;
      const withHsv = trainSample(plan, src, [seed, 0, seed % 4], { imgsz: 160, hyp: base });
      const without = trainSample(plan, src, [seed, 0, seed % 4], { imgsz: 160, hyp: { ...base, ...NO_HSV } });
      expect(without.hsv).toBeNull();
      expect(withHsv.hsv).not.toBeNull();
      // The gains are drawn either way (0·U(-1, 1) without): every later draw is the same.
      expect(Buffer.from(withHsv.img).equals(Buffer.from(without.img)), `seed ${seed}`).toBe(true);
      expect(withHsv.boxes).toEqual(without.boxes);
      // The LUTs are those of 3 uniform draws times the gains.
      const g = withHsv.hsv!;
      expect(g.sat[0]).toBe(0);
      expect(Math.max(...g.hue)).toBeLessThan(180);
      const img = withHsv.img.slice();
      applyHsvLuts(img, 0, img.length, g);
      expect(Buffer.from(img).equals(Buffer.from(withHsv.img))).toBe(false);
    }
    expect(mixed).toBeGreaterThan(2);
  });

  it('a batch\'s HSV array: LUTs per image, a skipped image left alone', () => {
    const r = new Rng(4);
    const [B, H, W] = [3, 5, 7];
    const images = Uint8Array.from({ length: B * H * W * 3 }, () => r.int(0, 256));
    const hsv = new Uint8Array(B * HSV_LUT_BYTES);
    const luts = [hsvLuts([0.1, 0.5, -0.3]), null, hsvLuts([-0.2, -0.5, 0.3])];
    luts.forEach((l, k) => packHsvLuts(hsv, k, l));
    expect(unpackHsvLuts(hsv, 1)).toBeNull();
    expect(Array.from(unpackHsvLuts(hsv, 2)!.val)).toEqual(Array.from(luts[2]!.val));
    const got = images.slice();
    applyBatchHsv(got, [B, H, W, 3], hsv);
    const slot = H * W * 3;
    for (let k = 0; k < B; k++) {
      const want = images.slice(k * slot, (k + 1) * slot);
      if (luts[k]) applyHsvLuts(want, 0, slot, luts[k]!);
      expect(Buffer.from(got.subarray(k * slot, (k + 1) * slot)).equals(Buffer.from(want)), `image ${k}`).toBe(true);
    }
    expect(Buffer.from(got.subarray(slot, 2 * slot)).equals(Buffer.from(images.subarray(slot, 2 * slot)))).toBe(true);
    expect(Buffer.from(got.subarray(0, slot)).equals(Buffer.from(images.subarray(0, slot)))).toBe(false);
  });

  it('mixup blends and keeps both label sets; cutmix pastes a box-free area', () => {
    const a: Sample = { img: new Uint8Array(12).fill(200), width: 2, height: 2, boxes: [0, 0, 1, 1], cls: [0] };
    const b: Sample = { img: new Uint8Array(12).fill(100), width: 2, height: 2, boxes: [1, 1, 2, 2], cls: [1] };
    mixup(a, b, 0.25);
    expect(a.img[0]).toBe(Math.trunc(200 * 0.25 + 100 * 0.75));
    expect(a.cls).toEqual([0, 1]);
    const c1 = canvas(200, 200, [{ cls: 0, x1: 0, y1: 0, x2: 20, y2: 20 }]);
    const c2 = canvas(200, 200, [{ cls: 1, x1: 80, y1: 80, x2: 180, y2: 180 }]);
    let pasted = 0;
    for (let seed = 0; seed < 20; seed++) {
      const s: Sample = { img: c1.image.data.slice(), width: 200, height: 200, boxes: [0, 0, 20, 20], cls: [0] };
      const o: Sample = { img: c2.image.data, width: 200, height: 200, boxes: [80, 80, 180, 180], cls: [1] };
      if (!cutmix(s, o, new Rng(seed))) continue;
      pasted++;
      expect(s.cls).toEqual([0, 1]);
      const box = s.boxes.slice(4, 8);
      expect(maskBox(s, 1)!.box).toEqual(box.map(Math.round));
    }
    expect(pasted).toBeGreaterThan(0);
  });
});
