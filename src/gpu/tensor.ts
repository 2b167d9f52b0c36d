import { f16BitsToF32, f32ToF16Bits } from '../io/half.js';
import type { Allocation, Category } from './arena.js';
import { DTYPE_BYTES, hostArray, type DType, type HostArray } from './dtype.js';
import type { Engine } from './engine.js';
import type { BufferSlice } from './pipelines.js';
import { registerTensorCheck, track } from './scope.js';

/** An arena allocation shared by every view of it; freed when the last view is disposed. */
export class Storage {
  private refs = 1;
  private cachedSlice: BufferSlice | null = null;

  constructor(
    readonly engine: Engine,
    readonly allocation: Allocation,
  ) {}

  get bytes(): number {
    return this.allocation.requested;
  }

  get category(): Category {
    return this.allocation.category;
  }

  get alive(): boolean {
    return this.refs > 0;
  }

  /** Whether exactly one view holds this storage. */
  get soleView(): boolean {
    return this.refs === 1;
  }

  retain(): this {
    if (this.refs <= 0) throw new Error('a view of freed storage was taken');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) throw new Error('storage released twice');
    if (--this.refs === 0) this.engine.free(this.allocation);
  }

  slice(): BufferSlice {
    this.cachedSlice ??= this.engine.slice(this.allocation);
    return this.cachedSlice;
  }
}

/** Set by the copy kernel at load: strided copy with conversion (tensor.ts sits below the kernels). */
let castInto: (src: Tensor, dst: Tensor) => void = () => {
  throw new Error('the copy kernel is not loaded');
};

export function registerCastKernel(kernel: (src: Tensor, dst: Tensor) => void): void {
  castInto = kernel;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape}]`);
  }
}

/**
 * A strided view of a storage: element (i0, i1, ...) lives at
 * `offset + sum(ik * strides[k])` elements from the storage start.
 * Views share the storage; each view holds a reference and must be disposed.
 */
export class Tensor {
  private disposed = false;

  constructor(
    readonly storage: Storage,
    readonly dtype: DType,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
  ) {
    track(this);
  }

  static empty(engine: Engine, shape: readonly number[], dtype: DType, category: Category): Tensor {
    checkShape(shape);
    const allocation = engine.alloc(sizeOf(shape) * DTYPE_BYTES[dtype], category);
    return new Tensor(new Storage(engine, allocation), dtype, [...shape], contiguousStrides(shape), 0);
  }

  /** A new contiguous tensor holding `data` (f16 tensors take f32 host data and round it). */
  static fromHost(engine: Engine, data: ArrayLike<number>, shape: readonly number[], dtype: DType, category: Category): Tensor {
    const t = Tensor.empty(engine, shape, dtype, category);
    t.write(data);
    return t;
  }

  get engine(): Engine {
    return this.storage.engine;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  isContiguous(): boolean {
    const expected = contiguousStrides(this.shape);
    return this.shape.every((d, i) => d === 1 || this.strides[i] === expected[i]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
  }

  /** A view with the given geometry over the same storage. */
  view(shape: readonly number[], strides: readonly number[], offset: number): Tensor {
    this.assertLive();
    return new Tensor(this.storage.retain(), this.dtype, [...shape], [...strides], offset);
  }

  /** Elements start..end (exclusive) of `axis`, every `step`-th; a channel slice when axis is the last. */
  slice(axis: number, start: number, end: number, step = 1): Tensor {
    const a = this.axis(axis);
    if (!(0 <= start && start <= end && end <= this.shape[a]) || step < 1) {
      throw new Error(`slice [${start}, ${end}) step ${step} out of range for axis ${a} of shape [${this.shape}]`);
    }
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[a] = Math.ceil((end - start) / step);
    strides[a] = this.strides[a] * step;
    return this.view(shape, strides, this.offset + start * this.strides[a]);
  }

  /** Row i of a rank-2 tensor, as a rank-1 view. */
  row(i: number): Tensor {
    if (this.rank !== 2 || !(0 <= i && i < this.shape[0])) throw new Error(`row ${i} of a tensor of shape [${this.shape}]`);
    return this.view([this.shape[1]], [this.strides[1]], this.offset + i * this.strides[0]);
  }

  /** Splits `axis` into consecutive pieces of the given sizes (views, no copy). */
  split(axis: number, sizes: readonly number[]): Tensor[] {
    const a = this.axis(axis);
    if (sizes.reduce((x, y) => x + y, 0) !== this.shape[a]) throw new Error(`split sizes [${sizes}] do not sum to ${this.shape[a]}`);
    let start = 0;
    return sizes.map((n) => this.slice(a, start, (start += n)));
  }

  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape);
    if (!this.isContiguous()) throw new Error(`reshape of a non-contiguous view [${this.shape}] needs a copy first`);
    return this.view(resolved, contiguousStrides(resolved), this.offset);
  }

  permute(axes: readonly number[]): Tensor {
    if (axes.length !== this.rank || new Set(axes).size !== this.rank || axes.some((a) => a < 0 || a >= this.rank)) {
      throw new Error(`permute axes [${axes}] invalid for rank ${this.rank}`);
    }
    return this.view(
      axes.map((a) => this.shape[a]),
      axes.map((a) => this.strides[a]),
      this.offset,
    );
  }

  /** Broadcast view (stride 0 on expanded axes), numpy rules. */
  expand(shape: readonly number[]): Tensor {
    const lead = shape.length - this.rank;
    if (lead < 0) throw new Error(`cannot expand [${this.shape}] to [${shape}]`);
    const strides = shape.map((d, i) => {
      if (i < lead) return 0;
      const own = this.shape[i - lead];
      if (own === d) return this.strides[i - lead];
      if (own === 1) return 0;
      throw new Error(`cannot expand [${this.shape}] to [${shape}]`);
    });
    return this.view(shape, strides, this.offset);
  }

  unsqueeze(axis: number): Tensor {
    const a = axis < 0 ? axis + this.rank + 1 : axis;
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(a, 0, 1);
    strides.splice(a, 0, a < this.rank ? this.strides[a] * this.shape[a] : 1);
    return this.view(shape, strides, this.offset);
  }

  /** Writes host data into this contiguous tensor, ordered after all recorded work. */
  write(data: ArrayLike<number>): void {
    this.assertLive();
    if (data.length !== this.size) throw new Error(`writing ${data.length} values into a tensor of ${this.size}`);
    if (!this.isContiguous()) throw new Error('host writes need a contiguous tensor');
    const elem = DTYPE_BYTES[this.dtype];
    if ((this.offset * elem) % 4 !== 0 || (this.size * elem) % 4 !== 0) {
      // queue.writeBuffer moves whole 4-byte words: stage as f32 and cast on the GPU.
      const staging = Tensor.empty(this.engine, this.shape, 'f32', 'other');
      staging.write(data);
      castInto(staging, this);
      staging.dispose();
      return;
    }
    const engine = this.engine;
    if (engine.isMeta) return;
    engine.recorder!.write(this.storage.slice(), this.offset * elem, encodeHost(this.dtype, data));
  }

  /** Reads the view back in logical (row-major) order; f16 values come back as f32. */
  async read(): Promise<HostArray> {
    return (await Tensor.readAll([this]))[0];
  }

  /** Reads several views (of one engine) with a single GPU round trip, each as `read` gives it. */
  static async readAll(tensors: readonly Tensor[]): Promise<HostArray[]> {
    if (tensors.length === 0) return [];
    const engine = tensors[0].engine;
    if (engine.isMeta) throw new Error('a meta-mode tensor has no values to read');
    const plans = tensors.map((t) => t.readPlan());
    const raws = await engine.recorder!.readMany(plans.filter((p) => p.part).map((p) => p.part!));
    let next = 0;
    return plans.map((p, i) => {
      const t = tensors[i];
      const out = hostArray(t.dtype, t.size);
      if (!p.part) return out;
      const values = decodeHost(t.dtype, raws[next++], p.firstElement);
      gather(values, out, t.shape, t.strides, t.offset - p.lo);
      return out;
    });
  }

  /** The smallest word-aligned byte range of the storage that covers the view (none when it is empty). */
  private readPlan(): { part: { src: BufferSlice; srcOffset: number; bytes: number } | null; lo: number; firstElement: number } {
    this.assertLive();
    const elem = DTYPE_BYTES[this.dtype];
    let lo = this.offset;
    let hi = this.offset;
    this.shape.forEach((d, i) => {
      if (d === 0) return;
      const reach = (d - 1) * this.strides[i];
      if (reach < 0) lo += reach;
      else hi += reach;
    });
    if (this.size === 0) return { part: null, lo, firstElement: 0 };
    const startByte = Math.floor((lo * elem) / 4) * 4;
    return { part: { src: this.storage.slice(), srcOffset: startByte, bytes: (hi + 1) * elem - startByte }, lo, firstElement: (lo * elem - startByte) / elem };
  }

  private axis(axis: number): number {
    const a = axis < 0 ? axis + this.rank : axis;
    if (a < 0 || a >= this.rank) throw new Error(`axis ${axis} out of range for rank ${this.rank}`);
    return a;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('use of a disposed tensor');
  }
}

function resolveReshape(from: readonly number[], to: readonly number[]): number[] {
  const total = sizeOf(from);
  const known = to.filter((d) => d !== -1);
  const inferred = to.length - known.length;
  if (inferred > 1) throw new Error(`reshape [${to}] has more than one -1`);
  const knownSize = sizeOf(known);
  const shape = to.map((d) => (d === -1 ? total / knownSize : d));
  if (sizeOf(shape) !== total || shape.some((d) => !Number.isInteger(d))) throw new Error(`cannot reshape [${from}] to [${to}]`);
  return shape;
}

function encodeHost(dtype: DType, data: ArrayLike<number>): ArrayBufferView {
  switch (dtype) {
    case 'f32':
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'f16':
      return f32ToF16Bits(data instanceof Float32Array ? data : Float32Array.from(data));
    case 'i32':
      return data instanceof Int32Array ? data : Int32Array.from(data);
    case 'u32':
      return data instanceof Uint32Array ? data : Uint32Array.from(data);
  }
}

/** Values of `raw` from element `first` on, as host numbers. */
function decodeHost(dtype: DType, raw: ArrayBuffer, first: number): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(raw, first * 4);
    case 'f16':
      return f16BitsToF32(new Uint16Array(raw, first * 2, Math.floor(raw.byteLength / 2) - first));
    case 'i32':
      return new Int32Array(raw, first * 4);
    case 'u32':
      return new Uint32Array(raw, first * 4);
  }
}

/** Copies a strided view of `src` (starting at `base`) into `dst` in row-major order. */
export function gather(src: ArrayLike<number>, dst: HostArray, shape: readonly number[], strides: readonly number[], base: number): void {
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = base;
  for (let i = 0; i < dst.length; i++) {
    dst[i] = src[at];
    for (let k = rank - 1; k >= 0; k--) {
      index[k]++;
      at += strides[k];
      if (index[k] < shape[k]) break;
      at -= strides[k] * shape[k];
      index[k] = 0;
    }
  }
}

registerTensorCheck((v: unknown): v is Tensor => v instanceof Tensor);
