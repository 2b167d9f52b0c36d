/**
 * The training-step benchmark: a model from yaml trained on B random images with the surrogate loss
 * "sum over the head's 6 outputs (3 levels x box and class branches, before concatenation) of the
 * mean of their squares" and SGD (lr 0.01, momentum 0.9, Nesterov). bench/torch/step.py runs the same
 * network, loss and optimizer in PyTorch. Reports the median step time after warm-up, the arena's peak
 * bytes by category, and where the GPU time of one step goes (per-dispatch timestamps).
 */
import { backward } from '../../autograd/backward.js';
import { add, mean, square } from '../../autograd/ops.js';
import { Var } from '../../autograd/variable.js';
import type { CategoryBytes } from '../../gpu/arena.js';
import type { Engine } from '../../gpu/engine.js';
import { keep, tidy } from '../../gpu/scope.js';
import { Tensor } from '../../gpu/tensor.js';
import { benchData, median } from '../../kernels/bench/timing.js';
import { LossScaler, SGD } from '../../nn/optim.js';
import { buildModel } from '../build.js';
import type { DetectionModel } from '../detection-model.js';
import type { DetectOutput } from '../modules/detect.js';

export interface StepBenchOptions {
  /** Model yaml name or file, e.g. `yolov8n.yaml`. */
  model: string;
  batch: number;
  imgsz: number;
  /** f16: f16 activations, f32 master weights, dynamic loss scaling. */
  precision: 'f32' | 'f16';
  /** `all`: every layer before the head in its own checkpoint (recomputed in backward). */
  checkpoint: 'none' | 'all';
  /** Timed steps (after warm-up). */
  steps: number;
  /** Untimed steps first (pipelines, optimizer state, clocks). Default 3. */
  warmup?: number;
  /** Kernels listed in the profile. Default 12. */
  top?: number;
  log?: (line: string) => void;
}

export interface KernelShare {
  name: string;
  dispatches: number;
  ms: number;
  /** Share of the profiled step's GPU time. */
  share: number;
}

export interface StepBenchResult {
  model: string;
  batch: number;
  imgsz: number;
  precision: 'f32' | 'f16';
  checkpoint: 'none' | 'all';
  params: number;
  /** Median over the timed steps. */
  msPerStep: number;
  stepMs: number[];
  imagesPerSec: number;
  /** The arena's peak during the timed steps, its breakdown at that moment, and each category's own peak. */
  peakBytes: number;
  atPeak: CategoryBytes;
  peak: CategoryBytes;
  /** The surrogate loss of the last step (a sanity check: finite, decreasing). */
  loss: number;
  /** Steps whose f16 gradients overflowed (skipped by the optimizer). */
  skipped: number;
  /**
   * GPU time of one profiled step by kernel, largest first, and by tagged operation (each
   * convolution, forward and both gradients, by shape key; all of them); null without
   * timestamp queries.
   */
  profile: { totalMs: number; dispatches: number; kernels: KernelShare[]; operations: OperationTime[] } | null;
}

/** GPU time of the dispatches of one tagged operation (a convolution shape key) in one step. */
export interface OperationTime {
  tag: string;
  ms: number;
  dispatches: number;
}

/** The surrogate loss; each output and its square are released as soon as the next op holds what backward needs. */
export function surrogateLoss(out: DetectOutput): Var {
  let total: Var | null = null;
  for (const y of [...out.box, ...out.cls]) {
    const squared = square(y);
    y.data.dispose();
    const m = mean(squared);
    squared.data.dispose();
    total = total ? add(total, m) : m;
  }
  return total!;
}

/** One training step: forward, surrogate loss, backward, SGD update; returns the loss tensor [1]. */
function trainStep(model: DetectionModel, optimizer: SGD, x: Tensor, checkpoint: boolean, lossScale: number): Tensor {
  const loss = tidy(() => {
    const l = surrogateLoss(model.forward(new Var(x), { checkpoint }));
    backward(l, lossScale === 1 ? undefined : Tensor.fromHost(x.engine, [lossScale], l.shape, 'f32', 'other'));
    return keep(l.data);
  });
  optimizer.step({ lossScale });
  optimizer.zeroGrad();
  return loss;
}

/** A model, its optimizer and one fixed batch of random images, taking training steps. */
export interface StepSession {
  /** One training step; resolves when the GPU has finished it. */
  step(): Promise<void>;
  /** The surrogate loss of the last step. */
  readonly lastLoss: number;
  /** Steps whose f16 gradients overflowed (skipped by the optimizer) since the last reset. */
  skipped: number;
  readonly params: number;
  dispose(): void;
}

/** Builds the benchmark's model, SGD and input batch (`o.model`, `o.batch`, `o.imgsz`, `o.precision`, `o.checkpoint`). */
export function stepSession(engine: Engine, o: Omit<StepBenchOptions, 'steps'>): StepSession {
  if (o.precision === 'f16' && !engine.features.shaderF16) throw new Error('f16 needs the shader-f16 feature');
  const model = buildModel(engine, o.model).train();
  const params = model.namedParameters().map(([, v]) => v).filter((v) => v.requiresGrad);
  const optimizer = new SGD(engine, [{ name: 'pg1', params, lr: 0.01, weightDecay: 0, momentum: 0.9 }], true);
  const scaler = o.precision === 'f16' ? new LossScaler() : null;
  const x = Tensor.fromHost(engine, benchData(o.batch * o.imgsz * o.imgsz * 3, 1).map((v) => (v + 1) / 2), [o.batch, o.imgsz, o.imgsz, 3], o.precision, 'input');
  const checkpoint = o.checkpoint === 'all';
  const session = {
    lastLoss: NaN,
    skipped: 0,
    params: model.parameterCount(),
    async step(): Promise<void> {
      const loss = trainStep(model, optimizer, x, checkpoint, scaler?.scale ?? 1);
      // The loss and the optimizer's control words in one round trip.
      const [lossValue, control] = await Tensor.readAll([loss, optimizer.control]);
      if (scaler) {
        const skip = control[1] !== 0;
        scaler.update(skip);
        if (skip) session.skipped++;
      }
      session.lastLoss = lossValue[0];
      loss.dispose();
    },
    dispose(): void {
      x.dispose();
      optimizer.dispose();
      model.dispose();
    },
  };
  return session;
}

export async function benchStep(engine: Engine, o: StepBenchOptions): Promise<StepBenchResult> {
  const log = o.log ?? (() => {});
  const session = stepSession(engine, o);
  try {
    const warmup = o.warmup ?? 3;
    for (let i = 0; i < warmup; i++) {
      log(`warm-up step ${i + 1}/${warmup}`);
      await session.step();
    }
    engine.arena.resetPeak();
    session.skipped = 0;
    const stepMs: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t0 = performance.now();
      await session.step();
      stepMs.push(performance.now() - t0);
      log(`step ${i + 1}/${o.steps}: ${stepMs[i].toFixed(1)} ms, loss ${session.lastLoss.toPrecision(5)}`);
    }
    const s = engine.stats();
    const profile = engine.features.timestampQuery ? await profileStep(engine, () => session.step(), o.top ?? 12) : null;
    const msPerStep = median(stepMs);
    return {
      model: o.model,
      batch: o.batch,
      imgsz: o.imgsz,
      precision: o.precision,
      checkpoint: o.checkpoint,
      params: session.params,
      msPerStep,
      stepMs,
      imagesPerSec: (o.batch * 1000) / msPerStep,
      peakBytes: s.peakBytes,
      atPeak: s.atPeak,
      peak: s.peak,
      loss: session.lastLoss,
      skipped: session.skipped,
      profile,
    };
  } finally {
    session.dispose();
  }
}

/** One step with a timestamp around each dispatch: GPU time per kernel name, the `top` largest and the rest as "other". */
export async function profileStep(engine: Engine, step: () => Promise<void>, top: number): Promise<StepBenchResult['profile']> {
  engine.setProfiling(true);
  try {
    await step();
    const byName = new Map<string, { ms: number; dispatches: number }>();
    const byTag = new Map<string, { ms: number; dispatches: number }>();
    const add = (map: Map<string, { ms: number; dispatches: number }>, key: string, ns: number) => {
      const e = map.get(key) ?? { ms: 0, dispatches: 0 };
      e.ms += ns / 1e6;
      e.dispatches++;
      map.set(key, e);
    };
    for (const t of await engine.kernelTimings()) {
      add(byName, t.name, t.ns);
      if (t.tag !== undefined) add(byTag, t.tag, t.ns);
    }
    const operations = [...byTag].map(([tag, e]) => ({ tag, ...e })).sort((a, b) => b.ms - a.ms);
    const all = [...byName].map(([name, e]) => ({ name, ...e })).sort((a, b) => b.ms - a.ms);
    const totalMs = all.reduce((s, k) => s + k.ms, 0);
    const dispatches = all.reduce((s, k) => s + k.dispatches, 0);
    const share = (k: { name: string; ms: number; dispatches: number }): KernelShare => ({ ...k, share: totalMs > 0 ? k.ms / totalMs : 0 });
    const rest = all.slice(top);
    const kernels = all.slice(0, top).map(share);
    if (rest.length > 0) kernels.push(share({ name: `other (${rest.length} kernels)`, ms: rest.reduce((s, k) => s + k.ms, 0), dispatches: rest.reduce((s, k) => s + k.dispatches, 0) }));
    return { totalMs, dispatches, kernels, operations };
  } finally {
    engine.setProfiling(false);
  }
}
