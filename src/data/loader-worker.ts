/**
 * A loader worker (worker_threads): builds batches and fills caches for `loader.ts`.
 * Runs from the compiled file (dist/src/data/loader-worker.js).
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import type { BatchData, BatchJob, BuilderConfig, LoaderData } from './batch-builder.js';
import { BatchBuilder } from './batch-builder.js';

/** `images`: a recycled image buffer (transferred) for the batch to be written into. */
export type WorkerRequest = { type: 'build'; id: number; job: BatchJob; images?: ArrayBuffer } | { type: 'fill'; id: number; indices: number[] };
export type WorkerReply =
  | { type: 'built'; id: number; batch: BatchData }
  | { type: 'filled'; id: number; warnings: string[] }
  | { type: 'error'; id: number; message: string; stack?: string };

// One decode at a time per worker: parallelism comes from the workers, not libvips threads.
sharp.concurrency(1);
sharp.cache(false);

const { data, config } = workerData as { data: LoaderData; config: BuilderConfig };
const builder = new BatchBuilder(data, config);
const port = parentPort!;

// Jobs run one after another: a batch's CPU work is synchronous, and ordering stays simple.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  chain = chain.then(async () => {
    try {
      if (msg.type === 'build') {
        const batch = await builder.build(msg.job, msg.images);
        const reply: WorkerReply = { type: 'built', id: msg.id, batch };
        const buffers = [batch.images.buffer, batch.batchIdx.buffer, batch.cls.buffer, batch.bboxes.buffer, batch.ratioPad.buffer];
        if (batch.hsv) buffers.push(batch.hsv.buffer);
        port.postMessage(reply, buffers as ArrayBuffer[]);
      } else {
        const { warnings } = await builder.fill(msg.indices);
        port.postMessage({ type: 'filled', id: msg.id, warnings } satisfies WorkerReply);
      }
    } catch (err) {
      const e = err as Error;
      port.postMessage({ type: 'error', id: msg.id, message: e.message, stack: e.stack } satisfies WorkerReply);
    }
  });
});
