/**
 * From the decoded network output to detections on the original image, shared by `predict` and the
 * validator: confidence threshold and class-aware NMS (the reference's `non_max_suppression`), then the
 * boxes mapped from the letterboxed input back to the image they came from (`scale_boxes`: undo the
 * padding and the gain, clip to the image).
 */
import { scaleBoxes, type RatioPad, type Shape2 } from './box-ops.js';
import { nonMaxSuppression } from './nms.js';

/** The detections of one image, by decreasing confidence. */
export interface Detections {
  /** x1, y1, x2, y2 per box (4 n values), in pixels. */
  xyxy: Float32Array;
  conf: Float32Array;
  cls: Int32Array;
}

export interface PostprocessOptions {
  /** Confidence threshold (strict `>`). Default 0.25 (predict); the validator uses 0.001. */
  conf?: number;
  /** NMS IoU threshold. Default 0.7. */
  iou?: number;
  /** Detections kept per image. Default 300. */
  maxDet?: number;
  /** One NMS over all classes instead of one per class. */
  agnostic?: boolean;
  /** Every class above `conf` becomes a detection (the validator), not only the best one (predict). */
  multiLabel?: boolean;
  /** Keep only these classes. */
  classes?: readonly number[];
}

/** NMS over decoded rows `[N, A, 4 + nc]` (centre xywh in input pixels, then class scores). */
export function detectionsFromDecoded(decoded: Float32Array, shape: readonly [number, number, number], o: PostprocessOptions = {}): Detections[] {
  const [n, anchors, channels] = shape;
  const rows = nonMaxSuppression(decoded, [n, channels, anchors], {
    layout: 'rows',
    confThres: o.conf ?? 0.25,
    iouThres: o.iou ?? 0.7,
    maxDet: o.maxDet ?? 300,
    agnostic: o.agnostic,
    multiLabel: o.multiLabel,
    classes: o.classes,
  });
  return rows.map((r) => {
    const count = r.length / 6;
    const d: Detections = { xyxy: new Float32Array(count * 4), conf: new Float32Array(count), cls: new Int32Array(count) };
    for (let i = 0; i < count; i++) {
      d.xyxy.set(r.subarray(i * 6, i * 6 + 4), i * 4);
      d.conf[i] = r[i * 6 + 4];
      d.cls[i] = r[i * 6 + 5];
    }
    return d;
  });
}

/**
 * Maps boxes (in place) from the network input of `inputShape` [h, w] to the original image of
 * `originalShape` [h, w], clipped to it. Without `ratioPad` the gain and padding are those of a
 * centred letterbox between the two shapes (predict); the validator passes the loader's.
 */
export function toOriginalImage(d: Detections, inputShape: Shape2, originalShape: Shape2, ratioPad?: RatioPad): Detections {
  scaleBoxes(inputShape, d.xyxy, originalShape, ratioPad);
  return d;
}
