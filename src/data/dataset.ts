/**
 * A verified split of a dataset: the images that can be used, their labels and [h, w] sizes,
 * and a report of what was found (found / missing / empty / corrupt, every problem).
 * Results are reused from the label cache where the files did not change.
 */
import { readFile, stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import type { DatasetConfig, SplitName } from './dataset-yaml.js';
import { sourceLabel } from './dataset-yaml.js';
import type { CacheEntry, CacheKey } from './label-cache.js';
import { fallbackCachePath, hashBytes, primaryCachePath, readLabelCache, sameKey, writeLabelCache } from './label-cache.js';
import type { Problem } from './problems.js';
import { formatProblem } from './problems.js';
import { createProgress } from './progress.js';
import type { SplitItem } from './sources.js';
import { listSplit } from './sources.js';
import type { VerifiedItem } from './verify.js';
import { verifyItem } from './verify.js';

export interface DatasetEntry {
  imFile: string;
  labelFile: string;
  /** [height, width] of the image after EXIF orientation. */
  shape: [number, number];
  cls: Float32Array;
  /** xywh normalized, 4 per box. */
  bboxes: Float32Array;
}

export interface DatasetSummary {
  /** Images listed by the split. */
  images: number;
  /** With a label file that has boxes. */
  found: number;
  /** Without a label file (background). */
  missing: number;
  /** With an empty label file (background). */
  empty: number;
  /** Skipped: unreadable image or invalid labels. */
  corrupt: number;
  /** Images the loader will use (images - corrupt). */
  usable: number;
  instances: number;
  duplicatesRemoved: number;
  errors: number;
  warnings: number;
}

export interface DatasetReport {
  yaml: string;
  split: SplitName;
  root: string;
  sources: string[];
  summary: DatasetSummary;
  /** Every problem, errors and warnings first, then info (background images). */
  problems: Problem[];
  labelCache: { path: string | null; reused: number; verified: number; saved: boolean; note?: string };
}

export interface Dataset {
  config: DatasetConfig;
  split: SplitName;
  names: string[];
  entries: DatasetEntry[];
  report: DatasetReport;
}

export interface LoadDatasetOptions {
  /** Read and write the label cache (default true). */
  labelCache?: boolean;
  /** Decode every image fully while verifying (slow; catches corruption headers do not show). */
  deep?: boolean;
  /** Progress bar on stderr (default: stderr is a TTY). */
  progress?: boolean;
  /** Use the first round(n * fraction) images (sorted), as the reference's `fraction`. */
  fraction?: number;
  /** All classes become 0. */
  singleCls?: boolean;
  /** Throw a UserError when no image is usable (default true). */
  requireImages?: boolean;
  /** Verifications in flight (default 32). */
  concurrency?: number;
  /** Where the summary and the problems go (default: stderr); null: silent. */
  log?: ((line: string) => void) | null;
}

/** Lists, verifies (or reuses cached verification) and returns one split of a dataset. */
export async function loadDataset(config: DatasetConfig, split: SplitName, options: LoadDatasetOptions = {}): Promise<Dataset> {
  let items = listSplit(config, split);
  if (options.fraction !== undefined && options.fraction < 1) {
    items = items.slice(0, Math.max(1, Math.round(items.length * options.fraction)));
  }
  const nc = config.nc;
  const useCache = options.labelCache !== false;
  const coco = items[0].label.kind === 'coco';
  const primary = primaryCachePath(items[0].label.file, coco);
  const fallback = fallbackCachePath(primary);
  let cache: Map<string, CacheEntry> | null = null;
  let cachePath: string | null = null;
  if (useCache) {
    for (const p of [primary, fallback]) {
      cache = readLabelCache(p, nc);
      if (cache) {
        cachePath = p;
        break;
      }
    }
  }

  const progress = createProgress({ label: `scanning ${split}`, total: items.length, enabled: options.progress });
  const fresh = new Map<string, CacheEntry>();
  let reused = 0;
  let verified = 0;
  const results: VerifiedItem[] = new Array(items.length);
  await mapLimit(items, options.concurrency ?? 32, async (item, i) => {
    const key = await itemKey(item);
    const hit = cache?.get(item.imFile);
    if (hit && sameKey(hit, key) && !options.deep) {
      results[i] = hit.item;
      reused++;
    } else {
      results[i] = await verifyItem(item, nc, { deep: options.deep });
      verified++;
    }
    fresh.set(item.imFile, { ...key, item: results[i] });
    progress.tick();
  });

  let saved = false;
  let note: string | undefined;
  if (useCache && (verified > 0 || cache === null || cache.size !== fresh.size)) {
    const err = writeLabelCache(primary, nc, fresh);
    if (err === null) {
      cachePath = primary;
      saved = true;
    } else {
      const err2 = writeLabelCache(fallback, nc, fresh);
      if (err2 === null) {
        cachePath = fallback;
        saved = true;
        note = `${primary} not writeable (${err}); cache kept in ${fallback}`;
      } else {
        note = `label cache not saved: ${primary} (${err}), ${fallback} (${err2})`;
      }
    }
  }

  const summary: DatasetSummary = {
    images: items.length,
    found: 0,
    missing: 0,
    empty: 0,
    corrupt: 0,
    usable: 0,
    instances: 0,
    duplicatesRemoved: 0,
    errors: 0,
    warnings: 0,
  };
  const entries: DatasetEntry[] = [];
  const problems: Problem[] = [];
  for (const r of results) {
    summary[r.status]++;
    summary.duplicatesRemoved += r.duplicates;
    for (const p of r.problems) {
      if (p.severity === 'error') summary.errors++;
      else if (p.severity === 'warning') summary.warnings++;
      problems.push(p);
    }
    if (r.status === 'corrupt') continue;
    const cls = Float32Array.from(r.cls);
    if (options.singleCls) cls.fill(0);
    entries.push({ imFile: r.imFile, labelFile: r.labelFile, shape: r.shape, cls, bboxes: Float32Array.from(r.boxes) });
    summary.instances += r.cls.length;
  }
  summary.usable = entries.length;
  const rank = { error: 0, warning: 1, info: 2 } as const;
  problems.sort((a, b) => rank[a.severity] - rank[b.severity]);
  progress.done(`${summary.usable} usable, ${summary.corrupt} corrupt`);

  const report: DatasetReport = {
    yaml: config.yamlFile,
    split,
    root: config.root,
    sources: (config.splits[split] ?? []).map(sourceLabel),
    summary,
    problems,
    labelCache: { path: useCache ? cachePath : null, reused, verified, saved, ...(note ? { note } : {}) },
  };
  const log = options.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : options.log;
  if (log) logReport(report, log);
  if (entries.length === 0 && options.requireImages !== false) {
    throw new UserError(
      `no usable images in split \`${split}\` of ${config.yamlFile}: ${summary.corrupt} of ${summary.images} are corrupt ` +
        `(run \`yolo-wgpu dataset check --data ${config.yamlFile} --split ${split}\` for every problem)`,
    );
  }
  return { config, split, names: config.names, entries, report };
}

/** One summary line, e.g. `train: 128 images, 126 labelled, 2 background (2 missing, 0 empty), 0 corrupt, 929 instances`. */
export function summaryLine(report: DatasetReport): string {
  const s = report.summary;
  return (
    `${report.split}: ${s.images} images, ${s.found} labelled, ${s.missing + s.empty} background ` +
    `(${s.missing} missing, ${s.empty} empty), ${s.corrupt} corrupt, ${s.instances} instances` +
    (s.duplicatesRemoved ? `, ${s.duplicatesRemoved} duplicate rows removed` : '')
  );
}

function logReport(report: DatasetReport, log: (line: string) => void, max = 20): void {
  log(summaryLine(report));
  if (report.labelCache.note) log(`warning: ${report.labelCache.note}`);
  const shown = report.problems.filter((p) => p.severity !== 'info');
  for (const p of shown.slice(0, max)) log(`${p.severity}: ${formatProblem(p)}`);
  if (shown.length > max) {
    log(`... and ${shown.length - max} more (yolo-wgpu dataset check --data ${report.yaml} --split ${report.split})`);
  }
}

async function itemKey(item: SplitItem): Promise<CacheKey> {
  let imgSize = -1;
  let imgMtimeMs = -1;
  try {
    const st = await stat(item.imFile);
    imgSize = st.size;
    imgMtimeMs = st.mtimeMs;
  } catch {
    /* verification reports it */
  }
  let labelHash: string | null = null;
  if (item.label.kind === 'coco') {
    labelHash = hashBytes(JSON.stringify([item.label.rows, item.label.problems, item.label.width, item.label.height]));
  } else {
    try {
      labelHash = hashBytes(await readFile(item.label.file));
    } catch {
      labelHash = null;
    }
  }
  return { imgSize, imgMtimeMs, labelHash };
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}
