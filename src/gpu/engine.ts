import { Arena, type Allocation, type ArenaStats, type Category, type SegmentBacking } from './arena.js';
import { openGpu, type Gpu, type GpuFeatures, type OpenGpuOptions } from './device.js';
import { OutOfMemoryError } from './errors.js';
import { PipelineCache, type BufferSlice, type CompiledKernel } from './pipelines.js';
import { Recorder, type KernelTiming } from './recorder.js';
// Registers the cast kernel that f16 uploads of odd sizes use (tensor.ts sits below the kernels).
import '../kernels/copy.js';

/** Default segment size: large enough that a training step needs few, small enough to grow gradually. */
const DEFAULT_SEGMENT_BYTES = 256 * 2 ** 20;

/**
 * Which kernels f16 convolutions run on: `tensor-cores` (the default) subgroup matrices
 * where the device has them and the shape is worth it (`tensorCoresPay`: not for layers of
 * 16 channels or narrow pointwise convs), the SIMT kernels elsewhere; `simt` the SIMT kernels
 * only. In the yolov8n f16 batch-64 training step on an H100 the default ran 1.4x faster
 * than SIMT only (bench/RESULTS.md, ninth call).
 */
export type ConvKernels = 'simt' | 'tensor-cores';

export interface EngineOptions {
  /** Cap on reserved GPU bytes; over it allocations raise OutOfMemoryError. */
  budgetBytes?: number | null;
  segmentBytes?: number;
  convKernels?: ConvKernels;
  /** Convolution kernel variants by shape (kernels/conv-variants.ts), e.g. from a tile sweep on this device. */
  convVariants?: Readonly<Record<string, string>>;
}

/** The device facts meta mode needs to make the same allocation decisions as a real device. */
export interface MetaDevice {
  segmentBytes: number;
  maxAllocationBytes: number;
  alignment: number;
  features: GpuFeatures;
}

export const DEFAULT_META_DEVICE: MetaDevice = {
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  maxAllocationBytes: 2 ** 31,
  alignment: 256,
  features: { shaderF16: true, subgroups: true, timestampQuery: false, subgroupMatrix: false, subgroupMatrixConfigs: [] },
};

/** A kernel launch request: `build` runs only the first time `key` is seen. */
export interface KernelRequest {
  key: string;
  name: string;
  bindings: number;
  build: () => string;
}

export interface EngineCounters {
  pipelines: number;
  bindGroups: number;
  buffers: number;
  dispatches: number;
  submits: number;
}

/** GPUBuffers behind arena segments; a failed creation surfaces as OutOfMemoryError at the next sync. */
class SegmentBuffers implements SegmentBacking {
  readonly buffers: (GPUBuffer | null)[] = [];
  readonly ids: number[] = [];
  created = 0;
  private failure: Promise<OutOfMemoryError | null>[] = [];

  constructor(
    private readonly gpu: Gpu,
    private readonly nextId: () => number,
    private readonly onDestroy: (bufferId: number) => void,
  ) {}

  create(segment: number, bytes: number): void {
    const device = this.gpu.device;
    device.pushErrorScope('out-of-memory');
    this.buffers[segment] = device.createBuffer({
      label: `arena segment ${segment}`,
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.ids[segment] = this.nextId();
    this.created++;
    this.failure.push(
      device.popErrorScope().then((e) => (e ? new OutOfMemoryError(bytes, 'other', 0, null, e.message) : null)),
    );
  }

  destroy(segment: number): void {
    this.buffers[segment]?.destroy();
    this.buffers[segment] = null;
    this.onDestroy(this.ids[segment]);
  }

  async check(): Promise<void> {
    const results = await Promise.all(this.failure.splice(0));
    const error = results.find((r) => r !== null);
    if (error) throw error;
  }
}

/**
 * The engine: one arena for every byte, plus (unless in meta mode) the GPU, the
 * pipeline and bind-group caches and the command recorder. In meta mode the same
 * allocation and launch calls run without a device, so peaks can be planned exactly.
 */
export class Engine {
  private bufferIds = 0;
  /** See ConvKernels. */
  convKernels: ConvKernels = 'tensor-cores';
  /** See EngineOptions.convVariants. */
  convVariants: Readonly<Record<string, string>> = {};
  /** Tag given to the timings of dispatches recorded inside `tagged` (profiling only). */
  private profileTag: string | undefined;

  private constructor(
    readonly arena: Arena,
    readonly features: GpuFeatures,
    readonly gpu: Gpu | null,
    readonly cache: PipelineCache | null,
    readonly recorder: Recorder | null,
    private readonly segments: SegmentBuffers | null,
  ) {}

  static async open(options: OpenGpuOptions & EngineOptions = {}): Promise<Engine> {
    const gpu = await openGpu(options);
    const cache = new PipelineCache(gpu.device);
    let engine: Engine | null = null;
    const nextId = () => ++engine!.bufferIds;
    const segments = new SegmentBuffers(gpu, nextId, (id) => cache.forgetBuffer(id));
    const maxAllocationBytes = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const arena = new Arena({
      segmentBytes: Math.min(options.segmentBytes ?? DEFAULT_SEGMENT_BYTES, maxAllocationBytes),
      maxAllocationBytes: floorTo(maxAllocationBytes, gpu.limits.minStorageBufferOffsetAlignment),
      alignment: gpu.limits.minStorageBufferOffsetAlignment,
      budgetBytes: options.budgetBytes ?? null,
      backing: segments,
    });
    engine = new Engine(arena, gpu.features, gpu, cache, null, segments);
    (engine as { recorder: Recorder | null }).recorder = new Recorder(gpu, cache, nextId);
    engine.convKernels = options.convKernels ?? 'tensor-cores';
    engine.convVariants = options.convVariants ?? {};
    return engine;
  }

  /** An engine without a device: allocations are simulated, kernels are not run. */
  static meta(device: MetaDevice = DEFAULT_META_DEVICE, options: EngineOptions = {}): Engine {
    const arena = new Arena({
      segmentBytes: Math.min(options.segmentBytes ?? device.segmentBytes, device.maxAllocationBytes),
      maxAllocationBytes: device.maxAllocationBytes,
      alignment: device.alignment,
      budgetBytes: options.budgetBytes ?? null,
    });
    const engine = new Engine(arena, device.features, null, null, null, null);
    engine.convKernels = options.convKernels ?? 'tensor-cores';
    engine.convVariants = options.convVariants ?? {};
    return engine;
  }

  /** The facts a meta engine needs to plan exactly for this engine's device. */
  metaDevice(): MetaDevice {
    return {
      segmentBytes: this.arena.options.segmentBytes,
      maxAllocationBytes: this.arena.options.maxAllocationBytes,
      alignment: this.arena.options.alignment,
      features: this.features,
    };
  }

  get isMeta(): boolean {
    return this.gpu === null;
  }

  alloc(bytes: number, category: Category): Allocation {
    return this.arena.alloc(bytes, category);
  }

  free(allocation: Allocation): void {
    this.arena.free(allocation);
  }

  recategorize(allocation: Allocation, category: Category): void {
    this.arena.recategorize(allocation, category);
  }

  stats(): ArenaStats {
    return this.arena.stats();
  }

  /** The GPU range behind an allocation. */
  slice(allocation: Allocation): BufferSlice {
    const segments = this.requireDevice().segments!;
    const buffer = segments.buffers[allocation.segment];
    if (!buffer) throw new Error(`allocation ${allocation.id} lies in a released segment`);
    return { buffer, bufferId: segments.ids[allocation.segment], offset: allocation.offset, size: allocation.size };
  }

  /**
   * The whole GPU buffer of the segment an allocation lies in: kernels that walk many tensors
   * of one segment (the EMA of every weight) bind it once and address the tensors by offset.
   */
  segmentSlice(allocation: Allocation): BufferSlice {
    const whole = this.slice(allocation);
    return { ...whole, offset: 0, size: whole.buffer.size };
  }

  /** Records one dispatch; a no-op in meta mode. */
  run(request: KernelRequest, slices: () => BufferSlice[], params: Uint32Array, groups: readonly number[]): void {
    if (this.isMeta) return;
    const kernel: CompiledKernel = this.cache!.kernel(request.key, request.name, request.build, request.bindings);
    this.recorder!.dispatch(kernel, slices(), params, groups, this.profileTag);
  }

  /**
   * Runs `record` with its dispatches tagged (outer tags win): a profile can then add up the
   * time of one operation that spans several kernels, e.g. a convolution by shape.
   */
  tagged<T>(tag: string, record: () => T): T {
    if (this.profileTag !== undefined) return record();
    this.profileTag = tag;
    try {
      return record();
    } finally {
      this.profileTag = undefined;
    }
  }

  /** Submits recorded work and waits for the GPU; surfaces device loss and real out-of-memory. */
  async sync(): Promise<void> {
    if (this.isMeta) return;
    await this.recorder!.sync();
    await this.segments!.check();
  }

  flush(): void {
    this.recorder?.flush();
  }

  /** Turns per-dispatch GPU timestamps on or off (needs the timestamp-query feature). */
  setProfiling(on: boolean): void {
    this.requireDevice().recorder!.setProfiling(on);
  }

  /** GPU time per dispatch recorded while profiling, in dispatch order; clears them. */
  async kernelTimings(): Promise<KernelTiming[]> {
    return this.requireDevice().recorder!.takeTimings();
  }

  counters(): EngineCounters {
    if (this.isMeta) return { pipelines: 0, bindGroups: 0, buffers: 0, dispatches: 0, submits: 0 };
    const r = this.recorder!.counters;
    return {
      pipelines: this.cache!.counters.pipelines,
      bindGroups: this.cache!.counters.bindGroups,
      buffers: this.segments!.created + r.buffersCreated,
      dispatches: r.dispatches,
      submits: r.submits,
    };
  }

  private destroyed = false;

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Releases the device; idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.gpu?.destroy();
  }

  private requireDevice(): Engine {
    if (this.isMeta) throw new Error('this operation needs a GPU; the engine is in meta mode');
    return this;
  }
}

function floorTo(n: number, multiple: number): number {
  return Math.floor(n / multiple) * multiple;
}
