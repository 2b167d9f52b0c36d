/**
 * RandomFlip (`augment.py::RandomFlip`): vertical with probability flipud (default 0), then
 * horizontal with probability fliplr (default 0.5); boxes mirrored (x -> w - x).
 */
import type { Sample } from './sample.js';

/** Mirrors the image left-right in place and its boxes. */
export function flipLR(s: Sample): void {
  const { img, width: w, height: h } = s;
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
  for (let i = 0; i < s.boxes.length; i += 4) {
    const x1 = s.boxes[i];
    s.boxes[i] = w - s.boxes[i + 2];
    s.boxes[i + 2] = w - x1;
  }
}

/** Mirrors the image top-bottom in place and its boxes. */
export function flipUD(s: Sample): void {
  const { img, width: w, height: h } = s;
  const rowBytes = w * 3;
  const tmp = new Uint8Array(rowBytes);
  for (let y = 0; y < h >> 1; y++) {
    const a = y * rowBytes;
    const b = (h - 1 - y) * rowBytes;
    tmp.set(img.subarray(a, a + rowBytes));
    img.copyWithin(a, b, b + rowBytes);
    img.set(tmp, b);
  }
  for (let i = 0; i < s.boxes.length; i += 4) {
    const y1 = s.boxes[i + 1];
    s.boxes[i + 1] = h - s.boxes[i + 3];
    s.boxes[i + 3] = h - y1;
  }
}
