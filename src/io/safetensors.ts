/**
 * safetensors read/write: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}`,
 * then the raw little-endian tensor bytes (offsets relative to the end of the header).
 *
 * Reading maps the whole file into one Buffer and hands out views of it: a tensor whose
 * bytes are aligned for its element type is a zero-copy typed-array view; an unaligned
 * one is copied once. Writing is atomic (temp file in the same folder, fsync, rename).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { UserError } from '../errors.js';
import { bf16BitsToF32, f16BitsToF32 } from './half.js';

/** Element types, with safetensors' names (also used for PyTorch storages). */
export type DType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

export type TypedArray =
  | Float64Array
  | Float32Array
  | Uint16Array // F16, BF16 and U16 (16-bit patterns)
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array; // U8 and BOOL

export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

const ELEMENT_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_SIZE, s);
}

export function dtypeSize(dtype: DType): number {
  return ELEMENT_SIZE[dtype];
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A typed array of `dtype` over `bytes` (little-endian). Zero-copy when the bytes are
 * aligned for the element type, else a copy.
 */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): TypedArray {
  const size = ELEMENT_SIZE[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new Error(`typedArrayFromBytes: ${bytes.byteLength} bytes is not a multiple of ${size} (${dtype})`);
  }
  let src = bytes;
  if (bytes.byteOffset % size !== 0) src = new Uint8Array(bytes); // copy to an aligned, fresh buffer
  const n = src.byteLength / size;
  const { buffer, byteOffset } = src;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, n);
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'U64':
      return new BigUint64Array(buffer, byteOffset, n);
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'U32':
      return new Uint32Array(buffer, byteOffset, n);
    case 'I16':
      return new Int16Array(buffer, byteOffset, n);
    case 'I8':
      return new Int8Array(buffer, byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/** The array's bytes as a Uint8Array view (no copy). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The dtype a typed array implies, when it is unambiguous (Uint16Array is not: F16, BF16 or U16). */
export function dtypeOfArray(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  return undefined;
}

/**
 * Any stored tensor as f32 values. F32 data is returned as is (a view, not a copy:
 * copy it before writing into it); other dtypes are converted into a new array.
 */
export function toFloat32(dtype: DType, data: TypedArray): Float32Array {
  switch (dtype) {
    case 'F32':
      return data as Float32Array;
    case 'F16':
      return f16BitsToF32(data as Uint16Array);
    case 'BF16':
      return bf16BitsToF32(data as Uint16Array);
    case 'I64':
    case 'U64': {
      const src = data as BigInt64Array | BigUint64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(data as ArrayLike<number>);
  }
}

export interface SafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** Byte range in the file (absolute, header included). */
  begin: number;
  end: number;
}

/**
 * A safetensors file held in one Buffer; tensors are sliced out on demand.
 * `get` returns views into the file's buffer (zero-copy when aligned).
 */
export class SafetensorsFile {
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;

  private constructor(
    readonly file: string,
    readonly buffer: Buffer,
    entries: Map<string, SafetensorsEntry>,
    metadata: Record<string, string>,
  ) {
    this.entries = entries;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsFile {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new UserError(`${path}: cannot read safetensors file (${(e as Error).message})`, { cause: e });
    }
    return SafetensorsFile.fromBuffer(buf, path);
  }

  static fromBuffer(buf: Buffer, file = '<buffer>'): SafetensorsFile {
    const fail = (what: string): never => {
      throw new UserError(`${file}: not a valid safetensors file: ${what}`);
    };
    if (buf.byteLength < 8) fail(`file is ${buf.byteLength} bytes, shorter than the 8-byte header length`);
    const headerLen64 = buf.readBigUInt64LE(0);
    if (headerLen64 > BigInt(buf.byteLength - 8)) {
      fail(`header length ${headerLen64} exceeds the ${buf.byteLength - 8} bytes after the length field`);
    }
    const headerLen = Number(headerLen64);
    const dataStart = 8 + headerLen;
    let header: unknown;
    try {
      header = JSON.parse(buf.toString('utf8', 8, dataStart));
    } catch (e) {
      fail(`header (${headerLen} bytes) is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      fail(`header is ${Array.isArray(header) ? 'an array' : typeof header}, expected a JSON object`);
    }
    const dataLen = buf.byteLength - dataStart;
    const entries = new Map<string, SafetensorsEntry>();
    const metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`__metadata__ is not an object`);
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== 'string') fail(`__metadata__.${k} is ${typeof v}, expected a string`);
          metadata[k] = v as string;
        }
        continue;
      }
      const bad = (what: string): never => fail(`tensor '${name}': ${what}`);
      if (typeof raw !== 'object' || raw === null) bad('entry is not an object');
      const { dtype, shape, data_offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!isDType(dtype)) bad(`unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
      }
      if (
        !Array.isArray(data_offsets) ||
        data_offsets.length !== 2 ||
        !data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)
      ) {
        bad(`data_offsets ${JSON.stringify(data_offsets)} is not [begin, end]`);
      }
      const [b, e] = data_offsets as [number, number];
      if (b > e) bad(`data_offsets [${b}, ${e}] has begin after end`);
      if (e > dataLen) bad(`data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes; file truncated?)`);
      const dt = dtype as DType;
      const expected = numel(shape as number[]) * ELEMENT_SIZE[dt];
      if (e - b !== expected) {
        bad(`${dt} ${JSON.stringify(shape)} needs ${expected} bytes, data_offsets [${b}, ${e}] give ${e - b}`);
      }
      entries.set(name, { dtype: dt, shape: [...(shape as number[])], begin: dataStart + b, end: dataStart + e });
    }
    return new SafetensorsFile(file, buf, entries, metadata);
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new UserError(`${this.file}: no tensor named '${name}'`);
    return e;
  }

  /** Raw bytes of one tensor (a view into the file buffer). */
  bytes(name: string): Uint8Array {
    const e = this.entry(name);
    return this.buffer.subarray(e.begin, e.end);
  }

  /** One tensor in its stored dtype: a view when aligned, else a copy. */
  get(name: string): TensorData {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: [...e.shape], data: typedArrayFromBytes(e.dtype, this.bytes(name)) };
  }

  /** One tensor as f32 (converted when stored otherwise). Never aliases the file buffer. */
  getFloat32(name: string): { shape: number[]; data: Float32Array } {
    const t = this.get(name);
    const data = toFloat32(t.dtype, t.data);
    return { shape: t.shape, data: data === t.data ? new Float32Array(data) : data };
  }

  /** Every tensor, in header order, as views (see `get`). */
  all(): Map<string, TensorData> {
    const out = new Map<string, TensorData>();
    for (const name of this.entries.keys()) out.set(name, this.get(name));
    return out;
  }
}

/** Reads a whole safetensors file; tensor data are views into one Buffer holding the file. */
export function readSafetensors(path: string): { tensors: Map<string, TensorData>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  return { tensors: f.all(), metadata: { ...f.metadata } };
}

/** Every tensor of a safetensors file as f32 (shape kept). */
export function readSafetensorsFloat32(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const f = SafetensorsFile.open(path);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of f.names) out.set(name, f.getFloat32(name));
  return out;
}

/** A tensor to write: `dtype` may be left out when the array type implies it (not Uint16Array). */
export interface TensorToWrite {
  dtype?: DType;
  shape: readonly number[];
  data: ArrayBufferView;
}

/**
 * Serializes tensors to safetensors bytes as a list of chunks (header, then each tensor's
 * bytes, no copies of tensor data). The header is padded with spaces to a multiple of 8
 * bytes and tensors are laid out widest dtype first (stable), so every tensor's data is
 * aligned for its element type and reads back as a zero-copy view.
 */
export function encodeSafetensors(
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
  file = '<output>',
): Buffer[] {
  const given = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Wider elements first (stable), so that every tensor starts aligned for its type.
  const width = (t: TensorToWrite): number => {
    const d = t.dtype ?? dtypeOfArray(t.data);
    return d && isDType(d) ? ELEMENT_SIZE[d] : 1;
  };
  const list = given
    .map((e, i) => ({ e, i, w: width(e[1]) }))
    .sort((a, b) => b.w - a.w || a.i - b.i)
    .map((x) => x.e);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new UserError(`${file}: metadata '${k}' is ${typeof v}, expected a string`);
    }
    header.__metadata__ = metadata;
  }
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new UserError(`${file}: '__metadata__' cannot be a tensor name`);
    const dtype = t.dtype ?? dtypeOfArray(t.data);
    if (!dtype) throw new UserError(`${file}: tensor '${name}': give a dtype for a ${t.data.constructor.name}`);
    if (!isDType(dtype)) throw new UserError(`${file}: tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new UserError(`${file}: tensor '${name}': bad shape ${JSON.stringify(t.shape)}`);
    }
    const size = numel(t.shape) * ELEMENT_SIZE[dtype];
    if (t.data.byteLength !== size) {
      throw new UserError(
        `${file}: tensor '${name}': ${dtype} ${JSON.stringify(t.shape)} needs ${size} bytes, data has ${t.data.byteLength}`,
      );
    }
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json, 'utf8'));
  head.writeBigUInt64LE(BigInt(head.byteLength - 8), 0);
  head.write(json, 8, 'utf8');
  return [head, ...chunks];
}

// Re-exported for the modules that import it from here (it lives in atomic-write.ts).
export { writeFileAtomic };

/** Writes tensors (and string metadata) to a safetensors file, atomically. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata, path));
}
