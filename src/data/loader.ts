/**
 * The data loader: batches of NHWC uint8 RGB images with their labels, built by
 * `worker_threads` workers (or in-process with 0 workers) into a bounded queue of `prefetch`
 * batches, handed over in order.
 *
 * ```ts
 * const loader = await DataLoader.create(dataset, { imgsz: 640, batch: 16, augment: true, epochs: 100, workers: 8 });
 * for (let epoch = loader.state().epoch; epoch < 100; epoch++) {
 *   for await (const batch of loader.epoch(epoch)) upload(batch.images, batch.shape, batch.hsv);
 * }
 * await loader.close();
 * ```
 *
 * Augmented batches leave their HSV to the consumer (`batch.hsv`: per image the LUTs of the
 * gains drawn for it): `imagesToTensor` applies it on the GPU as it expands the bytes to
 * floats, `applyBatchHsv` on the CPU.
 *
 * Determinism: the sample order comes from (seed, epoch), every sample's augmentation from
 * (seed, epoch, index), multi-scale sizes from (seed, epoch, batch). A batch's bytes do not
 * depend on the number of workers, on prefetching, on resuming from `state()` or on recycling.
 *
 * `loader.recycle(batch)` once a batch's pixels are uploaded lets later batches reuse its
 * image buffer instead of fresh memory (~20 MB at 640, batch 16, page-faulted in by a worker
 * and unmapped again after the handover: ~1.5 of ~11 CPU ms per image on the 2-core dev box).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { UserError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { AugmentHyp } from './augment/pipeline.js';
import { DEFAULT_AUGMENT } from './augment/pipeline.js';
import type { BatchData, BatchJob, BuilderConfig, LoaderData } from './batch-builder.js';
import { BatchBuilder, batchImageShape } from './batch-builder.js';
import { epochOrder, maxMultiScaleSize, multiScaleRange, multiScaleSize, partnerPool, rectBatches } from './batches.js';
import type { DatasetEntry } from './dataset.js';
import { checkDiskCache } from './disk-cache.js';
import type { WorkerReply, WorkerRequest } from './loader-worker.js';
import { createProgress } from './progress.js';
import type { RamCacheLayout } from './ram-cache.js';
import { allocateRamCache, ramCacheBytes } from './ram-cache.js';

export interface LoaderOptions {
  /** Network input size (multiple of stride). Default 640. */
  imgsz?: number;
  /** Images per batch. Default 16 (capped at the dataset size). */
  batch?: number;
  /** Largest model stride. Default 32. */
  stride?: number;
  /** Training augmentations (mosaic, affine, HSV, flips, ...). Default false. */
  augment?: boolean;
  /** Augmentation hyper-parameters over the reference's defaults. */
  hyp?: Partial<AugmentHyp>;
  /** Rectangular batches sorted by aspect ratio (mosaic and shuffle off). Default: !augment. */
  rect?: boolean;
  /** Rect batch padding in strides. Default 0.5 without augment (val), 0 with. */
  pad?: number;
  /** Shuffle each epoch. Default: augment && !rect. */
  shuffle?: boolean;
  seed?: number;
  /** Total epochs, for close_mosaic. */
  epochs?: number;
  /** Mosaic off for the last N epochs. Default 10. */
  closeMosaic?: number;
  /** Multi-scale training: true = sizes imgsz·[0.5, 1.5] (8.3), a number r = imgsz·[1-r, 1+r]. */
  multiScale?: boolean | number;
  /** Worker threads; 0 builds batches in-process. Default min(8, available cores). */
  workers?: number;
  /** Batches built ahead. Default max(2, 2·workers). */
  prefetch?: number;
  /** Image cache: 'ram' (shared, resized), 'disk' (.npy next to the images) or none. */
  cache?: false | 'ram' | 'disk';
  /** Largest share of available memory the RAM cache may take. Default 0.5. */
  cacheRamShare?: number;
  /** Progress bars on stderr. Default: stderr is a TTY. */
  progress?: boolean;
  /** Warnings (unreadable files met while loading). Default: stderr. */
  log?: (line: string) => void;
}

/** A batch, ready for upload; normalization to [0, 1] happens on the GPU. */
export interface Batch {
  /** B·H·W·3 RGB uint8, NHWC, before the HSV in `hsv`. */
  images: Uint8Array;
  shape: [number, number, number, number];
  /**
   * Augmented batches: the HSV LUTs still to apply to `images`, [B, 3, 256] (see
   * `BatchData.hsv`); pass them to `imagesToTensor` (GPU) or `applyBatchHsv` (CPU). Null or
   * absent: nothing to apply.
   */
  hsv?: Uint8Array | null;
  labels: {
    /** Image index in the batch, one per box. */
    batchIdx: Float32Array;
    cls: Float32Array;
    /** xywh normalized by W, H, 4 per box. */
    bboxes: Float32Array;
  };
  paths: string[];
  /** [h, w] of each original image. */
  originalShapes: [number, number][];
  /** Per image [[gain h, gain w], [pad left, pad top]]: original -> network pixels (letterbox; augmented batches: resize only). */
  ratioPad: [[number, number], [number, number]][];
  indices: number[];
  epoch: number;
  batchIndex: number;
}

/** Where an interrupted run resumes: the next batch is `position` of `epoch`. */
export interface LoaderState {
  epoch: number;
  position: number;
  seed: number;
}

interface Executor {
  run(req: WorkerRequest): Promise<WorkerReply>;
  close(): Promise<void>;
}

/** Runs jobs in-process, one at a time. */
class InProcess implements Executor {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly builder: BatchBuilder) {}
  run(req: WorkerRequest): Promise<WorkerReply> {
    const p = this.chain.then(async (): Promise<WorkerReply> => {
      if (req.type === 'build') return { type: 'built', id: req.id, batch: await this.builder.build(req.job, req.images) };
      return { type: 'filled', id: req.id, warnings: (await this.builder.fill(req.indices)).warnings };
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
  async close(): Promise<void> {}
}

/** The compiled worker script: next to this module when running from dist/, else dist/ of the package (tests run the .ts sources). */
export function workerScript(): URL {
  const here = import.meta.url;
  if (here.endsWith('.js')) {
    const sibling = new URL('./loader-worker.js', here);
    if (existsSync(fileURLToPath(sibling))) return sibling;
  }
  const dist = join(packageRoot(), 'dist', 'src', 'data', 'loader-worker.js');
  if (!existsSync(dist)) {
    throw new UserError(`loader workers need the compiled ${dist}; build with \`npx tsc -p tsconfig.json\` or use workers: 0`);
  }
  return pathToFileURL(dist);
}

/** A pool of worker threads, each running one job at a time. */
class WorkerPool implements Executor {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { req: WorkerRequest; resolve: (r: WorkerReply) => void; reject: (e: Error) => void }[] = [];
  private readonly pending = new Map<Worker, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(count: number, data: LoaderData, config: BuilderConfig) {
    const script = workerScript();
    for (let k = 0; k < count; k++) {
      const w = new Worker(script, { workerData: { data, config } });
      w.on('message', (reply: WorkerReply) => this.settle(w, reply));
      w.on('error', (err) => this.fail(w, err));
      w.on('exit', (code) => {
        if (!this.closed) this.fail(w, new Error(`loader worker exited with code ${code}`));
      });
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(req: WorkerRequest): Promise<WorkerReply> {
    if (this.closed) return Promise.reject(new Error('loader is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const job = this.queue.shift()!;
      this.pending.set(w, job);
      w.postMessage(job.req, job.req.type === 'build' && job.req.images ? [job.req.images] : []);
    }
  }

  private settle(w: Worker, reply: WorkerReply): void {
    const p = this.pending.get(w);
    this.pending.delete(w);
    this.idle.push(w);
    if (p) {
      if (reply.type === 'error') {
        const e = new Error(`loader worker: ${reply.message}`);
        e.stack = reply.stack;
        p.reject(e);
      } else p.resolve(reply);
    }
    this.pump();
  }

  private fail(w: Worker, err: Error): void {
    const p = this.pending.get(w);
    this.pending.delete(w);
    p?.reject(err);
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Flattens dataset entries for the builders. */
export function loaderData(entries: readonly DatasetEntry[]): LoaderData {
  const n = entries.length;
  const shapes = new Int32Array(2 * n);
  const labelStart = new Int32Array(n + 1);
  let rows = 0;
  entries.forEach((e, i) => {
    shapes[2 * i] = e.shape[0];
    shapes[2 * i + 1] = e.shape[1];
    labelStart[i] = rows;
    rows += e.cls.length;
  });
  labelStart[n] = rows;
  const cls = new Float32Array(rows);
  const bboxes = new Float32Array(rows * 4);
  entries.forEach((e, i) => {
    cls.set(e.cls, labelStart[i]);
    bboxes.set(e.bboxes, labelStart[i] * 4);
  });
  return { files: entries.map((e) => e.imFile), shapes, labelStart, cls, bboxes };
}

export class DataLoader {
  /** Batches per epoch. */
  readonly length: number;
  /** Images per epoch. */
  readonly size: number;
  readonly imgsz: number;
  readonly batchSize: number;
  readonly stride: number;
  readonly augment: boolean;
  readonly rect: boolean;
  readonly hyp: AugmentHyp;
  /** Host bytes held by the RAM cache (0 without). */
  readonly cacheBytes: number;
  private readonly rectPlan: ReturnType<typeof rectBatches> | null;
  private readonly msRange: number;
  private position: LoaderState;
  private nextId = 1;
  private generation = 0;
  private readonly warned = new Set<string>();
  /** Dispatched jobs not yet consumed, in order (may run into the next epochs). */
  private pipeline: { epoch: number; batchIndex: number; reply: Promise<WorkerReply> }[] = [];
  /** The next job to dispatch. */
  private cursor = { epoch: 0, batchIndex: 0 };
  private jobCache: { epoch: number; jobs: BatchJob[] }[] = [];
  /** Recycled image buffers by byte length. */
  private readonly spare = new Map<number, ArrayBuffer[]>();
  private spareCount = 0;

  private constructor(
    private readonly data: LoaderData,
    private readonly options: Required<Pick<LoaderOptions, 'seed' | 'closeMosaic' | 'shuffle' | 'workers' | 'augment' | 'rect'>> & LoaderOptions,
    private readonly executor: Executor,
    cacheBytes: number,
    private readonly log: (line: string) => void,
  ) {
    this.size = data.files.length;
    this.imgsz = options.imgsz ?? 640;
    this.batchSize = Math.min(options.batch ?? 16, this.size);
    this.stride = options.stride ?? 32;
    this.augment = options.augment;
    this.rect = options.rect;
    this.hyp = { ...DEFAULT_AUGMENT, ...options.hyp };
    this.length = Math.ceil(this.size / this.batchSize);
    this.cacheBytes = cacheBytes;
    this.msRange = multiScaleRange(options.multiScale);
    const shapes = Array.from({ length: this.size }, (_, i) => [data.shapes[2 * i], data.shapes[2 * i + 1]] as [number, number]);
    this.rectPlan = this.rect ? rectBatches(shapes, this.batchSize, this.imgsz, this.stride, options.pad ?? (this.augment ? 0 : 0.5)) : null;
    this.position = { epoch: 0, position: 0, seed: options.seed };
  }

  /** Builds the loader: starts the workers and fills the cache (with a progress bar). */
  static async create(dataset: { entries: readonly DatasetEntry[] }, options: LoaderOptions = {}): Promise<DataLoader> {
    const imgsz = options.imgsz ?? 640;
    const stride = options.stride ?? 32;
    if (!Number.isInteger(imgsz) || imgsz % stride !== 0 || imgsz <= 0) {
      throw new UserError(`imgsz ${imgsz} must be a positive multiple of the stride ${stride}`);
    }
    if (dataset.entries.length === 0) throw new UserError('the dataset has no usable images');
    const batch = options.batch ?? 16;
    if (!Number.isInteger(batch) || batch < 1) throw new UserError(`batch must be a positive integer, got ${batch}`);
    const data = loaderData(dataset.entries);
    const augment = options.augment ?? false;
    const rect = options.rect ?? !augment;
    const workers = Math.max(0, Math.floor(options.workers ?? Math.min(8, availableParallelism())));
    const opts = {
      ...options,
      augment,
      rect,
      workers,
      seed: options.seed ?? 0,
      closeMosaic: options.closeMosaic ?? 10,
      shuffle: options.shuffle ?? (augment && !rect),
    };
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const cacheKind = options.cache || 'none';
    let ram: RamCacheLayout | undefined;
    const shapes = dataset.entries.map((e) => e.shape);
    if (cacheKind === 'ram') ram = allocateRamCache(shapes, imgsz, options.cacheRamShare ?? 0.5);
    if (cacheKind === 'disk') checkDiskCache(data.files, ramCacheBytes(shapes, imgsz));
    const config: BuilderConfig = {
      imgsz,
      stride,
      augment,
      hyp: { ...DEFAULT_AUGMENT, ...options.hyp },
      seed: opts.seed,
      cache: cacheKind,
      ram,
    };
    const executor: Executor = workers === 0 ? new InProcess(new BatchBuilder(data, config)) : new WorkerPool(workers, data, config);
    const loader = new DataLoader(data, opts, executor, ram?.bytes ?? 0, log);
    if (cacheKind !== 'none') {
      try {
        await loader.fillCache(cacheKind, options.progress);
      } catch (err) {
        await executor.close();
        throw err;
      }
    }
    return loader;
  }

  private async fillCache(kind: 'ram' | 'disk', progressOption?: boolean): Promise<void> {
    const n = this.size;
    const progress = createProgress({ label: `caching images (${kind})`, total: n, enabled: progressOption });
    const chunk = 16;
    const jobs: Promise<void>[] = [];
    for (let s = 0; s < n; s += chunk) {
      const indices = Array.from({ length: Math.min(chunk, n - s) }, (_, k) => s + k);
      jobs.push(
        this.executor.run({ type: 'fill', id: this.nextId++, indices }).then((reply) => {
          if (reply.type === 'filled') reply.warnings.forEach((w) => this.warn(w));
          progress.tick(indices.length);
        }),
      );
    }
    await Promise.all(jobs);
    progress.done(kind === 'ram' ? `${(this.cacheBytes / 2 ** 30).toFixed(2)} GiB` : undefined);
  }

  /** Whether mosaic (and mixup, cutmix) apply in `epoch` (off with rect and for the last closeMosaic epochs). */
  mosaicActive(epoch: number): boolean {
    if (!this.augment || this.rect || this.hyp.mosaic <= 0) return false;
    const { epochs, closeMosaic } = this.options;
    return !(epochs !== undefined && epoch >= epochs - closeMosaic);
  }

  /** The largest [h, w] a batch can have (multi-scale and rect included), for memory planning. */
  maxImageShape(): [number, number] {
    const base = this.rectPlan ? this.rectPlan.shapes.reduce((m, s) => [Math.max(m[0], s[0]), Math.max(m[1], s[1])], [0, 0]) : [this.imgsz, this.imgsz];
    if (this.msRange <= 0) return [base[0], base[1]];
    const s = maxMultiScaleSize(this.imgsz, this.stride, this.msRange);
    const sf = s / Math.max(base[0], base[1]);
    return [Math.ceil((base[0] * sf) / this.stride) * this.stride, Math.ceil((base[1] * sf) / this.stride) * this.stride];
  }

  /** The jobs of an epoch (what each batch holds), without building them. */
  jobs(epoch: number): BatchJob[] {
    const B = this.batchSize;
    const order = this.rectPlan ? this.rectPlan.order : Array.from(epochOrder(this.size, this.options.seed, epoch, this.options.shuffle));
    const mosaicOn = this.mosaicActive(epoch);
    const poolSize = Math.max(B, 16);
    const jobs: BatchJob[] = [];
    for (let b = 0; b < this.length; b++) {
      const start = b * B;
      jobs.push({
        epoch,
        batchIndex: b,
        indices: order.slice(start, start + B),
        pool: mosaicOn ? partnerPool(order, start, poolSize) : [],
        shape: this.rectPlan ? this.rectPlan.shapes[b] : [this.imgsz, this.imgsz],
        mosaicOn,
        size: this.augment ? multiScaleSize(this.options.seed, epoch, b, this.imgsz, this.stride, this.msRange) : this.imgsz,
      });
    }
    return jobs;
  }

  /** The batches of `epoch`, from `start` (default: the saved position when resuming that epoch, else 0). */
  async *epoch(epoch: number, options: { start?: number } = {}): AsyncGenerator<Batch> {
    const start = options.start ?? (this.position.epoch === epoch ? this.position.position : 0);
    const generation = ++this.generation;
    // Jobs already dispatched (prefetched by an earlier call, possibly across the epoch boundary)
    // are reused when they continue exactly where this call starts; anything else is dropped.
    const head = this.pipeline[0];
    if (!head || head.epoch !== epoch || head.batchIndex !== start) {
      this.pipeline = [];
      this.cursor = { epoch, batchIndex: start };
    }
    this.position = { ...this.position, epoch, position: start };
    try {
      for (;;) {
        this.dispatch(epoch);
        const next = this.pipeline[0];
        if (!next || next.epoch !== epoch) return;
        this.pipeline.shift();
        const reply = await next.reply;
        if (generation !== this.generation) return;
        this.dispatch(epoch);
        if (reply.type !== 'built') throw new Error(`unexpected loader reply ${reply.type}`);
        const batch = this.toBatch(reply.batch);
        this.position = { ...this.position, epoch, position: batch.batchIndex + 1 };
        if (batch.batchIndex + 1 === this.length) this.position = { ...this.position, epoch: epoch + 1, position: 0 };
        yield batch;
      }
    } finally {
      if (generation === this.generation) this.generation++;
    }
  }

  /**
   * Keeps `prefetch` jobs in flight: the rest of `epoch`, then (when `epochs` is known) the next
   * epochs' first batches, so workers stay busy across epoch boundaries and on small datasets.
   */
  private dispatch(epoch: number): void {
    const prefetch = Math.max(1, this.options.prefetch ?? Math.max(2, 2 * this.options.workers));
    const { epochs } = this.options;
    while (this.pipeline.length < prefetch) {
      let { epoch: e, batchIndex: b } = this.cursor;
      if (b >= this.length) {
        e++;
        b = 0;
      }
      if (e !== epoch && (epochs === undefined || e >= epochs || e > epoch + 4)) break;
      const job = this.jobsOf(e)[b];
      const [B, H, W] = batchImageShape(job, this.imgsz, this.stride);
      const images = this.takeSpare(B * H * W * 3);
      const reply = this.executor.run({ type: 'build', id: this.nextId++, job, ...(images ? { images } : {}) });
      reply.catch(() => undefined); // surfaced when awaited
      this.pipeline.push({ epoch: e, batchIndex: b, reply });
      this.cursor = { epoch: e, batchIndex: b + 1 };
    }
  }

  private jobsOf(epoch: number): BatchJob[] {
    const hit = this.jobCache.find((c) => c.epoch === epoch);
    if (hit) return hit.jobs;
    const jobs = this.jobs(epoch);
    this.jobCache = [...this.jobCache.slice(-2), { epoch, jobs }];
    return jobs;
  }

  /**
   * Hands a batch's image buffer back for a later batch, once its pixels are no longer needed
   * (e.g. uploaded to the GPU). `batch.images` is detached (empty) afterwards, so a stale read
   * fails loudly instead of seeing another batch's pixels.
   */
  recycle(batch: Batch): void {
    const buf = batch.images.buffer;
    // Only whole, unshared, not yet detached buffers (a RAM-cache view or a slice is left alone).
    if (!(buf instanceof ArrayBuffer) || batch.images.byteLength === 0 || buf.byteLength !== batch.images.byteLength) return;
    const moved = structuredClone(buf, { transfer: [buf] });
    const keep = Math.max(2, this.options.prefetch ?? Math.max(2, 2 * this.options.workers));
    if (this.spareCount >= keep) return;
    const list = this.spare.get(moved.byteLength) ?? [];
    list.push(moved);
    this.spare.set(moved.byteLength, list);
    this.spareCount++;
  }

  private takeSpare(bytes: number): ArrayBuffer | undefined {
    const buf = this.spare.get(bytes)?.pop();
    if (buf) this.spareCount--;
    return buf;
  }

  /** Position to resume from: the next batch is `position` of `epoch`. */
  state(): LoaderState {
    return { ...this.position };
  }

  /** Restores a saved position; the next `epoch(state.epoch)` starts at `state.position`. */
  loadState(state: LoaderState): void {
    if (state.seed !== this.options.seed) {
      throw new UserError(`loader state was saved with seed ${state.seed}, this loader uses seed ${this.options.seed}`);
    }
    if (state.position < 0 || state.position > this.length) {
      throw new UserError(`loader state position ${state.position} is outside 0..${this.length}`);
    }
    this.position = { ...state };
    this.pipeline = [];
  }

  async close(): Promise<void> {
    this.generation++;
    this.pipeline = [];
    await this.executor.close();
  }

  private warn(line: string): void {
    if (this.warned.has(line)) return;
    this.warned.add(line);
    this.log(`warning: ${line}`);
  }

  private toBatch(b: BatchData): Batch {
    b.warnings.forEach((w) => this.warn(w));
    const d = this.data;
    return {
      images: b.images,
      shape: b.shape,
      hsv: b.hsv,
      labels: { batchIdx: b.batchIdx, cls: b.cls, bboxes: b.bboxes },
      paths: b.indices.map((i) => d.files[i]),
      originalShapes: b.indices.map((i) => [d.shapes[2 * i], d.shapes[2 * i + 1]] as [number, number]),
      ratioPad: b.indices.map((_, k) => [
        [b.ratioPad[k * 4], b.ratioPad[k * 4 + 1]],
        [b.ratioPad[k * 4 + 2], b.ratioPad[k * 4 + 3]],
      ]),
      indices: b.indices,
      epoch: b.epoch,
      batchIndex: b.batchIndex,
    };
  }
}
