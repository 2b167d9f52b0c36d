import { describe, expect, it } from 'vitest';
import { decodeImage, letterbox, letterboxGeometry, loadResized, resizedShape } from '../../src/data/image.js';
import { resizeBilinear, rint } from '../../src/data/resize.js';
import { Rng } from '../../src/data/rng.js';
import { SHARED } from '../helpers/shared.js';

describe('letterbox geometry (the reference LetterBox)', () => {
  it('bus.jpg 810x1080 to 640', async () => {
    const bus = await decodeImage(`${SHARED}/data/images/bus.jpg`);
    expect([bus.width, bus.height]).toEqual([810, 1080]);
    // r = min(640/1080, 640/810) = 0.5926; new_unpad = (480, 640); dw = 160 -> 80 | 80
    const g = letterboxGeometry(1080, 810, 640);
    expect(g.ratio[0]).toBeCloseTo(640 / 1080, 12);
    expect(g.newUnpad).toEqual([480, 640]);
    expect([g.top, g.bottom, g.left, g.right]).toEqual([0, 0, 80, 80]);
    expect(g.shape).toEqual([640, 640]);
    // auto (minimal rectangle): 160 % 32 = 0 -> 640x480
    expect(letterboxGeometry(1080, 810, 640, { auto: true }).shape).toEqual([640, 480]);
    const { image } = letterbox(bus, 640);
    expect([image.width, image.height]).toEqual([640, 640]);
    expect(Array.from(image.data.subarray(0, 3))).toEqual([114, 114, 114]);
    expect(Array.from(image.data.subarray((320 * 640 + 639) * 3, (320 * 640 + 640) * 3))).toEqual([114, 114, 114]);
  });

  it('zidane.jpg 1280x720 to 640', () => {
    // r = 0.5; new_unpad = (640, 360); dh = 280 -> round(139.9) = 140 | round(140.1) = 140
    const g = letterboxGeometry(720, 1280, 640);
    expect(g.newUnpad).toEqual([640, 360]);
    expect([g.top, g.bottom, g.left, g.right]).toEqual([140, 140, 0, 0]);
    // auto: 280 % 32 = 24 -> 12 | 12 -> 384x640
    const a = letterboxGeometry(720, 1280, 640, { auto: true });
    expect([a.top, a.bottom, a.shape[0], a.shape[1]]).toEqual([12, 12, 384, 640]);
  });

  it('splits odd padding with the -0.1/+0.1 trick and rounds half to even', () => {
    const g = letterboxGeometry(301, 640, 640);
    expect([g.top, g.bottom]).toEqual([169, 170]);
    // w·r = 2.5 -> Python round -> 2 (not 3)
    expect(letterboxGeometry(10, 5, 5).newUnpad).toEqual([2, 5]);
    expect(rint(2.5)).toBe(2);
    expect(rint(3.5)).toBe(4);
    expect(rint(-2.5)).toBe(-2);
  });

  it('scaleup false never enlarges; scaleFill stretches', () => {
    const g = letterboxGeometry(100, 200, 640, { scaleup: false });
    expect(g.ratio).toEqual([1, 1]);
    expect(g.newUnpad).toEqual([200, 100]);
    expect([g.top, g.bottom, g.left, g.right]).toEqual([270, 270, 220, 220]);
    const f = letterboxGeometry(100, 200, [320, 640], { scaleFill: true });
    expect(f.newUnpad).toEqual([640, 320]);
    expect(f.ratio).toEqual([3.2, 3.2]);
  });
});

describe('load_image resize (long side to imgsz)', () => {
  it('computes ceil sizes capped at imgsz', () => {
    expect(resizedShape(1080, 810, 640)).toEqual([640, 480]);
    expect(resizedShape(480, 640, 640)).toEqual([480, 640]);
    expect(resizedShape(427, 640, 320)).toEqual([214, 320]);
    expect(resizedShape(100, 50, 640)).toEqual([640, 320]);
  });

  it('loads bus.jpg resized', async () => {
    const { image, originalShape } = await loadResized(`${SHARED}/data/images/bus.jpg`, 320);
    expect(originalShape).toEqual([1080, 810]);
    expect([image.height, image.width]).toEqual([320, 240]);
  });
});

describe('resizeBilinear (cv2 INTER_LINEAR)', () => {
  function random(w: number, h: number, seed: number): Uint8Array {
    const r = new Rng(seed);
    return Uint8Array.from({ length: w * h * 3 }, () => r.int(0, 256));
  }

  /** Float reference: half-pixel centres, two taps per axis, edge clamp. */
  function reference(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
    const out = new Float64Array(dw * dh * 3);
    const tap = (d: number, s: number, n: number): [number, number, number] => {
      let f = (d + 0.5) * (n / s) - 0.5;
      let i = Math.floor(f);
      f -= i;
      if (i < 0) [i, f] = [0, 0];
      if (i >= n - 1) [i, f] = [n - 1, 0];
      return [i, Math.min(i + 1, n - 1), f];
    };
    for (let y = 0; y < dh; y++) {
      let [y0, y1, fy] = tap(y, dh, sh);
      if (y0 === y1) fy = 0;
      for (let x = 0; x < dw; x++) {
        const [x0, x1, fx] = tap(x, dw, sw);
        for (let c = 0; c < 3; c++) {
          const p = (yy: number, xx: number) => src[(yy * sw + xx) * 3 + c];
          out[(y * dw + x) * 3 + c] = (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x1)) + fy * ((1 - fx) * p(y1, x0) + fx * p(y1, x1));
        }
      }
    }
    return out;
  }

  it('matches a float bilinear reference within 1 level, up and down', () => {
    for (const [sw, sh, dw, dh] of [
      [37, 23, 64, 40],
      [64, 48, 21, 17],
      [100, 60, 50, 30],
      [31, 31, 93, 7],
    ]) {
      const src = random(sw, sh, sw * sh);
      const got = resizeBilinear(src, sw, sh, dw, dh);
      const want = reference(src, sw, sh, dw, dh);
      let maxErr = 0;
      for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
      expect(maxErr).toBeLessThanOrEqual(1);
    }
  });

  it('halving averages 2x2 blocks exactly (as cv2, which switches to INTER_AREA there)', () => {
    const src = random(8, 6, 3);
    const got = resizeBilinear(src, 8, 6, 4, 3);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        for (let c = 0; c < 3; c++) {
          const p = (yy: number, xx: number) => src[(yy * 8 + xx) * 3 + c];
          const avg = (p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1) + 2) >> 2;
          expect(got[(y * 4 + x) * 3 + c]).toBe(avg);
        }
      }
    }
  });
});
