/**
 * Loader throughput benchmark: images/s of the training pipeline (mosaic + affine + HSV + flip,
 * the reference's defaults) at imgsz 640, batch 16, decoding JPEGs and from the RAM cache,
 * with 1, 2 and 8 workers. The workers draw the HSV gains and ship their LUTs; the pixels get
 * HSV on the GPU when the trainer expands the batch (`imagesToTensor`), which is not timed here.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/src/data/bench-loader.js --data ../shared/data/coco128/coco128.yaml [--json]
 *     [--workers 1,2,8] [--imgsz 640] [--batch 16] [--epochs 2] [--sources jpeg,ram]
 *
 * Each configuration runs warm-up epochs (enough for every worker to build two batches: each
 * worker thread warms up its own JIT), then `--epochs` timed epochs; the table shows images/s
 * and ms per batch over the timed epochs (RAM cache filling is timed separately). Mosaic is on
 * in every epoch. With many workers, time enough batches for each worker to build several
 * (e.g. `--epochs 20` for 16 workers on coco128's 8 batches per epoch).
 * Batches are handed back with `loader.recycle` as a trainer does after the upload
 * (`--no-recycle`: every batch in fresh memory).
 */
import { availableParallelism, cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { table } from '../cli/format.js';
import { UserError } from '../errors.js';
import { loadDataset } from './dataset.js';
import { loadDatasetYaml } from './dataset-yaml.js';
import { DataLoader } from './loader.js';

export interface LoaderBenchRow {
  source: 'jpeg' | 'ram';
  workers: number;
  imagesPerSecond: number;
  msPerBatch: number;
  /** CPU time of the whole process (workers, main thread, GC) per image: stable on a busy machine. */
  cpuMsPerImage: number;
  images: number;
  seconds: number;
  cacheFillSeconds?: number;
}

export interface LoaderBenchOptions {
  data: string;
  workers: number[];
  sources: ('jpeg' | 'ram')[];
  imgsz: number;
  batch: number;
  epochs: number;
  /** Hand each batch's buffer back (default true). */
  recycle?: boolean;
  log?: (line: string) => void;
}

export async function benchLoader(options: LoaderBenchOptions): Promise<LoaderBenchRow[]> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const ds = await loadDataset(loadDatasetYaml(options.data), 'train', { log });
  const rows: LoaderBenchRow[] = [];
  const perEpoch = Math.ceil(ds.entries.length / Math.min(options.batch, ds.entries.length));
  for (const source of options.sources) {
    for (const workers of options.workers) {
      const warmup = Math.max(1, Math.ceil((2 * workers) / perEpoch));
      const t0 = performance.now();
      const loader = await DataLoader.create(ds, {
        imgsz: options.imgsz,
        batch: options.batch,
        augment: true,
        workers,
        cache: source === 'ram' ? 'ram' : false,
        seed: 0,
        epochs: warmup + options.epochs, // lets the loader prefetch across epoch boundaries
        closeMosaic: 0, // the default 10 would switch mosaic off in every epoch of a short run
        log,
      });
      const fill = (performance.now() - t0) / 1000;
      try {
        for (let e = 0; e < warmup; e++) for await (const b of loader.epoch(e)) if (options.recycle ?? true) loader.recycle(b);
        let images = 0;
        let batches = 0;
        const t1 = performance.now();
        const cpu0 = process.cpuUsage();
        for (let e = warmup; e < warmup + options.epochs; e++) {
          for await (const b of loader.epoch(e)) {
            images += b.shape[0];
            batches++;
            if (options.recycle ?? true) loader.recycle(b);
          }
        }
        const seconds = (performance.now() - t1) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const row: LoaderBenchRow = {
          source,
          workers,
          imagesPerSecond: images / seconds,
          msPerBatch: (seconds * 1000) / batches,
          cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images,
          images,
          seconds,
          ...(source === 'ram' ? { cacheFillSeconds: fill } : {}),
        };
        rows.push(row);
        log(`${source} workers=${workers}: ${row.imagesPerSecond.toFixed(1)} images/s, ${row.cpuMsPerImage.toFixed(2)} CPU ms/image`);
      } finally {
        await loader.close();
      }
    }
  }
  return rows;
}

export function formatLoaderBench(rows: readonly LoaderBenchRow[]): string {
  return table(
    ['source', 'workers', 'images/s', 'ms/batch', 'CPU ms/image', 'cache fill s'],
    rows.map((r) => [r.source, r.workers, r.imagesPerSecond.toFixed(1), r.msPerBatch.toFixed(1), r.cpuMsPerImage.toFixed(2), r.cacheFillSeconds?.toFixed(2) ?? '']),
  );
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('bench-loader')
    .requiredOption('--data <yaml>', 'dataset yaml (train split is used)')
    .option('--workers <list>', 'worker counts', '1,2,8')
    .option('--sources <list>', 'jpeg (decode every time) and/or ram (RAM cache)', 'jpeg,ram')
    .option('--imgsz <px>', 'image size', '640')
    .option('--batch <n>', 'batch size', '16')
    .option('--epochs <n>', 'timed epochs after the warm-up', '2')
    .option('--no-recycle', 'do not hand batch buffers back to the loader (every batch in fresh memory)')
    .option('--json', 'print a JSON document only')
    .parse(argv);
  const o = program.opts<{ data: string; workers: string; sources: string; imgsz: string; batch: string; epochs: string; recycle: boolean; json?: boolean }>();
  const sources = o.sources.split(',').map((s) => s.trim());
  for (const s of sources) if (s !== 'jpeg' && s !== 'ram') throw new UserError(`--sources: unknown source ${s}`);
  const rows = await benchLoader({
    data: o.data,
    workers: o.workers.split(',').map(Number),
    sources: sources as ('jpeg' | 'ram')[],
    imgsz: Number(o.imgsz),
    batch: Number(o.batch),
    epochs: Number(o.epochs),
    recycle: o.recycle,
  });
  const host = { cpus: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version };
  if (o.json) {
    const doc = { host, imgsz: Number(o.imgsz), batch: Number(o.batch), pipeline: 'mosaic+affine+hsv+flip', recycle: o.recycle, rows };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    const recycled = o.recycle ? 'batch buffers recycled' : 'no recycling';
    process.stdout.write(`loader: mosaic + affine + HSV + flip, imgsz ${o.imgsz}, batch ${o.batch}, ${recycled}; ${host.cpus} cores (${host.cpu}), node ${host.node}\n`);
    process.stdout.write(`${formatLoaderBench(rows)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((err: unknown) => {
    if (err instanceof UserError) {
      process.stderr.write(`bench-loader: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  });
}
