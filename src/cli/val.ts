import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { loadDatasetYaml } from '../data/dataset-yaml.js';
import { loadDataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { UserError } from '../errors.js';
import { Engine } from '../gpu/engine.js';
import type { DetMetrics } from '../yolo/metrics.js';
import { formatSpeedLine, formatValTable, valHeader, type ValSpeed } from '../yolo/val-table.js';
import { validate } from '../yolo/validator.js';
import { modelFromWeights } from '../yolo/weights.js';
import { printJson } from './format.js';
import { fraction, positiveInt, precision, strideMultiple } from './options.js';
import { claimRunDir } from './run-dir.js';

export interface ValOptions {
  weights: string;
  data: string;
  imgsz: string;
  batch: string;
  conf: string;
  iou: string;
  maxDet: string;
  workers: string;
  half?: boolean;
  json?: boolean;
  plots?: boolean;
  project: string;
  device?: string;
}

/** What `val --json` prints. */
export interface ValReport {
  P: number;
  R: number;
  mAP50: number;
  'mAP50-95': number;
  fitness: number;
  images: number;
  instances: number;
  per_class: Record<string, { images: number; instances: number; P: number; R: number; mAP50: number; 'mAP50-95': number }>;
  speed_ms: Omit<ValSpeed, 'loss'>;
  plots?: string[];
}

export function valReport(m: DetMetrics, speed: ValSpeed, plots: string[]): ValReport {
  const [P, R, mAP50, map] = m.meanResults();
  const perClass: ValReport['per_class'] = {};
  m.apClassIndex.forEach((c, i) => {
    const [p, r, ap50, ap] = m.classResult(i);
    perClass[m.names[c]] = { images: m.ntPerImage[c], instances: m.ntPerClass[c], P: p, R: r, mAP50: ap50, 'mAP50-95': ap };
  });
  const { preprocess, inference, postprocess } = speed;
  return {
    P,
    R,
    mAP50,
    'mAP50-95': map,
    fitness: m.fitness,
    images: m.seen,
    instances: m.ntPerClass.reduce((s, n) => s + n, 0),
    per_class: perClass,
    speed_ms: { preprocess, inference, postprocess },
    ...(plots.length ? { plots } : {}),
  };
}

/** `val`: the reference's validation protocol on the `val` split of a dataset yaml. */
export async function runVal(o: ValOptions): Promise<ValReport> {
  const conf = fraction(o.conf, '--conf');
  const iou = fraction(o.iou, '--iou');
  const maxDet = positiveInt(o.maxDet, '--max-det');
  const batch = positiveInt(o.batch, '--batch');
  const workers = Number(o.workers);
  if (!Number.isInteger(workers) || workers < 0) throw new UserError(`--workers must be a non-negative integer, got ${JSON.stringify(o.workers)}`);
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const config = loadDatasetYaml(o.data);
  const dataset = await loadDataset(config, 'val', { log: warn });
  const engine = await Engine.open({ device: o.device });
  let loader: DataLoader | null = null;
  try {
    const model = modelFromWeights(engine, o.weights);
    if (model.nc !== config.nc) {
      throw new UserError(`${o.weights} predicts ${model.nc} classes, ${config.yamlFile} has ${config.nc}: validate on a dataset with the classes the model was trained for`);
    }
    const stride = Math.max(...model.stride);
    const imgsz = strideMultiple(positiveInt(o.imgsz, '--imgsz'), stride, '--imgsz', warn);
    loader = await DataLoader.create(dataset, { imgsz, batch, stride, augment: false, rect: true, workers: Math.min(workers, availableParallelism()), log: warn });
    const plotsDir = o.plots ? claimRunDir(o.project, 'exp') : undefined;
    const log = (line: string) => (o.json ? process.stderr : process.stdout).write(`${line}\n`);
    log(valHeader());
    const r = await validate(model, loader, { names: config.names, conf, iou, maxDet, dtype: precision(engine, o.half, warn), plotsDir });
    for (const line of formatValTable(r.metrics)) log(line);
    log(formatSpeedLine(r.speed));
    if (plotsDir) log(`Results saved to ${plotsDir}`);
    const report = valReport(r.metrics, r.speed, r.plots);
    if (o.json) printJson(report);
    return report;
  } finally {
    await loader?.close();
    engine.destroy();
  }
}

export function registerValCommand(program: Command): void {
  program
    .command('val')
    .description('validate a model on the val split of a dataset: P, R, mAP50, mAP50-95 per class')
    .requiredOption('--weights <file>', 'Ultralytics .pt or a yolo-wgpu checkpoint')
    .requiredOption('--data <yaml>', 'dataset yaml (Ultralytics format)')
    .option('--imgsz <px>', 'image size (rounded up to a multiple of the stride)', '640')
    .option('--batch <n>', 'images per batch (rectangular batches sorted by aspect ratio)', '32')
    .option('--conf <threshold>', 'confidence threshold', '0.001')
    .option('--iou <threshold>', 'NMS IoU threshold', '0.7')
    .option('--max-det <n>', 'maximum detections per image', '300')
    .option('--half', 'f16 activations (when the adapter has shader-f16)')
    .option('--json', 'print a JSON document only')
    .option('--plots', 'write PR / F1 / P / R curves and confusion matrices into <project>/exp, exp2, ...')
    .option('--project <dir>', 'where --plots writes', 'runs/val')
    .option('--workers <n>', 'loader worker threads (0: load in this thread)', '8')
    .option('--device <name>', 'adapter name')
    .action(async (o: ValOptions) => {
      await runVal(o);
    });
}
