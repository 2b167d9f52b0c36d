import type { Gpu } from './device.js';
import { PARAM_BLOCK_BYTES, type BufferSlice, type CompiledKernel, type PipelineCache } from './pipelines.js';

/** Dispatches per submit before parameters must be flushed (one uniform block each). */
const PARAM_BLOCKS = 8192;
/**
 * Dispatches per submit in normal recording: submitting as we go lets the GPU start on a
 * training step while the host is still recording the rest of it (one submit at the end
 * would leave the GPU idle for the whole recording time). After a wait for the GPU (a read,
 * a sync) the queue is empty, so the first submit comes after FIRST_SUBMIT dispatches and
 * the count doubles up to SUBMIT_EVERY: the GPU starts after a few dispatches' recording.
 */
const SUBMIT_EVERY = 256;
const FIRST_SUBMIT = 16;
/** Timestamp pairs per submit when profiling. */
const PROFILE_CAPACITY = 2048;

export interface KernelTiming {
  name: string;
  /** The operation the dispatch belongs to, where its caller tagged it (a convolution's shape key). */
  tag?: string;
  ns: number;
}

type ProfiledDispatch = Omit<KernelTiming, 'ns'>;

export interface RecorderCounters {
  dispatches: number;
  submits: number;
  buffersCreated: number;
}

/**
 * Records kernel dispatches into one open compute pass and submits them on demand.
 * Parameters of all dispatches of a submit are staged on the host and written with a
 * single queue.writeBuffer just before the submit; the queue orders that write after
 * every earlier submit, so one parameter buffer is reused safely.
 */
export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly paramBuffer: GPUBuffer;
  readonly paramSlice: BufferSlice;
  private readonly staged = new Uint32Array((PARAM_BLOCKS * PARAM_BLOCK_BYTES) / 4);
  private blocks = 0;
  /** Dispatches that trigger the next submit (FIRST_SUBMIT after a wait, doubling to SUBMIT_EVERY). */
  private submitEvery = FIRST_SUBMIT;
  private readonly readPool = new Map<number, GPUBuffer[]>();
  readonly counters: RecorderCounters = { dispatches: 0, submits: 0, buffersCreated: 0 };

  private profiling: { querySet: GPUQuerySet; resolve: GPUBuffer; dispatches: ProfiledDispatch[] } | null = null;
  private readonly pendingTimings: Promise<KernelTiming[]>[] = [];

  constructor(
    private readonly gpu: Gpu,
    private readonly cache: PipelineCache,
    allocateBufferId: () => number,
  ) {
    this.paramBuffer = gpu.device.createBuffer({
      label: 'kernel parameters',
      size: PARAM_BLOCKS * PARAM_BLOCK_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.counters.buffersCreated++;
    this.paramSlice = { buffer: this.paramBuffer, bufferId: allocateBufferId(), offset: 0, size: PARAM_BLOCK_BYTES };
  }

  /** Per-dispatch GPU timestamps (one compute pass per dispatch while on). */
  setProfiling(on: boolean): void {
    this.flush();
    if (on && !this.gpu.features.timestampQuery) throw new Error('this adapter has no timestamp-query feature');
    if (on && !this.profiling) {
      const device = this.gpu.device;
      this.profiling = {
        querySet: device.createQuerySet({ type: 'timestamp', count: PROFILE_CAPACITY * 2 }),
        resolve: device.createBuffer({
          size: PROFILE_CAPACITY * 16,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        }),
        dispatches: [],
      };
      this.counters.buffersCreated++;
    } else if (!on && this.profiling) {
      this.profiling.querySet.destroy();
      this.profiling.resolve.destroy();
      this.profiling = null;
    }
  }

  /** Records one dispatch; `tag` labels its timing while profiling. */
  dispatch(kernel: CompiledKernel, slices: readonly BufferSlice[], params: Uint32Array, groups: readonly number[], tag?: string): void {
    if (params.length * 4 > PARAM_BLOCK_BYTES) throw new Error(`${kernel.name}: ${params.length} parameter words exceed one block`);
    if (slices.length !== kernel.storageBindings) {
      throw new Error(`${kernel.name}: ${slices.length} buffers bound, kernel declares ${kernel.storageBindings}`);
    }
    const limit = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = groups;
    if (x > limit || y > limit || z > limit) throw new Error(`${kernel.name}: workgroup grid ${groups} exceeds ${limit}`);
    if (x === 0 || y === 0 || z === 0) return;
    if (this.blocks === PARAM_BLOCKS || (this.profiling && this.profiling.dispatches.length === PROFILE_CAPACITY)) this.flush();
    const pass = this.openPass({ name: kernel.name, tag });
    this.staged.set(params, (this.blocks * PARAM_BLOCK_BYTES) / 4);
    const group = this.cache.bindGroup(kernel, this.paramSlice, slices);
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group, [this.blocks * PARAM_BLOCK_BYTES]);
    pass.dispatchWorkgroups(x, y, z);
    this.blocks++;
    this.counters.dispatches++;
    if (this.profiling) this.closePass();
    else if (this.blocks === this.submitEvery) {
      this.flush();
      this.submitEvery = Math.min(2 * this.submitEvery, SUBMIT_EVERY);
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.closePass();
    const encoder = this.encoder;
    this.encoder = null;
    let timings: { dispatches: ProfiledDispatch[]; read: GPUBuffer; bytes: number } | null = null;
    if (this.profiling && this.profiling.dispatches.length > 0) {
      const dispatches = this.profiling.dispatches;
      const bytes = dispatches.length * 16;
      encoder.resolveQuerySet(this.profiling.querySet, 0, dispatches.length * 2, this.profiling.resolve, 0);
      const read = this.takeReadBuffer(bytes);
      encoder.copyBufferToBuffer(this.profiling.resolve, 0, read, 0, bytes);
      timings = { dispatches, read, bytes };
      this.profiling.dispatches = [];
    }
    if (this.blocks > 0) {
      this.gpu.device.queue.writeBuffer(this.paramBuffer, 0, this.staged.buffer, 0, this.blocks * PARAM_BLOCK_BYTES);
      this.blocks = 0;
    }
    this.gpu.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
    if (timings) this.pendingTimings.push(this.readTimings(timings.dispatches, timings.read, timings.bytes));
  }

  /** Encodes a buffer-to-buffer copy in order with the recorded dispatches. */
  copy(src: BufferSlice, srcOffset: number, dst: BufferSlice, dstOffset: number, bytes: number): void {
    this.closePass();
    this.ensureEncoder().copyBufferToBuffer(src.buffer, src.offset + srcOffset, dst.buffer, dst.offset + dstOffset, bytes);
  }

  /** Host-to-GPU write, ordered after all work recorded so far. */
  write(dst: BufferSlice, dstOffset: number, data: ArrayBufferView): void {
    this.flush();
    this.gpu.device.queue.writeBuffer(dst.buffer, dst.offset + dstOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Reads `bytes` of a slice back to the host after all recorded work has run. */
  async read(src: BufferSlice, srcOffset: number, bytes: number): Promise<ArrayBuffer> {
    return (await this.readMany([{ src, srcOffset, bytes }]))[0];
  }

  /**
   * Reads several ranges through one staging buffer: one submit and one wait for all of them
   * (a checkpoint reads about a thousand tensors; one round trip each costs seconds).
   */
  async readMany(parts: readonly { src: BufferSlice; srcOffset: number; bytes: number }[]): Promise<ArrayBuffer[]> {
    const starts: number[] = [];
    let size = 0;
    for (const p of parts) {
      starts.push(size);
      size += Math.ceil(p.bytes / 4) * 4; // copies move whole 4-byte words
    }
    if (size === 0) return parts.map(() => new ArrayBuffer(0));
    const staging = this.takeReadBuffer(size);
    parts.forEach((p, i) => this.copy(p.src, p.srcOffset, { buffer: staging, bufferId: -1, offset: 0, size }, starts[i], Math.ceil(p.bytes / 4) * 4));
    this.flush();
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    this.submitEvery = FIRST_SUBMIT;
    const mapped = staging.getMappedRange(0, size);
    const out = parts.map((p, i) => mapped.slice(starts[i], starts[i] + p.bytes));
    staging.unmap();
    this.giveReadBuffer(staging);
    this.gpu.throwIfFailed();
    return out;
  }

  /** Submits and waits until the GPU has finished everything. */
  async sync(): Promise<void> {
    this.flush();
    await this.gpu.device.queue.onSubmittedWorkDone();
    this.submitEvery = FIRST_SUBMIT;
    this.gpu.throwIfFailed();
  }

  /** Timings of dispatches recorded while profiling, in dispatch order; clears them. */
  async takeTimings(): Promise<KernelTiming[]> {
    await this.sync();
    const all = (await Promise.all(this.pendingTimings.splice(0))).flat();
    return all;
  }

  private async readTimings(dispatches: ProfiledDispatch[], read: GPUBuffer, bytes: number): Promise<KernelTiming[]> {
    await read.mapAsync(GPUMapMode.READ, 0, bytes);
    const stamps = new BigUint64Array(read.getMappedRange(0, bytes).slice(0));
    read.unmap();
    this.giveReadBuffer(read);
    return dispatches.map((d, i) => ({ ...d, ns: Number(stamps[2 * i + 1] - stamps[2 * i]) }));
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.encoder ??= this.gpu.device.createCommandEncoder();
    return this.encoder;
  }

  private openPass(dispatch: ProfiledDispatch): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    const encoder = this.ensureEncoder();
    if (this.profiling) {
      const i = this.profiling.dispatches.length;
      this.profiling.dispatches.push(dispatch);
      this.pass = encoder.beginComputePass({
        timestampWrites: {
          querySet: this.profiling.querySet,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
    } else this.pass = encoder.beginComputePass();
    return this.pass;
  }

  private closePass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private takeReadBuffer(bytes: number): GPUBuffer {
    const size = 2 ** Math.ceil(Math.log2(Math.max(bytes, 256)));
    const pooled = this.readPool.get(size)?.pop();
    if (pooled) return pooled;
    this.counters.buffersCreated++;
    return this.gpu.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private giveReadBuffer(buffer: GPUBuffer): void {
    const list = this.readPool.get(buffer.size) ?? [];
    list.push(buffer);
    this.readPool.set(buffer.size, list);
  }
}
