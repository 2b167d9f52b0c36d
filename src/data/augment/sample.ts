/** The unit the augmentations pass along: an RGB image and its boxes in pixels. */

export interface Sample {
  /** HWC RGB uint8, length width * height * 3. */
  img: Uint8Array;
  width: number;
  height: number;
  /** xyxy in pixels, 4 per box. */
  boxes: number[];
  /** Class id per box. */
  cls: number[];
}

/** Pixel xyxy boxes from normalized xywh for an image of w x h. */
export function xywhnToXyxy(xywhn: ArrayLike<number>, w: number, h: number): number[] {
  const out: number[] = new Array(xywhn.length);
  for (let i = 0; i < xywhn.length; i += 4) {
    const x = xywhn[i] * w;
    const y = xywhn[i + 1] * h;
    const bw = xywhn[i + 2] * w;
    const bh = xywhn[i + 3] * h;
    out[i] = x - bw / 2;
    out[i + 1] = y - bh / 2;
    out[i + 2] = x + bw / 2;
    out[i + 3] = y + bh / 2;
  }
  return out;
}

/** Clips xyxy boxes to [0, w] x [0, h] in place (`Instances.clip`). */
export function clipBoxes(boxes: number[], w: number, h: number): void {
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = Math.min(Math.max(boxes[i], 0), w);
    boxes[i + 1] = Math.min(Math.max(boxes[i + 1], 0), h);
    boxes[i + 2] = Math.min(Math.max(boxes[i + 2], 0), w);
    boxes[i + 3] = Math.min(Math.max(boxes[i + 3], 0), h);
  }
}

/** Keeps the boxes (and classes) for which keep(i) is true. */
export function filterBoxes(s: { boxes: number[]; cls: number[] }, keep: (i: number) => boolean): void {
  let k = 0;
  for (let i = 0; i < s.cls.length; i++) {
    if (!keep(i)) continue;
    if (k !== i) {
      s.cls[k] = s.cls[i];
      for (let j = 0; j < 4; j++) s.boxes[k * 4 + j] = s.boxes[i * 4 + j];
    }
    k++;
  }
  s.cls.length = k;
  s.boxes.length = k * 4;
}
