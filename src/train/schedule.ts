/**
 * The reference trainer's optimization schedule (`BaseTrainer.build_optimizer`, `_setup_train`,
 * `_setup_scheduler`, the warmup block of `_do_train`), as pure functions of the run's settings
 * and the position (epoch, iteration ni), so a resumed run gets exactly the values an
 * uninterrupted one had.
 */
import type { ParamGroup } from '../nn/optim.js';
import { npInterp, npRound as pyRound } from '../yolo/metrics.js';

/** np.interp(x, [x0, x1], [y0, y1]), as the warmup ramps use it. */
const interp = (x: number, x0: number, x1: number, y0: number, y1: number) => npInterp(x, [x0, x1], [y0, y1], 2);

/** Batches whose gradients are summed per optimizer step: max(round(nbs / batch), 1). */
export function accumulateSteps(nbs: number, batch: number): number {
  return Math.max(pyRound(nbs / batch), 1);
}

/** Weight decay scaled to the effective batch: weight_decay * batch * accumulate / nbs. */
export function scaledWeightDecay(weightDecay: number, batch: number, accumulate: number, nbs: number): number {
  return (weightDecay * batch * accumulate) / nbs;
}

export interface OptimizerChoice {
  name: 'SGD' | 'AdamW';
  lr: number;
  /** SGD momentum, or AdamW's beta1. */
  momentum: number;
  /** The bias group's warmup start (auto forces 0). */
  warmupBiasLr: number;
}

export interface OptimizerChoiceInput {
  optimizer: 'auto' | 'SGD' | 'AdamW';
  lr0: number;
  momentum: number;
  warmupBiasLr: number;
  nc: number;
  /** Training images. */
  datasetSize: number;
  batch: number;
  nbs: number;
  epochs: number;
}

/**
 * The optimizer and its starting settings. `auto`: iterations = ceil(images / max(batch, nbs)) *
 * epochs; over 10000, SGD(lr 0.01, momentum 0.9), else AdamW(lr round(0.002 * 5 / (4 + nc), 6),
 * beta1 0.9); lr0, momentum and warmup_bias_lr are then ignored (bias warmup starts at 0).
 */
export function chooseOptimizer(o: OptimizerChoiceInput): OptimizerChoice & { iterations?: number } {
  if (o.optimizer !== 'auto') return { name: o.optimizer, lr: o.lr0, momentum: o.momentum, warmupBiasLr: o.warmupBiasLr };
  const iterations = Math.ceil(o.datasetSize / Math.max(o.batch, o.nbs)) * o.epochs;
  // Python's round(x, 6); toFixed rounds the exact binary value too.
  const lrFit = Number(((0.002 * 5) / (4 + o.nc)).toFixed(6));
  return iterations > 10000
    ? { name: 'SGD', lr: 0.01, momentum: 0.9, warmupBiasLr: 0, iterations }
    : { name: 'AdamW', lr: lrFit, momentum: 0.9, warmupBiasLr: 0, iterations };
}

/** The per-epoch learning-rate factor: linear from 1 to lrf, or the cosine one-cycle. */
export function lrFactor(epoch: number, epochs: number, lrf: number, cosine: boolean): number {
  if (cosine) return ((1 - Math.cos((epoch * Math.PI) / epochs)) / 2) * (lrf - 1) + 1;
  return Math.max(1 - epoch / epochs, 0) * (1 - lrf) + lrf;
}

/** Warmup iterations: max(round(warmup_epochs * batches per epoch), 100), or -1 (none) when warmup_epochs is 0. */
export function warmupIterations(warmupEpochs: number, batchesPerEpoch: number): number {
  return warmupEpochs > 0 ? Math.max(pyRound(warmupEpochs * batchesPerEpoch), 100) : -1;
}

export interface ScheduleSettings {
  optimizer: OptimizerChoice;
  epochs: number;
  lrf: number;
  cosLr: boolean;
  warmupEpochs: number;
  warmupMomentum: number;
  /** args.momentum: where warmup takes SGD's momentum (also from auto's 0.9). */
  momentum: number;
  batchesPerEpoch: number;
  nbs: number;
  batch: number;
}

/** Learning rates of pg0 (biases), pg1 (decayed weights), pg2 (norm weights), the momentum and the accumulation at one iteration. */
export interface StepSettings {
  lr: [number, number, number];
  momentum: number;
  accumulate: number;
}

export class TrainSchedule {
  readonly warmup: number;
  readonly accumulate: number;

  constructor(readonly s: ScheduleSettings) {
    this.warmup = warmupIterations(s.warmupEpochs, s.batchesPerEpoch);
    this.accumulate = accumulateSteps(s.nbs, s.batch);
  }

  /**
   * Settings for iteration `ni` (batches since the start) in `epoch`. After warmup every group
   * runs at lr * lf(epoch) (LambdaLR stepped at each epoch start). During warmup (ni <= nw) the
   * bias group falls from warmup_bias_lr and the others rise from 0 to lr * lf(epoch), SGD's
   * momentum rises from warmup_momentum to momentum, and accumulation grows from 1 to nbs / batch.
   * AdamW's beta1 is not warmed up (its groups have no `momentum` in the reference).
   */
  at(epoch: number, ni: number): StepSettings {
    const { optimizer, nbs, batch } = this.s;
    const target = optimizer.lr * lrFactor(epoch, this.s.epochs, this.s.lrf, this.s.cosLr);
    const sgd = optimizer.name === 'SGD';
    if (ni > this.warmup) {
      const momentum = sgd && this.warmup >= 0 ? this.s.momentum : optimizer.momentum;
      return { lr: [target, target, target], momentum, accumulate: this.accumulate };
    }
    const nw = this.warmup;
    const other = interp(ni, 0, nw, 0, target);
    return {
      lr: [interp(ni, 0, nw, optimizer.warmupBiasLr, target), other, other],
      momentum: sgd ? interp(ni, 0, nw, this.s.warmupMomentum, this.s.momentum) : optimizer.momentum,
      accumulate: Math.max(1, pyRound(interp(ni, 0, nw, 1, nbs / batch))),
    };
  }

  /** Writes the settings into the optimizer's groups (pg0, pg1, pg2). */
  static apply(groups: readonly ParamGroup[], settings: StepSettings): void {
    groups.forEach((g, i) => {
      g.lr = settings.lr[i];
      g.momentum = settings.momentum;
    });
  }
}

/**
 * When to step: the reference steps once `ni - last_opt_step >= accumulate` (accumulate from the
 * schedule), and gradients left at an epoch's end carry into the next epoch.
 */
export function isStepIteration(ni: number, lastOptStep: number, accumulate: number): boolean {
  return ni - lastOptStep >= accumulate;
}
