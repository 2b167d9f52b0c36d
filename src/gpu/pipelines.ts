/** A compiled compute kernel: pipeline plus the bind-group layout its launcher binds against. */
export interface CompiledKernel {
  readonly id: number;
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly storageBindings: number;
}

/** A range of a GPUBuffer bound as one storage binding. */
export interface BufferSlice {
  readonly buffer: GPUBuffer;
  /** Stable identity of the buffer for cache keys. */
  readonly bufferId: number;
  readonly offset: number;
  readonly size: number;
}

/** Bytes of uniform parameters each dispatch gets (binding 0, dynamic offset). */
export const PARAM_BLOCK_BYTES = 256;

export interface CacheCounters {
  pipelines: number;
  bindGroups: number;
}

/**
 * Compiles each kernel source once. Every kernel has the same binding scheme:
 * binding 0 is its parameter block (uniform, dynamic offset), bindings 1..n are storage
 * buffers declared `read_write` (an arena buffer may back both inputs and outputs of
 * one dispatch, and WebGPU only allows that when every use is writable storage).
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, CompiledKernel>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  readonly counters: CacheCounters = { pipelines: 0, bindGroups: 0 };

  constructor(private readonly device: GPUDevice) {}

  /**
   * The kernel cached under `key`; `build` makes its WGSL only on a miss, so `key` must
   * name everything the source depends on (op, dtypes, rank, tile sizes...).
   */
  kernel(key: string, name: string, build: () => string, storageBindings: number): CompiledKernel {
    let kernel = this.pipelines.get(key);
    if (kernel) return kernel;
    const code = build();
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
    ];
    for (let i = 1; i <= storageBindings; i++) {
      entries.push({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
    }
    const layout = this.device.createBindGroupLayout({ label: name, entries });
    const module = this.device.createShaderModule({ label: name, code });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    this.counters.pipelines++;
    kernel = { id: this.counters.pipelines, name, pipeline, layout, storageBindings };
    this.pipelines.set(key, kernel);
    return kernel;
  }

  bindGroup(kernel: CompiledKernel, params: BufferSlice, slices: readonly BufferSlice[]): GPUBindGroup {
    let key = `${kernel.id}|${params.bufferId}`;
    for (const s of slices) key += `|${s.bufferId}:${s.offset}:${s.size}`;
    let group = this.bindGroups.get(key);
    if (group) return group;
    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: params.buffer, offset: 0, size: PARAM_BLOCK_BYTES } },
    ];
    slices.forEach((s, i) => entries.push({ binding: i + 1, resource: { buffer: s.buffer, offset: s.offset, size: s.size } }));
    group = this.device.createBindGroup({ label: kernel.name, layout: kernel.layout, entries });
    this.counters.bindGroups++;
    this.bindGroups.set(key, group);
    return group;
  }

  /** Drops bind groups that reference a buffer about to be destroyed. */
  forgetBuffer(bufferId: number): void {
    for (const key of [...this.bindGroups.keys()]) {
      if (key.split('|').slice(2).some((part) => part.startsWith(`${bufferId}:`))) this.bindGroups.delete(key);
    }
  }
}
