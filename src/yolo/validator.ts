/**
 * Validation of a model already in memory, as the reference's `DetectionValidator` runs it: the loader's
 * rectangular letterboxed batches, forward in eval mode, decode, multi-label NMS (conf 0.001, IoU 0.7,
 * max_det 300), predictions and targets mapped to the original image (`scale_boxes` with the loader's
 * ratio_pad), then matching at IoU 0.50:0.95, the metrics and the confusion matrix. The trainer calls it
 * every epoch (with its loss, for the val losses); `yolo-wgpu val` calls it once.
 */
import type { Batch, DataLoader } from '../data/loader.js';
import { imagesToTensor } from '../kernels/image-input.js';
import { scaleBoxes, xywh2xyxy } from './box-ops.js';
import { ConfusionMatrix } from './confusion-matrix.js';
import type { DetectionModel } from './detection-model.js';
import { disposeInference, infer, readDecoded } from './infer.js';
import { MetricsAccumulator, type DetMetrics, type ImageTargets } from './metrics.js';
import type { DetectOutput } from './modules/detect.js';
import { detectionsFromDecoded, toOriginalImage } from './postprocess.js';
import type { ValSpeed } from './val-table.js';
import { saveValPlots } from './val-plots.js';

export interface ValidateOptions {
  /** Class names (the dataset's); their count must be the model's nc. */
  names: string[];
  /** Confidence threshold. Default 0.001. */
  conf?: number;
  /** NMS IoU threshold. Default 0.7. */
  iou?: number;
  maxDet?: number;
  /** Activation precision. Default f32. */
  dtype?: 'f32' | 'f16';
  /**
   * The val losses: loss items (box, cls, dfl) of a batch from the head's raw outputs; the result
   * averages them over the batches, as the reference's `val/*_loss` columns.
   */
  lossItems?: (out: DetectOutput, batch: Batch) => ArrayLike<number> | Promise<ArrayLike<number>>;
  /** Write the PR / F1 / P / R curves and the confusion matrices here. */
  plotsDir?: string;
  /** Called after each batch. */
  onBatch?: (done: number, total: number) => void;
}

export interface ValidationResult {
  metrics: DetMetrics;
  confusion: ConfusionMatrix;
  /** Milliseconds per image. */
  speed: ValSpeed;
  /** Mean loss items over the batches; null without `lossItems`. */
  losses: number[] | null;
  /** Plot files written. */
  plots: string[];
}

/** The targets of image `k` of a batch, in original-image pixels (the reference's `_prepare_batch`). */
export function batchTargets(batch: Batch, k: number): ImageTargets {
  const [, h, w] = batch.shape;
  const { batchIdx, cls, bboxes } = batch.labels;
  const rows: number[] = [];
  for (let i = 0; i < batchIdx.length; i++) if (batchIdx[i] === k) rows.push(i);
  const xyxy = xywh2xyxy(Float32Array.from(rows.flatMap((i) => Array.from(bboxes.subarray(4 * i, 4 * i + 4)))));
  for (let i = 0; i < xyxy.length; i++) xyxy[i] = Math.fround(xyxy[i] * (i % 2 === 0 ? w : h));
  scaleBoxes([h, w], xyxy, batch.originalShapes[k], batch.ratioPad[k]);
  return { boxes: xyxy, cls: Int32Array.from(rows, (i) => cls[i]) };
}

/** Runs the loader's batches (one epoch, from its start) through the model in eval mode; restores the mode after. */
export async function validate(model: DetectionModel, loader: DataLoader, o: ValidateOptions): Promise<ValidationResult> {
  if (o.names.length !== model.nc) throw new Error(`validate: ${o.names.length} class names for a model of ${model.nc} classes`);
  const conf = o.conf ?? 0.001;
  const nms = { conf, iou: o.iou ?? 0.7, maxDet: o.maxDet ?? 300, multiLabel: true };
  const metrics = new MetricsAccumulator();
  const confusion = new ConfusionMatrix(o.names);
  const ms = { preprocess: 0, inference: 0, loss: 0, postprocess: 0 };
  const lossSum: number[] = [];
  let batches = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    for await (const batch of loader.epoch(0, { start: 0 })) {
      // Preprocess is the upload (host time; the GPU expands the bytes ahead of the forward).
      let t = performance.now();
      const x = imagesToTensor(model.engine, batch.images, batch.shape, o.dtype ?? 'f32');
      loader.recycle(batch);
      ms.preprocess += performance.now() - t;
      t = performance.now();
      const run = infer(model, x, { keepRaw: o.lossItems !== undefined });
      try {
        const decoded = await readDecoded(run);
        ms.inference += performance.now() - t;
        if (o.lossItems) {
          t = performance.now();
          const items = await o.lossItems(run.raw!, batch);
          Array.from(items).forEach((v, i) => (lossSum[i] = (lossSum[i] ?? 0) + v));
          ms.loss += performance.now() - t;
        }
        t = performance.now();
        const [, h, w] = batch.shape;
        detectionsFromDecoded(decoded.data, decoded.shape, nms).forEach((d, k) => {
          toOriginalImage(d, [h, w], batch.originalShapes[k], batch.ratioPad[k]);
          const preds = { boxes: d.xyxy, conf: d.conf, cls: d.cls };
          const targets = batchTargets(batch, k);
          metrics.addImage(preds, targets);
          confusion.processBatch(preds, targets, conf);
        });
        ms.postprocess += performance.now() - t;
      } finally {
        disposeInference(run);
        x.dispose();
      }
      batches++;
      o.onBatch?.(batches, loader.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const result = metrics.compute(o.names);
  const images = Math.max(result.seen, 1);
  const speed: ValSpeed = { preprocess: ms.preprocess / images, inference: ms.inference / images, loss: ms.loss / images, postprocess: ms.postprocess / images };
  const plots = o.plotsDir ? await saveValPlots(o.plotsDir, result, confusion) : [];
  return { metrics: result, confusion, speed, losses: o.lossItems ? lossSum.map((s) => s / Math.max(batches, 1)) : null, plots };
}
