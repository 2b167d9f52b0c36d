/**
 * The training checkpoint, in our checkpoint format (src/yolo/checkpoint-format.ts, one safetensors
 * file written atomically). Like the reference's last.pt, its model weights are the EMA's, so val,
 * predict and export use it as it is. Under `training.` it adds what a resumed run needs to continue
 * exactly where the saved one stood:
 *
 * - tensors: `model.*` the raw weights (PyTorch names and layouts), `optimizer.*` the optimizer's
 *   state (see OptimizerState), `grad.*` gradients accumulated but not yet applied (the reference
 *   carries them across epoch ends);
 * - JSON: the run's arguments, position (epoch, iteration, last optimizer step, elapsed time),
 *   optimizer kind and steps, EMA updates, loss scaler, early-stopping state, the loader's position
 *   and the state of every stateful generator.
 */
import { linkSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LoaderState } from '../data/loader.js';
import type { RngState } from '../data/rng.js';
import { UserError } from '../errors.js';
import { keep } from '../gpu/scope.js';
import { Tensor } from '../gpu/tensor.js';
import { writeFileAtomic } from '../io/safetensors.js';
import type { ModelEMA } from '../nn/ema.js';
import type { HostEntry, Module } from '../nn/module.js';
import type { LossScaler, Optimizer } from '../nn/optim.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../yolo/checkpoint-format.js';
import type { DetectionModel } from '../yolo/detection-model.js';
import type { TrainArgs } from './args.js';
import type { EarlyStoppingState } from './early-stopping.js';

const VERSION = 1;

/** Where a run stands between two batches. */
export interface TrainProgress {
  /** Epoch of the next batch, 0-based (at an epoch's end: the epochs completed). */
  epoch: number;
  /** Batches run since the start (the next batch's ni). */
  iteration: number;
  /** ni of the last optimizer step (-1: none yet). */
  lastOptStep: number;
  /** Seconds of training so far (results.csv's time continues from it). */
  elapsed: number;
  stopper: EarlyStoppingState;
  loader: LoaderState;
  /** Stateful generators by name. The data pipeline needs none: its streams derive from (seed, epoch, index). */
  rng: Record<string, RngState>;
}

/** The stateful objects of a run. */
export interface TrainParts<M extends Module = Module> {
  model: M;
  ema: ModelEMA;
  optimizer: Optimizer;
  scaler: LossScaler | null;
}

/** The JSON part, as saved. */
export interface TrainState extends TrainProgress {
  version: number;
  args: TrainArgs;
  optimizer: { kind: Optimizer['kind']; steps: number };
  emaUpdates: number;
  scaler: { scale: number; clean: number } | null;
  /** ISO time of writing. */
  date: string;
}

export interface TrainCheckpoint {
  file: string;
  checkpoint: Checkpoint;
  state: TrainState;
}

const prefixed = (prefix: string, entries: Map<string, HostEntry>) => new Map([...entries].map(([k, v]) => [`${prefix}${k}`, v]));

function withPrefix(prefix: string, entries: Map<string, HostEntry>): Map<string, HostEntry> {
  return new Map([...entries].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/**
 * Writes the checkpoint atomically to `path` (a crash leaves the previous file whole), then puts
 * the same bytes at each of `copies` (best, epoch{N}), each atomically too.
 */
export async function saveTrainCheckpoint(
  parts: TrainParts<DetectionModel>,
  progress: TrainProgress,
  args: TrainArgs,
  path: string,
  copies: readonly string[] = [],
): Promise<void> {
  const { model, ema, optimizer, scaler } = parts;
  const emaState = await ema.state();
  const opt = await optimizer.state();
  const withGrad = model.namedParameters().filter(([, v]) => v.grad);
  const gradValues = await Tensor.readAll(withGrad.map(([, v]) => v.grad!));
  const grads = new Map<string, HostEntry>(withGrad.map(([name, v], i) => [name, { shape: [...v.grad!.shape], data: Float32Array.from(gradValues[i]) }]));
  const trainingTensors = new Map([
    ...prefixed('model.', await model.stateDict()),
    ...prefixed('optimizer.', opt.tensors),
    ...prefixed('grad.', grads),
  ]);
  const state: TrainState = {
    version: VERSION,
    args,
    ...progress,
    optimizer: { kind: opt.kind, steps: opt.steps },
    emaUpdates: emaState.updates,
    scaler: scaler?.state() ?? null,
    date: new Date().toISOString(),
  };
  await saveCheckpoint(path, model, { stateDict: emaState.stateDict, training: { ...state }, trainingTensors });
  for (const copy of copies) linkOrCopy(path, copy);
}

/**
 * Puts the file at `path` also at `copy`, atomically: a hard link renamed into place (no bytes
 * written; `path` is later replaced by a rename, never rewritten in place, so the copy keeps
 * these bytes), or where links are not possible a written copy.
 */
function linkOrCopy(path: string, copy: string): void {
  const tmp = join(dirname(copy), `.${basename(copy)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    linkSync(path, tmp);
    renameSync(tmp, copy);
    return;
  } catch {
    rmSync(tmp, { force: true });
  }
  writeFileAtomic(copy, [readFileSync(path)]);
}

/** Reads a training checkpoint; a checkpoint of final weights (no training state) is an error saying what to do instead. */
export function readTrainCheckpoint(path: string): TrainCheckpoint {
  const checkpoint = loadCheckpoint(path);
  const t = checkpoint.training;
  if (!t) throw new UserError(`${path} holds final weights without a training state, so it cannot be resumed; start a new run from it with model=${path}`);
  const missing = ['version', 'args', 'epoch', 'iteration', 'lastOptStep', 'elapsed', 'stopper', 'loader', 'rng', 'optimizer', 'emaUpdates'].filter((k) => !(k in t));
  if (missing.length > 0) throw new UserError(`${path}: the training state lacks ${missing.join(', ')} (not written by this trainer?)`);
  if (t.version !== VERSION) throw new UserError(`${path}: training state version ${String(t.version)}, this version reads ${VERSION}`);
  return { file: path, checkpoint, state: t as unknown as TrainState };
}

/**
 * Puts a checkpoint's state into a run built with the saved arguments (same model, optimizer
 * kind and parameter groups) and returns where to continue.
 */
export function restoreTraining(ckpt: TrainCheckpoint, parts: TrainParts): TrainProgress {
  const { file, checkpoint, state } = ckpt;
  const { model, ema, optimizer, scaler } = parts;
  const tensors = checkpoint.trainingTensors;
  model.loadStateDict(withPrefix('model.', tensors), { strict: true, source: `${file} (training weights)` });
  ema.loadState({ updates: state.emaUpdates, stateDict: checkpoint.stateDict }, file);
  optimizer.loadState({ ...state.optimizer, tensors: withPrefix('optimizer.', tensors) }, `${file} (optimizer)`);
  if (scaler && state.scaler) scaler.restore(state.scaler);
  const grads = withPrefix('grad.', tensors);
  for (const [name, v] of model.namedParameters()) {
    v.zeroGrad();
    const g = grads.get(name);
    if (!g) continue;
    if (g.shape.join(',') !== v.shape.join(',')) throw new UserError(`${file}: gradient of ${name} has shape [${g.shape}], the parameter's is [${v.shape}]`);
    v.grad = keep(Tensor.fromHost(v.data.engine, g.data, v.shape, 'f32', 'grads'));
  }
  const { epoch, iteration, lastOptStep, elapsed, stopper, loader, rng } = state;
  return { epoch, iteration, lastOptStep, elapsed, stopper, loader, rng };
}
