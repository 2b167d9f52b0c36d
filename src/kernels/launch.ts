import type { DType } from '../gpu/dtype.js';
import type { Engine, KernelRequest } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';

/** Maximum tensor rank the strided kernels handle (shapes are padded with leading 1s). */
export const MAX_RANK = 6;

/**
 * Builds a kernel's uniform parameter block: 32-bit words in the order the WGSL
 * `Params` struct declares them (all scalar u32/i32/f32 fields, or vec4<u32> arrays).
 */
export class Params {
  private readonly words: number[] = [];
  private readonly view = new DataView(new ArrayBuffer(4));

  u32(...values: number[]): this {
    for (const v of values) this.words.push(v >>> 0);
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) this.words.push(v | 0);
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) {
      this.view.setFloat32(0, v, true);
      this.words.push(this.view.getUint32(0, true));
    }
    return this;
  }

  /** Pads to a multiple of 4 words (a vec4 boundary) before an array field. */
  align4(): this {
    while (this.words.length % 4 !== 0) this.words.push(0);
    return this;
  }

  build(): Uint32Array {
    return Uint32Array.from(this.words);
  }
}

/** Workgroup grid for `threads` invocations of a 1-D kernel, folded into y when x would exceed the limit. */
export function grid1d(engine: Engine, threads: number, workgroupSize: number): [number, number, number] {
  const groups = Math.ceil(threads / workgroupSize);
  const limit = engine.gpu?.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (groups <= limit) return [groups, 1, 1];
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y, 1];
}

/** WGSL for the linear invocation index of a `grid1d` launch (declares `WG` as the workgroup size). */
export function linearIndexWgsl(workgroupSize: number): string {
  return /* wgsl */ `
const WG: u32 = ${workgroupSize}u;
fn linearIndex(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}`;
}

/** `enable f16;` when any of the dtypes needs it. */
export function enables(...dtypes: DType[]): string {
  return dtypes.includes('f16') ? 'enable f16;\n' : '';
}

/** WGSL declarations of the storage bindings 1..n that `launch` binds, from `NAME: type` entries in order. */
export function storageWgsl(decls: readonly string[]): string {
  return decls.map((d, i) => `@group(0) @binding(${i + 1}) var<storage, read_write> ${d};`).join('\n');
}

/**
 * Checks that every tensor lives on `engine`, is not disposed, and that no two share a
 * storage: WebGPU forbids overlapping writable bindings in one dispatch, so a kernel that
 * supports aliasing (elementwise, in place) binds each storage once itself.
 */
function checkOperands(engine: Engine, tensors: readonly Tensor[], name: string): void {
  tensors.forEach((t, i) => {
    if (t.isDisposed) throw new Error(`${name}: operand was disposed`);
    if (t.engine !== engine) throw new Error(`${name}: operands live on different engines`);
    const j = tensors.findIndex((u) => u.storage === t.storage);
    if (j !== i) throw new Error(`${name}: operands ${j} and ${i} share one storage; this kernel cannot run in place`);
  });
}

/** Records one dispatch binding each tensor's storage, in order, as bindings 1..n. */
export function launch(
  engine: Engine,
  request: Omit<KernelRequest, 'bindings'>,
  tensors: readonly Tensor[],
  params: Params,
  groups: readonly number[],
): void {
  checkOperands(engine, tensors, request.name);
  engine.run(
    { ...request, bindings: tensors.length },
    () => tensors.map((t) => t.storage.slice()),
    params.build(),
    groups,
  );
}

/**
 * Storages bound once each: WebGPU rejects two writable bindings of one buffer in a
 * dispatch, and operands often share one (in place, slices of a concat buffer, tensors of
 * one arena segment). `slot(t)` is the 0-based binding of t's storage; views of one storage
 * must share a dtype (one declared element type).
 */
export function distinctBindings(op: string, tensors: readonly Tensor[]): { bound: Tensor[]; slot: (t: Tensor) => number } {
  const bound: Tensor[] = [];
  for (const t of tensors) {
    const other = bound.find((b) => b.storage === t.storage);
    if (!other) bound.push(t);
    else if (other.dtype !== t.dtype) throw new Error(`${op}: views of one storage must share a dtype (${other.dtype}, ${t.dtype})`);
  }
  return { bound, slot: (t) => bound.findIndex((b) => b.storage === t.storage) };
}

/** Right-aligns a shape/strides pair to MAX_RANK (leading size-1 axes with stride 0). */
export function padRank(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  if (shape.length > MAX_RANK) throw new Error(`rank ${shape.length} exceeds the supported ${MAX_RANK}`);
  const lead = MAX_RANK - shape.length;
  return {
    shape: [...new Array<number>(lead).fill(1), ...shape],
    strides: [...new Array<number>(lead).fill(0), ...strides],
  };
}

/** Broadcast result shape of several shapes (numpy rules). */
export function broadcastShapes(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const lead = rank - s.length;
    s.forEach((d, i) => {
      const o = out[lead + i];
      if (o !== 1 && d !== 1 && o !== d) throw new Error(`shapes ${shapes.map((x) => `[${x}]`).join(', ')} do not broadcast`);
      if (d !== 1) out[lead + i] = d;
    });
  }
  return out;
}

/**
 * Row and channel strides of a [..., C] view whose rows (all axes but the last) are evenly
 * spaced, e.g. a channel slice of an NHWC concat buffer: [N*H*W, C] with the buffer's row
 * pitch; null where the rows do not merge into one axis. A single row has pitch 0.
 */
export function rowStrides(t: Tensor): { row: number; channel: number } | null {
  const r = t.rank;
  let pixel: number | null = null;
  let span = 1;
  for (let i = r - 2; i >= 0; i--) {
    if (t.shape[i] === 1) continue;
    if (pixel === null) [pixel, span] = [t.strides[i], t.shape[i]];
    else if (t.strides[i] !== span * pixel) return null;
    else span *= t.shape[i];
  }
  return { row: pixel ?? 0, channel: t.strides[r - 1] };
}
