import { describe, expect, it } from 'vitest';
import { letterboxGeometry } from '../../src/data/image.js';
import { readSafetensorsFloat32 } from '../../src/io/safetensors.js';
import { detectionsFromDecoded, toOriginalImage, type Detections } from '../../src/yolo/postprocess.js';
import { rng } from '../helpers/gpu.js';
import { FIXTURES } from '../helpers/shared.js';

/** Decoded rows [1, A, 4 + nc] from anchors (centre xywh, class scores). */
function decoded(anchors: { xywh: number[]; scores: number[] }[]): { data: Float32Array; shape: [number, number, number] } {
  const c = 4 + anchors[0].scores.length;
  const data = new Float32Array(anchors.length * c);
  anchors.forEach((a, i) => data.set([...a.xywh, ...a.scores], i * c));
  return { data, shape: [1, anchors.length, c] };
}

const rows = (d: Detections) => Array.from(d.cls, (c, i) => [...d.xyxy.subarray(4 * i, 4 * i + 4)].concat([d.conf[i], c]));

describe('detectionsFromDecoded', () => {
  // two boxes overlapping with IoU 81 / 119 = 0.68 (10x10 shifted by 1 px diagonally), one far away
  const near = [50, 50, 10, 10];
  const shifted = [51, 51, 10, 10];
  const far = [200, 100, 20, 40];

  it('keeps the best of overlapping same-class boxes at IoU 0.5, both at 0.7; rows by confidence, xyxy', () => {
    const { data, shape } = decoded([
      { xywh: near, scores: [0.8, 0.1] },
      { xywh: shifted, scores: [0.9, 0.1] },
      { xywh: far, scores: [0.1, 0.6] },
    ]);
    const [strict] = detectionsFromDecoded(data, shape, { iou: 0.5 });
    expect(rows(strict)).toEqual([
      [46, 46, 56, 56, Math.fround(0.9), 0],
      [190, 80, 210, 120, Math.fround(0.6), 1],
    ]);
    const [loose] = detectionsFromDecoded(data, shape, { iou: 0.7 });
    expect(Array.from(loose.cls)).toEqual([0, 0, 1]);
  });

  it('is class-aware unless agnostic', () => {
    const { data, shape } = decoded([
      { xywh: near, scores: [0.8, 0.1] },
      { xywh: shifted, scores: [0.1, 0.9] },
    ]);
    expect(Array.from(detectionsFromDecoded(data, shape, { iou: 0.5 })[0].cls)).toEqual([1, 0]);
    expect(Array.from(detectionsFromDecoded(data, shape, { iou: 0.5, agnostic: true })[0].cls)).toEqual([1]);
  });

  it('confidence is a strict threshold; multi-label gives one row per class above it; max_det truncates', () => {
    const { data, shape } = decoded([
      { xywh: near, scores: [0.25, 0.3] },
      { xywh: far, scores: [0.5, 0.4] },
    ]);
    expect(rows(detectionsFromDecoded(data, shape)[0]).map((r) => r[5])).toEqual([0, 1]); // 0.5 (far, cls 0), 0.3 (near, cls 1)
    const multi = detectionsFromDecoded(data, shape, { conf: 0.2, multiLabel: true })[0];
    expect(Array.from(multi.conf)).toEqual([0.5, 0.4, 0.3, 0.25].map(Math.fround));
    expect(Array.from(multi.cls)).toEqual([0, 1, 1, 0]);
    expect(Array.from(detectionsFromDecoded(data, shape, { conf: 0.25, multiLabel: true })[0].conf)).toEqual([0.5, 0.4, 0.3].map(Math.fround));
    expect(detectionsFromDecoded(data, shape, { conf: 0.2, multiLabel: true, maxDet: 3 })[0].cls.length).toBe(3);
    expect(detectionsFromDecoded(data, shape, { conf: 0.6 })[0].cls.length).toBe(0);
  });

  it('handles a batch: images are independent', () => {
    const a = decoded([{ xywh: near, scores: [0.9] }, { xywh: far, scores: [0.1] }]);
    const b = decoded([{ xywh: far, scores: [0.3] }, { xywh: near, scores: [0.7] }]);
    const both = new Float32Array([...a.data, ...b.data]);
    const [d0, d1] = detectionsFromDecoded(both, [2, 2, 5]);
    expect(Array.from(d0.conf)).toEqual([Math.fround(0.9)]);
    expect(Array.from(d1.conf)).toEqual([0.7, 0.3].map(Math.fround));
  });
});

describe('toOriginalImage', () => {
  const dets = (xyxy: number[]): Detections => ({ xyxy: Float32Array.from(xyxy), conf: new Float32Array(xyxy.length / 4), cls: new Int32Array(xyxy.length / 4) });

  it('undoes the letterbox by hand: a 100x200 image in a 128x128 input has gain 0.64 and 32 px of padding on top', () => {
    const d = toOriginalImage(dets([10, 42, 74, 74, -5, 20, 130, 100]), [128, 128], [100, 200]);
    expect(Array.from(d.xyxy)).toEqual([15.625, 15.625, 115.625, 65.625, 0, 0, 200, 100]); // second box clipped
  });

  it('uses the loader ratio_pad when given ([[gain_h, gain_w], [pad_w, pad_h]])', () => {
    const d = toOriginalImage(dets([20, 30, 40, 50]), [64, 64], [100, 100], [[0.5, 0.5], [10, 20]]);
    expect(Array.from(d.xyxy)).toEqual([20, 20, 60, 60]);
  });

  it('inverts the letterbox geometry (auto and square) on random odd shapes within a pixel', () => {
    const r = rng(7);
    for (let k = 0; k < 50; k++) {
      const h0 = 17 + Math.floor(r() * 1500), w0 = 17 + Math.floor(r() * 1500);
      const auto = k % 2 === 0;
      const g = letterboxGeometry(h0, w0, 640, { auto, stride: 32 });
      const box = [r() * w0 * 0.5, r() * h0 * 0.5, w0 * (0.5 + r() * 0.5), h0 * (0.5 + r() * 0.5)];
      const input = box.map((v, i) => v * g.ratio[0] + (i % 2 === 0 ? g.left : g.top));
      const back = toOriginalImage(dets(input), g.shape, [h0, w0]).xyxy;
      // the reference derives the padding from the shapes (rounded), off by at most half a pixel before the gain
      back.forEach((v, i) => expect(Math.abs(v - box[i])).toBeLessThanOrEqual(1 / g.ratio[0] + 1e-3));
    }
  });
});

describe('the reference output on bus.jpg (v8n-coco128, 640x640 letterbox)', () => {
  it('finds the persons it scores above 0.05, on the people, inside the 810x1080 image', () => {
    const t = readSafetensorsFloat32(`${FIXTURES}/v8n-coco128.forward640.safetensors`).get('decoded')!;
    const [, c, a] = t.shape; // [1, 84, 8400] channel-major: transpose to rows
    const rowsData = new Float32Array(a * c);
    for (let i = 0; i < a; i++) for (let j = 0; j < c; j++) rowsData[i * c + j] = t.data[j * a + i];
    const [d] = detectionsFromDecoded(rowsData, [1, a, c], { conf: 0.05 });
    toOriginalImage(d, [640, 640], [1080, 810]);
    expect(d.cls.length).toBeGreaterThanOrEqual(3);
    expect(new Set(d.cls)).toEqual(new Set([0])); // all persons
    expect(d.conf[0]).toBeCloseTo(0.13525, 4);
    // the best box: the person at the right edge, standing (taller than wide), feet near the bottom of the bus
    const [x1, y1, x2, y2] = d.xyxy.subarray(0, 4);
    expect(x1).toBeGreaterThan(600);
    expect(x2).toBeLessThanOrEqual(810);
    expect(y2 - y1).toBeGreaterThan(1.5 * (x2 - x1));
    expect(y2).toBeGreaterThan(800);
    for (const v of d.xyxy) expect(v).toBeGreaterThanOrEqual(0);
  });
});
