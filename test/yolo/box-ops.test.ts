import { describe, expect, it } from 'vitest';
import { boxIou, clipBoxes, roundHalfEven, scaleBoxes, xywh2xyxy, xyxy2xywh } from '../../src/yolo/box-ops.js';

describe('box format conversion', () => {
  it('xywh <-> xyxy round trip, in place too', () => {
    const xywh = new Float32Array([50, 40, 20, 10, 0.5, 0.5, 1, 1]);
    const xyxy = xywh2xyxy(xywh);
    expect(Array.from(xyxy)).toEqual([40, 35, 60, 45, 0, 0, 1, 1]);
    expect(Array.from(xyxy2xywh(xyxy))).toEqual(Array.from(xywh));
    const inPlace = xywh.slice();
    expect(xywh2xyxy(inPlace, inPlace)).toBe(inPlace);
    expect(Array.from(inPlace)).toEqual(Array.from(xyxy));
  });
});

describe('box_iou', () => {
  it('N x M matrix: identical 1, disjoint 0, partial overlaps exact in f32', () => {
    const a = [0, 0, 10, 10, 100, 100, 110, 110];
    const b = [0, 0, 10, 10, 5, 0, 15, 10, 0, 0, 10, 20, 300, 300, 301, 301];
    const iou = boxIou(a, b);
    expect(iou.length).toBe(8);
    expect(Array.from(iou.subarray(0, 4))).toEqual([1, Math.fround(50 / 150), 0.5, 0]);
    expect(Array.from(iou.subarray(4))).toEqual([0, 0, 0, 0]);
  });

  it('touching boxes do not overlap; empty inputs give an empty matrix', () => {
    expect(boxIou([0, 0, 10, 10], [10, 0, 20, 10])[0]).toBe(0);
    expect(boxIou([], [0, 0, 1, 1]).length).toBe(0);
  });
});

describe('clip / scale_boxes', () => {
  it('clips x to [0, w] and y to [0, h]', () => {
    const b = new Float32Array([-5, -5, 700, 500, 10, 20, 30, 40]);
    clipBoxes(b, [480, 640]);
    expect(Array.from(b)).toEqual([0, 0, 640, 480, 10, 20, 30, 40]);
  });

  it('derives gain and rounded padding from the shapes (letterbox 480x640 -> 640x640)', () => {
    // gain = min(640/480, 640/640) = 1; pad = (round(-0.1), round(79.9)) = (0, 80)
    const b = new Float32Array([100, 180, 200, 280, 0, 50, 640, 700]);
    scaleBoxes([640, 640], b, [480, 640]);
    expect(Array.from(b)).toEqual([100, 100, 200, 200, 0, 0, 640, 480]);
    // 320x240 original in a 640x640 input: gain 2, pad (0, 80)
    const c = new Float32Array([100, 180, 200, 280]);
    scaleBoxes([640, 640], c, [240, 320]);
    expect(Array.from(c)).toEqual([50, 50, 100, 100]);
  });

  it('uses an explicit ratio_pad ((gain_h, gain_w), (pad_w, pad_h)); padding=false skips the shift', () => {
    const b = new Float32Array([30, 40, 110, 120]);
    scaleBoxes([640, 640], b, [1000, 1000], [[0.5, 0.5], [10, 20]]);
    expect(Array.from(b)).toEqual([40, 40, 200, 200]);
    const c = new Float32Array([30, 40, 110, 120]);
    scaleBoxes([640, 640], c, [1000, 1000], [[0.5, 0.5], [10, 20]], { padding: false });
    expect(Array.from(c)).toEqual([60, 80, 220, 240]);
  });

  it("Python round(): half to even", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });
});
