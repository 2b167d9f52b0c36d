/**
 * A training run, as the reference's `BaseTrainer` / `DetectionTrainer` run it: the datasets, the
 * model (from scratch, fine-tuned or resumed), the optimizer with its groups and schedule, EMA,
 * loss scaling in f16; then per epoch the batches (train-step.ts), validation with the EMA weights,
 * fitness, results.csv / results.png, the `last` / `best` / `epoch{N}` checkpoints and early
 * stopping; finally the best weights validated once more with the PR curve and confusion matrix.
 *
 * A loss that is NaN or inf for NAN_RELOAD_AFTER batches in a row, or for a whole epoch, reloads the
 * last checkpoint (at most MAX_RELOADS times); single bad batches only skip their optimizer step.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { loadDatasetYaml } from '../data/dataset-yaml.js';
import { loadDataset, type Dataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { UserError } from '../errors.js';
import { Engine } from '../gpu/engine.js';
import { checkConvVariantTable } from '../kernels/conv-variant-check.js';
import { readConvVariantTable } from '../kernels/conv-variants.js';
import { ModelEMA } from '../nn/ema.js';
import { AdamW, LossScaler, referenceParamGroups, SGD, type Optimizer } from '../nn/optim.js';
import { buildFromYaml } from '../yolo/build.js';
import type { DetectionModel } from '../yolo/detection-model.js';
import { formatValTable, valHeader } from '../yolo/val-table.js';
import { modelFromWeights } from '../yolo/weights.js';
import { strideMultiple } from '../cli/options.js';
import { resolvePrecision, trainLoaderOptions, type ParsedTrainArgs, type TrainArgs } from './args.js';
import { EarlyStopping } from './early-stopping.js';
import { plotLabels } from './labels-plot.js';
import { LossMeter, progressBar, progressHeader, progressLine, trainingDoneLine } from './progress.js';
import { ResultsCsv, type EpochResult } from './results-csv.js';
import { plotResults } from './results-plot.js';
import { createRunDir, epochCheckpointPath, runPaths, writeArgsYaml, type RunPaths } from './run-dir.js';
import { chooseOptimizer, scaledWeightDecay, accumulateSteps, TrainSchedule } from './schedule.js';
import { readTrainCheckpoint, restoreTraining, saveTrainCheckpoint, type TrainCheckpoint, type TrainParts, type TrainProgress } from './train-checkpoint.js';
import { createTrainModel, freezeLayers, frozenLayers, setTrainMode } from './train-model.js';
import { TrainStep, type BatchReport, type BatchRun } from './train-step.js';
import { validateForTraining, type TrainValidation } from './train-validate.js';

export const NAN_RELOAD_AFTER = 3;
export const MAX_RELOADS = 3;

export interface TrainHooks {
  /** After epoch `epoch` (0-based) is saved; true stops the run there, as a kill would (tests of resume). */
  afterEpoch?(epoch: number): boolean;
  /** Batches (by ni) whose loss is made NaN (tests of the NaN handling). */
  poison?(ni: number): boolean;
}

export interface TrainOptions {
  /** Share an engine (tests); default: open one on args.device, destroyed at the end. */
  engine?: Engine;
  /** Console lines (default: stderr). */
  log?: (line: string) => void;
  /** Continue this run (its `last` checkpoint, read). */
  resume?: TrainCheckpoint;
  hooks?: TrainHooks;
}

export interface TrainResult {
  dir: string;
  last: string;
  best: string | null;
  epochsRun: number;
  /** The run stopped early (patience) or by a hook. */
  stoppedEarly: boolean;
  /** Seconds of this invocation, and images trained per second of it (validation included). */
  seconds: number;
  imagesPerSec: number;
  peakBytes: number;
  precision: 'f32' | 'f16';
  /** The final validation (best weights); null when there was no checkpoint to validate. */
  final: { metrics: [number, number, number, number]; fitness: number } | null;
  reloads: number;
}

interface Run {
  args: TrainArgs;
  engine: Engine;
  paths: RunPaths;
  names: string[];
  model: DetectionModel;
  frozen: number[];
  optimizer: Optimizer;
  ema: ModelEMA;
  scaler: LossScaler | null;
  loader: DataLoader;
  valLoader: DataLoader;
  precision: 'f32' | 'f16';
  schedule: TrainSchedule;
  /** Loader worker threads (workers=, at most the cores). */
  workers: number;
  gains: { box: number; cls: number; dfl: number };
  stopper: EarlyStopping;
  progress: TrainProgress;
  log: (line: string) => void;
}

/** Trains as `args` say; see the module comment. */
export async function train(parsed: ParsedTrainArgs, o: TrainOptions = {}): Promise<TrainResult> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const args = parsed.args;
  if (!args.data) throw new UserError('data= is required: a dataset yaml such as coco8.yaml');
  if (!args.model && !o.resume) throw new UserError('model= is required: a model yaml to train from scratch (yolov8n.yaml) or weights to fine-tune (.pt or a yolo-wgpu checkpoint)');
  const convVariants = args.conv_variants ? readConvVariantTable(args.conv_variants) : null;
  const config = loadDatasetYaml(args.data);
  const trainSet = await loadDataset(config, 'train', { log });
  const valSet = await loadDataset(config, 'val', { log });
  const engine = o.engine ?? (await Engine.open({ device: args.device ?? undefined }));
  const ownVariants = engine.convVariants;
  let run: Run | null = null;
  try {
    if (convVariants) {
      checkConvVariantTable(engine, convVariants, args.conv_variants!);
      engine.convVariants = convVariants;
    }
    run = await setup(parsed, engine, trainSet, valSet, o, log);
    return await loop(run, o.hooks ?? {});
  } finally {
    if (run) await teardown(run);
    engine.convVariants = ownVariants;
    if (!o.engine) engine.destroy();
  }
}

async function setup(parsed: ParsedTrainArgs, engine: Engine, trainSet: Dataset, valSet: Dataset, o: TrainOptions, log: (line: string) => void): Promise<Run> {
  const args = { ...parsed.args };
  const { names, nc } = trainSet.config;
  const precision = resolvePrecision({ args, given: o.resume ? new Set() : parsed.given }, engine.features.shaderF16, log);
  const ckpt = o.resume;
  let model: DetectionModel;
  if (ckpt) {
    const c = ckpt.checkpoint;
    if (c.nc !== nc) throw new UserError(`${ckpt.file}: the run trained ${c.nc} classes, ${trainSet.config.yamlFile} has ${nc}`);
    model = buildFromYaml(engine, c.yaml, ckpt.file, { nc: c.nc, names: c.names, sppf: c.sppf, init: false });
  } else {
    model = await createTrainModel(engine, args.model!, { nc, names, seed: args.seed, log });
  }
  const stride = Math.max(...model.stride);
  args.imgsz = strideMultiple(args.imgsz, stride, 'imgsz', log);
  const frozen = frozenLayers(args.freeze, model.layers.length);
  freezeLayers(model, frozen, log);
  setTrainMode(model, frozen);

  const workers = Math.min(args.workers, availableParallelism());
  const loader = await DataLoader.create(trainSet, { ...trainLoaderOptions({ ...args, workers }, stride), log });
  const valLoader = await DataLoader.create(valSet, { imgsz: args.imgsz, batch: args.batch * 2, stride, augment: false, rect: true, workers, log });

  const choice = chooseOptimizer({ optimizer: args.optimizer, lr0: args.lr0, momentum: args.momentum, warmupBiasLr: args.warmup_bias_lr, nc, datasetSize: loader.size, batch: args.batch, nbs: args.nbs, epochs: args.epochs });
  if (args.optimizer === 'auto') log(`optimizer: 'optimizer=auto' found, ignoring 'lr0=${args.lr0}' and 'momentum=${args.momentum}' and determining best 'optimizer', 'lr0' and 'momentum' automatically...`);
  const weightDecay = scaledWeightDecay(args.weight_decay, args.batch, accumulateSteps(args.nbs, args.batch), args.nbs);
  const groups = referenceParamGroups(model, choice.lr, weightDecay, choice.momentum);
  const optimizer = choice.name === 'SGD' ? new SGD(engine, groups, true) : new AdamW(engine, groups);
  const [bias, decayed, norm] = groups.map((g) => g.params.length);
  log(`optimizer: ${choice.name}(lr=${choice.lr}, momentum=${choice.momentum}) with parameter groups ${norm} weight(decay=0.0), ${decayed} weight(decay=${weightDecay}), ${bias} bias(decay=0.0)`);
  const schedule = new TrainSchedule({
    optimizer: choice,
    epochs: args.epochs,
    lrf: args.lrf,
    cosLr: args.cos_lr,
    warmupEpochs: args.warmup_epochs,
    warmupMomentum: args.warmup_momentum,
    momentum: args.momentum,
    batchesPerEpoch: loader.length,
    nbs: args.nbs,
    batch: args.batch,
  });
  const ema = new ModelEMA(model);
  const scaler = precision === 'f16' ? new LossScaler() : null;
  const stopper = new EarlyStopping(args.patience);
  const parts: TrainParts = { model, ema, optimizer, scaler };

  let paths: RunPaths;
  let progress: TrainProgress;
  if (ckpt) {
    paths = runPaths(dirname(dirname(ckpt.file)));
    progress = restoreTraining(ckpt, parts);
    if (progress.epoch >= args.epochs) throw new UserError(`${ckpt.file}: this run finished its ${args.epochs} epochs; nothing to resume (start a new run with model=${ckpt.file})`);
    stopper.loadState(progress.stopper);
    loader.loadState(progress.loader);
    new ResultsCsv(paths.results).truncateAfter(progress.epoch);
    log(`Resuming training ${ckpt.file} from epoch ${progress.epoch + 1} to ${args.epochs} total epochs`);
  } else {
    paths = createRunDir(args.project, args.name);
    progress = { epoch: 0, iteration: 0, lastOptStep: -1, elapsed: 0, stopper: stopper.state(), loader: loader.state(), rng: {} };
    if (args.plots) {
      const entries = trainSet.entries;
      await plotLabels(
        Float32Array.from(entries.flatMap((e) => Array.from(e.cls))),
        Float32Array.from(entries.flatMap((e) => Array.from(e.bboxes))),
        names,
        paths.labelsPlot,
      );
    }
  }
  writeArgsYaml(paths, args);
  const gains = { box: args.box, cls: args.cls, dfl: args.dfl };
  return { args, engine, paths, names, model, frozen, optimizer, ema, scaler, loader, valLoader, precision, schedule, workers, gains, stopper, progress, log };
}

async function teardown(run: Run): Promise<void> {
  await run.loader.close();
  await run.valLoader.close();
  run.optimizer.dispose();
  run.ema.dispose();
  run.model.dispose();
}

const finite = (items: readonly number[]) => items.every(Number.isFinite);

async function loop(run: Run, hooks: TrainHooks): Promise<TrainResult> {
  const { args, engine, paths, model, optimizer, ema, scaler, loader, log } = run;
  const step = new TrainStep({ model, optimizer, ema, scaler, schedule: run.schedule, gains: run.gains, dtype: run.precision });
  const csv = new ResultsCsv(paths.results);
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  const elapsedBefore = run.progress.elapsed;
  let images = 0;
  let reloads = 0;
  let stoppedEarly = false;
  let lastVal: TrainValidation | null = null;
  const startEpoch = run.progress.epoch;
  let epochsRun = startEpoch;
  // NaN/inf losses in a row, across epoch ends.
  let nanStreak = 0;
  log(`Image sizes ${args.imgsz} train, ${args.imgsz} val\nUsing ${run.workers} dataloader workers\nLogging results to ${paths.dir}\nStarting training for ${args.epochs} epochs...`);
  try {
    while (run.progress.epoch < args.epochs) {
      const epoch = run.progress.epoch;
      if (args.close_mosaic > 0 && epoch === args.epochs - args.close_mosaic) log('Closing dataloader mosaic');
      log(`\n${progressHeader()}`);
      const meter = new LossMeter();
      const epochStart = performance.now();
      let lastSettings: BatchRun['settings'] | null = null;
      let pending: { run: BatchRun; instances: number; size: number; done: number } | null = null;
      // Handles a batch's report (once its values are back): loss scale, NaN count, the progress line.
      const settle = async (): Promise<void> => {
        if (!pending) return;
        const { run: b, instances, size, done } = pending;
        pending = null;
        const r: BatchReport = await b.report;
        if (scaler && r.stepped) scaler.update(r.skipped);
        if (finite(r.items)) {
          nanStreak = 0;
          meter.add(r.items);
        } else nanStreak++;
        const line = progressLine({ epoch, epochs: args.epochs, memBytes: engine.stats().peakBytes, losses: meter.batches > 0 ? meter.mean : [NaN, NaN, NaN], instances, size });
        const bar = progressBar(done, loader.length, (performance.now() - epochStart) / 1000);
        process.stderr.write(tty ? `\r${line}${bar}${done === loader.length ? '\n' : ''}` : `${line}${bar}\n`);
      };
      let reload = false;
      for await (const batch of loader.epoch(epoch)) {
        const ni = run.progress.iteration;
        const b = step.run(batch, epoch, ni, run.progress.lastOptStep, hooks.poison?.(ni) ?? false);
        loader.recycle(batch); // its pixels are on the GPU: the next batches reuse the buffer
        run.progress.iteration++;
        if (b.stepped) run.progress.lastOptStep = ni;
        lastSettings = b.settings;
        images += batch.shape[0];
        // The previous batch's report is read while this one is queued, so the GPU never waits for the host.
        // In f16 a skipped step therefore lowers the loss scale from the batch after next.
        await settle();
        pending = { run: b, instances: batch.labels.cls.length, size: batch.shape[2], done: batch.batchIndex + 1 };
        if (nanStreak >= NAN_RELOAD_AFTER) {
          reload = true;
          break;
        }
      }
      await settle();
      if (reload || nanStreak >= NAN_RELOAD_AFTER || meter.batches === 0) {
        const reason = nanStreak >= NAN_RELOAD_AFTER ? `${nanStreak} batches in a row` : `every batch of epoch ${epoch + 1}`;
        reloads++;
        nanStreak = 0;
        await reloadLastGood(run, reloads, reason);
        continue;
      }
      // Epoch end: validation with the EMA weights, results, checkpoints, early stopping.
      const final = epoch + 1 === args.epochs;
      const validateNow = args.val || final || run.stopper.possibleStop;
      if (validateNow) {
        log(valHeader());
        lastVal = await validateForTraining(model, ema, run.valLoader, { names: run.names, dtype: run.precision, gains: run.gains, frozen: run.frozen });
        for (const line of formatValTable(lastVal.result.metrics)) log(line);
      }
      const verdict = run.stopper.update(epoch + 1, validateNow && lastVal ? lastVal.fitness : null);
      const elapsed = elapsedBefore + (performance.now() - started) / 1000;
      const row: EpochResult = {
        epoch: epoch + 1,
        time: elapsed,
        trainLoss: meter.batches > 0 ? (meter.mean as [number, number, number]) : [NaN, NaN, NaN],
        metrics: lastVal?.metrics ?? [0, 0, 0, 0],
        valLoss: lastVal?.losses ?? [0, 0, 0],
        lr: lastSettings?.lr ?? [0, 0, 0],
      };
      csv.append(row);
      run.progress = { ...run.progress, epoch: epoch + 1, elapsed, stopper: run.stopper.state(), loader: loader.state() };
      // save_period names its copies by the 0-based epoch, from epoch0 on, as the reference does.
      const numbered = args.save_period > 0 && epoch % args.save_period === 0;
      const copies = [...(verdict.isBest ? [paths.best] : []), ...(numbered ? [epochCheckpointPath(paths, epoch)] : [])];
      await saveTrainCheckpoint({ model, ema, optimizer, scaler }, run.progress, args, paths.last, copies);
      epochsRun = epoch + 1;
      if (hooks.afterEpoch?.(epoch)) {
        stoppedEarly = true;
        break;
      }
      if (verdict.stop) {
        log(run.stopper.stopMessage());
        stoppedEarly = true;
        break;
      }
    }
  } finally {
    step.dispose();
  }
  // As the reference, results.png is drawn once, at the end (rendering takes a while).
  if (args.plots && existsSync(paths.results)) await plotResults(paths.results, paths.resultsPlot);
  const seconds = (performance.now() - started) / 1000;
  log(`\n${trainingDoneLine(epochsRun - startEpoch, run.progress.elapsed)}`);
  const best = existsSync(paths.best) ? paths.best : null;
  const final = await finalValidation(run, best ?? paths.last);
  return {
    dir: paths.dir,
    last: paths.last,
    best,
    epochsRun,
    stoppedEarly,
    seconds,
    imagesPerSec: images / Math.max(seconds, 1e-9),
    peakBytes: engine.stats().peakBytes,
    precision: run.precision,
    final,
    reloads,
  };
}

/** Puts the run back to its last checkpoint after repeated NaN/inf losses. */
async function reloadLastGood(run: Run, reloads: number, reason: string): Promise<void> {
  const last = run.paths.last;
  const advice = 'lower lr0, check the labels, or train with precision=f32';
  if (!existsSync(last)) throw new UserError(`the loss was NaN or inf for ${reason} before any checkpoint was saved: ${advice}`);
  if (reloads > MAX_RELOADS) throw new UserError(`the loss kept turning NaN or inf after ${MAX_RELOADS} reloads of ${last}: ${advice}`);
  const ckpt = readTrainCheckpoint(last);
  run.progress = restoreTraining(ckpt, { model: run.model, ema: run.ema, optimizer: run.optimizer, scaler: run.scaler });
  run.stopper.loadState(run.progress.stopper);
  run.loader.loadState(run.progress.loader);
  setTrainMode(run.model, run.frozen);
  run.log(`WARNING: the loss was NaN or inf for ${reason}; reloaded the last good checkpoint ${last} (after epoch ${run.progress.epoch}), reload ${reloads}/${MAX_RELOADS}`);
}

/** The reference's final_eval: the saved weights (best, else last) validated once more, with the PR curve and confusion matrix. */
async function finalValidation(run: Run, file: string): Promise<TrainResult['final']> {
  if (!existsSync(file)) return null;
  run.log(`\nValidating ${file}...`);
  const model = modelFromWeights(run.engine, file);
  try {
    run.log(valHeader());
    const v = await validateForTraining(model, null, run.valLoader, {
      names: run.names,
      dtype: run.precision,
      gains: run.gains,
      frozen: [],
      plotsDir: run.args.plots ? run.paths.dir : undefined,
    });
    for (const line of formatValTable(v.result.metrics)) run.log(line);
    return { metrics: v.metrics, fitness: v.fitness };
  } finally {
    model.dispose();
  }
}
