/**
 * One training batch as the reference's `_do_train` runs it: upload, forward, detection loss,
 * backward (scaled by the f16 loss scale), and — when the accumulation count is reached — the
 * optimizer step (gradients unscaled and clipped to norm 10 on the GPU; a step whose gradients
 * hold inf/NaN is skipped there, without a readback), gradients cleared and the EMA updated.
 *
 * The only host readback is the batch's report (loss items, and the optimizer's control after a
 * step), copied into a small persistent tensor and read asynchronously, so the caller can queue
 * the next batch before waiting for it.
 */
import { backward } from '../autograd/backward.js';
import { Var } from '../autograd/variable.js';
import type { Batch } from '../data/loader.js';
import type { Engine } from '../gpu/engine.js';
import { keep, tidy } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { copyInto, fill } from '../kernels/copy.js';
import { imagesToTensor } from '../kernels/image-input.js';
import type { ModelEMA } from '../nn/ema.js';
import type { LossScaler, Optimizer } from '../nn/optim.js';
import type { DetectionModel } from '../yolo/detection-model.js';
import { detectionLoss } from '../yolo/loss/detection-loss.js';
import { padTargets } from './pad-targets.js';
import { isStepIteration, TrainSchedule, type StepSettings } from './schedule.js';

/** The reference's clip_grad_norm_ max_norm. */
export const MAX_GRAD_NORM = 10;

export interface StepParts {
  model: DetectionModel;
  optimizer: Optimizer;
  ema: ModelEMA;
  scaler: LossScaler | null;
  schedule: TrainSchedule;
  gains: { box: number; cls: number; dfl: number };
  dtype: 'f32' | 'f16';
}

/** What a batch reports once its values are back on the host. */
export interface BatchReport {
  /** box, cls, dfl loss items. */
  items: [number, number, number];
  /** Whether the optimizer stepped after this batch, and then whether the step was skipped (inf/NaN gradients). */
  stepped: boolean;
  skipped: boolean;
}

export interface BatchRun {
  settings: StepSettings;
  stepped: boolean;
  /** Resolves once the GPU has finished the batch. */
  report: Promise<BatchReport>;
}

export class TrainStep {
  private readonly engine: Engine;
  /** [box, cls, dfl, gradMul, skip, norm, steps]: what one batch reports (the items, then the optimizer's control). */
  private readonly report: Tensor;

  constructor(private readonly p: StepParts) {
    this.engine = p.model.engine;
    this.report = keep(Tensor.empty(this.engine, [7], 'f32', 'other'));
  }

  /**
   * Runs batch `ni` of `epoch`; `lastOptStep` is the ni of the previous optimizer step. With
   * `poison`, the loss and its gradients become NaN (tests of the NaN handling).
   */
  run(batch: Batch, epoch: number, ni: number, lastOptStep: number, poison = false): BatchRun {
    const { model, optimizer, ema, scaler, gains, dtype } = this.p;
    const settings = this.p.schedule.at(epoch, ni);
    TrainSchedule.apply(optimizer.groups, settings);
    const [, h, w] = batch.shape;
    const x = imagesToTensor(this.engine, batch.images, batch.shape, dtype, 'input', batch.hsv);
    const scale = scaler?.scale ?? 1;
    try {
      tidy(() => {
        const out = model.forward(new Var(x));
        const { loss, items } = detectionLoss(out, padTargets(batch.labels, batch.shape[0]), { imgSize: [h, w], nc: model.nc, regMax: model.regMax, ...gains });
        const reported = this.report.slice(0, 0, 3);
        copyInto(items, reported);
        if (poison) fill(reported, NaN);
        backward(loss, Tensor.fromHost(this.engine, [poison ? NaN : scale], loss.shape, 'f32', 'other'), { takeSeed: true });
      });
    } finally {
      x.dispose();
    }
    const stepped = isStepIteration(ni, lastOptStep, settings.accumulate);
    if (stepped) {
      optimizer.step({ maxNorm: MAX_GRAD_NORM, lossScale: scale });
      optimizer.zeroGrad();
      ema.update();
      tidy(() => copyInto(optimizer.control, this.report.slice(0, 3, 7)));
    }
    const report = this.report.read().then((v): BatchReport => ({ items: [v[0], v[1], v[2]], stepped, skipped: stepped && v[4] !== 0 }));
    return { settings, stepped, report };
  }

  dispose(): void {
    this.report.dispose();
  }
}
