/**
 * The trainer's validation: the model's weights exchanged with the EMA's for the pass (as the
 * reference validates its EMA), the val losses computed from the head's raw outputs with the
 * training loss, and the model put back into train mode (frozen layers in eval).
 */
import { noGrad } from '../autograd/tape.js';
import type { Batch, DataLoader } from '../data/loader.js';
import type { ModelEMA } from '../nn/ema.js';
import type { DetectionModel } from '../yolo/detection-model.js';
import { detectionLoss } from '../yolo/loss/detection-loss.js';
import type { DetectOutput } from '../yolo/modules/detect.js';
import { validate, type ValidationResult } from '../yolo/validator.js';
import { padTargets } from './pad-targets.js';
import { setTrainMode } from './train-model.js';

export interface TrainValidation {
  result: ValidationResult;
  /** Precision, recall, mAP50, mAP50-95. */
  metrics: [number, number, number, number];
  fitness: number;
  /** Mean box, cls, dfl val losses. */
  losses: [number, number, number];
}

export interface TrainValidateOptions {
  names: string[];
  dtype: 'f32' | 'f16';
  gains: { box: number; cls: number; dfl: number };
  frozen: readonly number[];
  plotsDir?: string;
}

/** The loss items of one validation batch (no gradients recorded). */
export async function valLossItems(model: DetectionModel, out: DetectOutput, batch: Batch, gains: TrainValidateOptions['gains']): Promise<number[]> {
  const [, h, w] = batch.shape;
  const { loss, items } = noGrad(() => detectionLoss(out, padTargets(batch.labels, batch.shape[0]), { imgSize: [h, w], nc: model.nc, regMax: model.regMax, ...gains }));
  try {
    return Array.from(await items.read());
  } finally {
    items.dispose();
    loss.data.dispose();
  }
}

/** Validates `model` as it is (`ema` null: a model loaded from final weights) or with the EMA's weights swapped in. */
export async function validateForTraining(model: DetectionModel, ema: ModelEMA | null, loader: DataLoader, o: TrainValidateOptions): Promise<TrainValidation> {
  ema?.swap();
  let result: ValidationResult;
  try {
    result = await validate(model, loader, {
      names: o.names,
      dtype: o.dtype,
      plotsDir: o.plotsDir,
      lossItems: (out, batch) => valLossItems(model, out, batch, o.gains),
    });
  } finally {
    ema?.swap();
    setTrainMode(model, o.frozen);
  }
  const [p, r, map50, map] = result.metrics.meanResults();
  const l = result.losses ?? [0, 0, 0];
  return { result, metrics: [p, r, map50, map], fitness: result.metrics.fitness, losses: [l[0], l[1], l[2]] };
}
