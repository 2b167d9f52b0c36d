/**
 * ONNX model writer: a minimal protobuf encoder (varint, zigzag-free int64, fixed32/64,
 * length-delimited, packed repeated) and typed builders for the onnx.proto messages an
 * exporter needs. Field numbers are those of onnx/onnx.proto (proto2):
 *
 *   ModelProto      ir_version 1, producer_name 2, producer_version 3, domain 4,
 *                   model_version 5, doc_string 6, graph 7, opset_import 8, metadata_props 14
 *   OperatorSetId   domain 1, version 2
 *   GraphProto      node 1, name 2, initializer 5, doc_string 10, input 11, output 12, value_info 13
 *   NodeProto       input 1, output 2, name 3, op_type 4, attribute 5, doc_string 6, domain 7
 *   AttributeProto  name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9, tensors 10,
 *                   graphs 11, doc_string 13, type 20
 *   TensorProto     dims 1, data_type 2, float_data 4 (packed), int32_data 5 (packed),
 *                   int64_data 7 (packed), name 8, raw_data 9, doc_string 12
 *   ValueInfoProto  name 1, type 2, doc_string 3
 *   TypeProto       tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1, dim_param 2 } } }
 *   StringStringEntryProto key 1, value 2
 *
 * Big payloads (raw_data) are not copied until the final concatenation.
 */
import { UserError } from '../errors.js';
import { f32ToF16Bits } from './half.js';
import { writeFileAtomic } from './safetensors.js';

// ---------------------------------------------------------------------------------------
// Wire format

export const WireType = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** Appends protobuf fields; nested messages are other writers, spliced in without copying. */
export class ProtoWriter {
  private parts: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private flushedLength = 0;

  /** Encoded size in bytes so far. */
  get length(): number {
    return this.flushedLength + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.parts.push(this.buf.slice(0, this.pos));
    this.flushedLength += this.pos;
    this.pos = 0;
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length <= 64) {
      this.ensure(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
    } else {
      this.flush();
      this.parts.push(bytes);
      this.flushedLength += bytes.length;
    }
  }

  /** A raw varint (uint64; negative values as 64-bit two's complement, 10 bytes). */
  rawVarint(value: number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value <= 0xffffffff && Number.isInteger(value)) {
      this.ensure(5);
      let v = value;
      while (v > 0x7f) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v = Math.floor(v / 128);
      }
      this.buf[this.pos++] = v;
      return this;
    }
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new UserError(`protobuf varint: ${value} is not a safe integer (pass a bigint)`);
    }
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.rawVarint(field * 8 + wireType);
  }

  /** int32/int64/uint64/bool/enum field. */
  varint(field: number, value: number | bigint | boolean): this {
    return this.tag(field, WireType.VARINT).rawVarint(typeof value === 'boolean' ? (value ? 1 : 0) : value);
  }

  /** float field (fixed32). */
  float(field: number, value: number): this {
    this.tag(field, WireType.I32);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.pos, value, true);
    this.pos += 4;
    return this;
  }

  fixed32(field: number, value: number): this {
    this.tag(field, WireType.I32);
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
    return this;
  }

  /** double field (fixed64). */
  double(field: number, value: number): this {
    this.tag(field, WireType.I64);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  fixed64(field: number, value: bigint): this {
    this.tag(field, WireType.I64);
    this.ensure(8);
    new DataView(this.buf.buffer).setBigUint64(this.pos, BigInt.asUintN(64, value), true);
    this.pos += 8;
    return this;
  }

  /** bytes field (the array is referenced, not copied, when large: do not modify it before finish()). */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WireType.LEN).rawVarint(data.length);
    this.append(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message. */
  message(field: number, child: ProtoWriter): this {
    this.tag(field, WireType.LEN).rawVarint(child.length);
    child.flush();
    this.flush();
    for (const p of child.parts) this.parts.push(p);
    this.flushedLength += child.flushedLength;
    return this;
  }

  packedVarints(field: number, values: ArrayLike<number | bigint>): this {
    if (values.length === 0) return this;
    const body = new ProtoWriter();
    for (let i = 0; i < values.length; i++) body.rawVarint(values[i]);
    return this.tag(field, WireType.LEN).rawVarint(body.length).spliceRaw(body);
  }

  packedFloats(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.bytes(field, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }

  packedDoubles(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const f = values instanceof Float64Array ? values : Float64Array.from(values);
    return this.bytes(field, new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  }

  private spliceRaw(child: ProtoWriter): this {
    child.flush();
    this.flush();
    for (const p of child.parts) this.parts.push(p);
    this.flushedLength += child.flushedLength;
    return this;
  }

  /** The encoded bytes (one copy of everything). */
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.flushedLength);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** The encoded bytes as chunks (no concatenation), e.g. to stream to a file. */
  chunks(): Uint8Array[] {
    this.flush();
    return [...this.parts];
  }
}

// ---------------------------------------------------------------------------------------
// ONNX messages

/** TensorProto.DataType */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export interface OnnxTensor {
  name: string;
  dataType: DataTypeCode;
  dims: readonly number[];
  /** Little-endian element bytes (FLOAT16 as its 16-bit patterns). */
  rawData?: Uint8Array;
  /** Alternatives to raw_data for small tensors. */
  floatData?: ArrayLike<number>;
  int32Data?: ArrayLike<number>;
  int64Data?: ArrayLike<number | bigint>;
  docString?: string;
}

export type OnnxAttribute =
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'int'; value: number | bigint }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'tensor'; value: OnnxTensor }
  | { name: string; type: 'graph'; value: OnnxGraph }
  | { name: string; type: 'floats'; value: readonly number[] }
  | { name: string; type: 'ints'; value: readonly (number | bigint)[] }
  | { name: string; type: 'strings'; value: readonly string[] };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: readonly OnnxAttribute[];
  docString?: string;
}

/** A dimension: a number (dim_value), a string (dim_param, symbolic) or null (unknown). */
export type OnnxDim = number | string | null;

export interface OnnxValueInfo {
  name: string;
  elemType: DataTypeCode;
  /** Omitted: unknown rank. */
  shape?: readonly OnnxDim[];
  docString?: string;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers?: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  valueInfo?: readonly OnnxValueInfo[];
  docString?: string;
}

export interface OnnxOpset {
  /** '' or omitted: the default ai.onnx domain. */
  domain?: string;
  version: number;
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: readonly OnnxOpset[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph: OnnxGraph;
  metadataProps?: Record<string, string>;
}

// --- builders for common tensors and attributes

function bytesView(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function checkSize(name: string, dims: readonly number[], n: number): void {
  const want = dims.reduce((a, b) => a * b, 1);
  if (want !== n) throw new UserError(`ONNX tensor '${name}': dims [${dims}] need ${want} elements, got ${n}`);
}

/** FLOAT tensor stored as raw_data. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): OnnxTensor {
  checkSize(name, dims, data.length);
  return { name, dataType: DataType.FLOAT, dims, rawData: bytesView(data) };
}

/** FLOAT16 tensor stored as raw_data: give f16 bit patterns, or f32 values to round. */
export function float16Tensor(name: string, dims: readonly number[], data: Uint16Array | Float32Array): OnnxTensor {
  const bits = data instanceof Float32Array ? f32ToF16Bits(data) : data;
  checkSize(name, dims, bits.length);
  return { name, dataType: DataType.FLOAT16, dims, rawData: bytesView(bits) };
}

/** INT64 tensor stored as raw_data (e.g. Reshape shapes, Slice starts/ends, Split sizes). */
export function int64Tensor(name: string, dims: readonly number[], data: ArrayLike<number | bigint>): OnnxTensor {
  checkSize(name, dims, data.length);
  const a = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) a[i] = BigInt(data[i]);
  return { name, dataType: DataType.INT64, dims, rawData: bytesView(a) };
}

export const attr = {
  float: (name: string, value: number): OnnxAttribute => ({ name, type: 'float', value }),
  int: (name: string, value: number | bigint): OnnxAttribute => ({ name, type: 'int', value }),
  string: (name: string, value: string): OnnxAttribute => ({ name, type: 'string', value }),
  tensor: (name: string, value: OnnxTensor): OnnxAttribute => ({ name, type: 'tensor', value }),
  floats: (name: string, value: readonly number[]): OnnxAttribute => ({ name, type: 'floats', value }),
  ints: (name: string, value: readonly (number | bigint)[]): OnnxAttribute => ({ name, type: 'ints', value }),
  strings: (name: string, value: readonly string[]): OnnxAttribute => ({ name, type: 'strings', value }),
};

// --- encoders

export function encodeTensor(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d); // repeated int64 dims = 1 (not packed in onnx.proto)
  w.varint(2, t.dataType);
  if (t.floatData) w.packedFloats(4, t.floatData);
  if (t.int32Data) w.packedVarints(5, t.int32Data);
  if (t.int64Data) w.packedVarints(7, t.int64Data);
  w.string(8, t.name);
  if (t.rawData) w.bytes(9, t.rawData);
  if (t.docString) w.string(12, t.docString);
  return w;
}

export function encodeAttribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, a.name);
  // Repeated scalars are written unpacked, as onnx.proto (proto2, no [packed]) declares them.
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      w.varint(20, AttributeType.FLOAT);
      break;
    case 'int':
      w.varint(3, a.value);
      w.varint(20, AttributeType.INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.varint(20, AttributeType.STRING);
      break;
    case 'tensor':
      w.message(5, encodeTensor(a.value));
      w.varint(20, AttributeType.TENSOR);
      break;
    case 'graph':
      w.message(6, encodeGraph(a.value));
      w.varint(20, AttributeType.GRAPH);
      break;
    case 'floats':
      for (const v of a.value) w.float(7, v);
      w.varint(20, AttributeType.FLOATS);
      break;
    case 'ints':
      for (const v of a.value) w.varint(8, v);
      w.varint(20, AttributeType.INTS);
      break;
    case 'strings':
      for (const v of a.value) w.string(9, v);
      w.varint(20, AttributeType.STRINGS);
      break;
  }
  return w;
}

export function encodeNode(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a));
  if (n.docString) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
  return w;
}

export function encodeValueInfo(v: OnnxValueInfo): ProtoWriter {
  const tensorType = new ProtoWriter().varint(1, v.elemType);
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.varint(1, d);
      else if (typeof d === 'string') dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  const type = new ProtoWriter().message(1, tensorType);
  const w = new ProtoWriter().string(1, v.name).message(2, type);
  if (v.docString) w.string(3, v.docString);
  return w;
}

export function encodeGraph(g: OnnxGraph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers ?? []) w.message(5, encodeTensor(t));
  if (g.docString) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, encodeValueInfo(v));
  for (const v of g.outputs) w.message(12, encodeValueInfo(v));
  for (const v of g.valueInfo ?? []) w.message(13, encodeValueInfo(v));
  return w;
}

export function encodeModelWriter(m: OnnxModel): ProtoWriter {
  const w = new ProtoWriter();
  w.varint(1, m.irVersion);
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.domain) w.string(4, m.domain);
  if (m.modelVersion !== undefined) w.varint(5, m.modelVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, encodeGraph(m.graph));
  for (const o of m.opsetImports) {
    const op = new ProtoWriter();
    if (o.domain) op.string(1, o.domain);
    op.varint(2, o.version);
    w.message(8, op);
  }
  for (const [k, v] of Object.entries(m.metadataProps ?? {})) {
    w.message(14, new ProtoWriter().string(1, k).string(2, v));
  }
  return w;
}

/** Serializes a ModelProto. */
export function encodeModel(m: OnnxModel): Uint8Array {
  return encodeModelWriter(m).finish();
}

/** Writes a `.onnx` file atomically. */
export function writeOnnx(path: string, m: OnnxModel): void {
  writeFileAtomic(path, encodeModelWriter(m).chunks());
}

/** The IR version each default-domain opset first shipped with (onnx's helper VERSION_TABLE), opsets 7-23. */
const IR_VERSION_OF_OPSET = [3, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10, 10, 11];

/** The lowest IR version a model importing default-domain `opset` may declare (7 <= opset <= 23). */
export function irVersionForOpset(opset: number): number {
  const ir = IR_VERSION_OF_OPSET[opset - 7];
  if (!Number.isInteger(opset) || ir === undefined) throw new UserError(`ONNX opset ${opset} is not known (7 to ${IR_VERSION_OF_OPSET.length + 6})`);
  return ir;
}
