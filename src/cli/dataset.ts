import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { applyBatchHsv } from '../data/augment/hsv.js';
import type { DatasetConfig, SplitName } from '../data/dataset-yaml.js';
import { loadDatasetYaml, SPLITS } from '../data/dataset-yaml.js';
import type { Dataset, DatasetReport } from '../data/dataset.js';
import { loadDataset } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { formatProblem } from '../data/problems.js';
import { drawBoxes, makeGrid, writePng } from '../io/draw-boxes.js';
import { printJson, table } from './format.js';

export interface DatasetCheckOptions {
  data: string;
  split?: string;
  json?: boolean;
  deep?: boolean;
  cache?: boolean;
  strict?: boolean;
}

export interface DatasetShowOptions {
  data: string;
  split?: string;
  n: string;
  augment?: boolean;
  out?: string;
  imgsz: string;
  seed: string;
  epoch: string;
  tile: string;
}

function parseSplit(value: string | undefined, config: DatasetConfig): SplitName[] {
  if (value === undefined) return SPLITS.filter((s) => config.splits[s]);
  if (!(SPLITS as readonly string[]).includes(value)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, got ${JSON.stringify(value)}`);
  return [value as SplitName];
}

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function checkText(config: DatasetConfig, reports: DatasetReport[]): string {
  const rel = (f: string): string => {
    const r = relative(config.root, f);
    return r.startsWith('..') ? f : r;
  };
  const lines = [`dataset ${config.yamlFile}`, `root    ${config.root}  (${config.nc} classes)`, ''];
  lines.push(
    table(
      ['split', 'images', 'found', 'missing', 'empty', 'corrupt', 'usable', 'instances', 'duplicates'],
      reports.map((r) => {
        const s = r.summary;
        return [r.split, s.images, s.found, s.missing, s.empty, s.corrupt, s.usable, s.instances, s.duplicatesRemoved];
      }),
    ),
  );
  lines.push('', 'error: the image and its labels are skipped; warning: kept (a row dropped or a box clipped); info: background image');
  for (const r of reports) {
    lines.push('', `${r.split}: ${r.sources.join(', ')}`);
    const c = r.labelCache;
    if (c.path) lines.push(`  label cache ${c.path} (${c.reused} reused, ${c.verified} verified${c.saved ? ', saved' : ''})`);
    if (c.note) lines.push(`  note: ${c.note}`);
    const serious = r.problems.filter((p) => p.severity !== 'info');
    for (const p of serious) lines.push(`  ${p.severity.padEnd(7)} ${formatProblem(p, rel)}`);
    const background = r.problems.filter((p) => p.severity === 'info');
    for (const kind of ['missing-label', 'empty-label'] as const) {
      const bg = background.filter((p) => p.kind === kind);
      if (bg.length === 0) continue;
      const shown = bg.slice(0, 5).map((p) => rel(p.file));
      lines.push(`  info    ${bg.length} ${kind === 'missing-label' ? 'without a label file' : 'with an empty label file'} (background): ${shown.join(', ')}${bg.length > 5 ? ', ...' : ''}`);
    }
    if (serious.length === 0) lines.push('  no problems');
  }
  return lines.join('\n');
}

/** `dataset check`: verification summary and every problem; exit 1 when a split has no usable image. */
export async function runDatasetCheck(options: DatasetCheckOptions): Promise<void> {
  const config = loadDatasetYaml(options.data);
  const splits = parseSplit(options.split, config);
  const reports: DatasetReport[] = [];
  for (const split of splits) {
    const ds = await loadDataset(config, split, { deep: options.deep, labelCache: options.cache !== false, requireImages: false, log: null });
    reports.push(ds.report);
  }
  const unusable = reports.filter((r) => r.summary.usable === 0);
  const corrupt = reports.reduce((a, r) => a + r.summary.corrupt, 0);
  const usable = unusable.length === 0 && !(options.strict && corrupt > 0);
  if (options.json) {
    printJson({
      data: config.yamlFile,
      root: config.root,
      nc: config.nc,
      names: config.names,
      usable,
      splits: reports.map((r) => ({ ...r, usable: r.summary.usable > 0 })),
    });
  } else {
    process.stdout.write(`${checkText(config, reports)}\n`);
  }
  if (unusable.length > 0) {
    throw new UserError(`no usable images in ${unusable.map((r) => `\`${r.split}\``).join(', ')}: every image is corrupt or unreadable (see the problems above)`);
  }
  if (options.strict && corrupt > 0) throw new UserError(`${corrupt} corrupt image(s) or label file(s) (--strict)`);
}

/** `dataset show`: a PNG grid of (augmented) samples with their boxes and class names. */
export async function runDatasetShow(options: DatasetShowOptions): Promise<void> {
  const config = loadDatasetYaml(options.data);
  const split = (options.split ?? (config.splits.train ? 'train' : parseSplit(undefined, config)[0])) as SplitName;
  parseSplit(split, config);
  const n = positiveInt(options.n, '--n');
  const imgsz = positiveInt(options.imgsz, '--imgsz');
  const seed = Number(options.seed);
  const epoch = Number(options.epoch);
  const ds: Dataset = await loadDataset(config, split, { log: (l) => process.stderr.write(`${l}\n`) });
  const loader = await DataLoader.create(ds, {
    imgsz,
    batch: Math.min(n, ds.entries.length),
    augment: options.augment ?? false,
    rect: false,
    shuffle: options.augment ?? false,
    seed,
    workers: 0,
  });
  const tiles: { image: { data: Uint8Array; width: number; height: number }; caption: string }[] = [];
  try {
    for await (const batch of loader.epoch(epoch)) {
      const [B, H, W] = batch.shape;
      // The loader leaves HSV to the GPU upload; here it is applied on the CPU.
      if (batch.hsv) applyBatchHsv(batch.images, batch.shape, batch.hsv);
      for (let k = 0; k < B && tiles.length < n; k++) {
        const image = { data: batch.images.subarray(k * H * W * 3, (k + 1) * H * W * 3), width: W, height: H };
        const xyxy: number[] = [];
        const cls: number[] = [];
        for (let b = 0; b < batch.labels.cls.length; b++) {
          if (batch.labels.batchIdx[b] !== k) continue;
          const [x, y, w, h] = batch.labels.bboxes.subarray(b * 4, b * 4 + 4);
          xyxy.push((x - w / 2) * W, (y - h / 2) * H, (x + w / 2) * W, (y + h / 2) * H);
          cls.push(batch.labels.cls[b]);
        }
        tiles.push({ image: await drawBoxes(image, { xyxy, cls }, { names: config.names }), caption: relative(config.root, batch.paths[k]) });
      }
      if (tiles.length >= n) break;
    }
  } finally {
    await loader.close();
  }
  const grid = await makeGrid(tiles, { tileSize: positiveInt(options.tile, '--tile') });
  const out = resolve(options.out ?? `dataset-${split}${options.augment ? '-augmented' : ''}.png`);
  await writePng(out, grid);
  process.stdout.write(`${out}\n`);
  process.stderr.write(`wrote ${tiles.length} ${split} samples${options.augment ? ' (augmented)' : ''} at ${imgsz} px to ${out}\n`);
}

export function registerDatasetCommand(program: Command): void {
  const dataset = program.command('dataset').description('check a dataset and look at its samples');
  dataset
    .command('check')
    .description('verify images and labels: summary (found / missing / empty / corrupt) and every problem with file and line')
    .requiredOption('--data <yaml>', 'dataset yaml (Ultralytics format)')
    .option('--split <split>', 'train, val or test (default: every split in the yaml)')
    .option('--json', 'print a JSON document only')
    .option('--deep', 'decode every image fully (slower; finds corruption that headers do not show)')
    .option('--no-cache', 'ignore and do not write the label cache')
    .option('--strict', 'exit non-zero when any image or label file is corrupt')
    .action(runDatasetCheck);
  dataset
    .command('show')
    .description('write a PNG grid of samples with their boxes and class names')
    .requiredOption('--data <yaml>', 'dataset yaml (Ultralytics format)')
    .option('--split <split>', 'train, val or test (default train)')
    .option('--n <count>', 'number of samples', '16')
    .option('--augment', 'apply the training augmentations (mosaic, affine, HSV, flips)')
    .option('--out <file>', 'PNG to write (default dataset-<split>[-augmented].png)')
    .option('--imgsz <px>', 'image size', '640')
    .option('--seed <n>', 'seed of the shuffle and augmentations', '0')
    .option('--epoch <n>', 'epoch whose samples to show', '0')
    .option('--tile <px>', 'tile size in the grid', '320')
    .action(runDatasetShow);
}
