/**
 * RandomFlip (`augment.py::RandomFlip`): vertical with probability flipud (default 0), then
 * horizontal with probability fliplr (default 0.5); boxes mirrored (x -> w - x).
 */
import type { Sample } from './sample.js';

/** Mirrors an RGB image left-right in place. */
export function flipImageLR(img: Uint8Array, w: number, h: number): void {
  for (let y = 0; y < h; y++) {
    let a = y * w * 3;
    let b = a + (w - 1) * 3;
    while (a < b) {
      const r = img[a];
      const g = img[a + 1];
      const bl = img[a + 2];
      img[a] = img[b];
      img[a + 1] = img[b + 1];
      img[a + 2] = img[b + 2];
      img[b] = r;
      img[b + 1] = g;
      img[b + 2] = bl;
      a += 3;
      b -= 3;
    }
  }
}

/** Mirrors an RGB image top-bottom in place. */
export function flipImageUD(img: Uint8Array, w: number, h: number): void {
  const rowBytes = w * 3;
  const tmp = new Uint8Array(rowBytes);
  for (let y = 0; y < h >> 1; y++) {
    const a = y * rowBytes;
    const b = (h - 1 - y) * rowBytes;
    tmp.set(img.subarray(a, a + rowBytes));
    img.copyWithin(a, b, b + rowBytes);
    img.set(tmp, b);
  }
}

/** Mirrors xyxy boxes of an image w wide left-right in place. */
export function flipBoxesLR(boxes: number[], w: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    const x1 = boxes[i];
    boxes[i] = w - boxes[i + 2];
    boxes[i + 2] = w - x1;
  }
}

/** Mirrors xyxy boxes of an image h high top-bottom in place. */
export function flipBoxesUD(boxes: number[], h: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    const y1 = boxes[i + 1];
    boxes[i + 1] = h - boxes[i + 3];
    boxes[i + 3] = h - y1;
  }
}

/** Mirrors the image left-right in place and its boxes. */
export function flipLR(s: Sample): void {
  flipImageLR(s.img, s.width, s.height);
  flipBoxesLR(s.boxes, s.width);
}

/** Mirrors the image top-bottom in place and its boxes. */
export function flipUD(s: Sample): void {
  flipImageUD(s.img, s.width, s.height);
  flipBoxesUD(s.boxes, s.height);
}
