/**
 * PyTorch `.pt` (zip) checkpoints without PyTorch: the archive holds `<archive>/data.pkl`
 * (a pickle whose tensors point at storages by persistent id), `<archive>/data/<key>`
 * (raw storage bytes) and `<archive>/byteorder`. Nothing in the pickle is executed: the
 * model comes back as records (see pickle.ts) that are walked like `nn.Module.state_dict()`.
 *
 * `loadTorchCheckpoint` reads an Ultralytics checkpoint: the `ema` model when present,
 * else `model`, as a flat f32 state dict with PyTorch names (`model.0.conv.weight`, ...),
 * plus its metadata (names, nc, yaml, stride, train_args, epoch, date, version).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import {
  describe,
  dictGet,
  isObject,
  isTensor,
  tensorData,
  tensorToFloat32,
  unpickle,
  type PickleDict,
  type PickleValue,
  type TorchStorage,
  type TorchTensor,
} from './pickle.js';
import { dtypeSize, isFloatDType, type DType, type TypedArray } from './safetensors.js';
import { ZipArchive } from './zip.js';

/** Legacy typed-storage classes (`torch.HalfStorage`, ...) to element types. */
const STORAGE_DTYPES: Record<string, DType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UInt16Storage: 'U16',
  UInt32Storage: 'U32',
  UInt64Storage: 'U64',
  // torch.storage.UntypedStorage is raw bytes
  UntypedStorage: 'U8',
};

export interface TorchPickle {
  file: string;
  /** The archive's top folder (`best`, `archive`, ...). */
  archive: string;
  /** The unpickled root object. */
  root: PickleValue;
}

/** Opens a PyTorch zip checkpoint and unpickles `data.pkl`, resolving storages. */
export function readTorchPickle(path: string): TorchPickle {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  return readTorchPickleBuffer(buf, path);
}

export function readTorchPickleBuffer(buf: Buffer, file = '<buffer>'): TorchPickle {
  if (buf.byteLength >= 2 && buf[0] === 0x80 && buf[1] <= 5) {
    throw new UserError(
      `${file}: a legacy (pre-1.6, non-zip) torch.save file; only zip checkpoints are supported ` +
        '(re-save it with a recent PyTorch)',
    );
  }
  let zip: ZipArchive;
  try {
    zip = ZipArchive.fromBuffer(buf, file);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${e.message} (a PyTorch checkpoint is a zip archive)`, { cause: e });
    throw e;
  }
  const pkl = zip.entries.find((e) => /^[^/]+\/data\.pkl$/.test(e.name)) ?? zip.entries.find((e) => e.name === 'data.pkl');
  if (!pkl) {
    const some = zip.names.slice(0, 5).join(', ');
    throw new UserError(
      `${file}: zip archive has no '<archive>/data.pkl', so it is not a PyTorch checkpoint ` +
        `(${zip.entries.length} entries${some ? `: ${some}${zip.entries.length > 5 ? ', ...' : ''}` : ''})`,
    );
  }
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length); // 'best/' or ''
  const archive = prefix.replace(/\/$/, '');
  let bigEndian = false;
  const bo = zip.entry(`${prefix}byteorder`);
  if (bo) {
    const s = zip.readEntry(bo).toString('latin1').trim();
    if (s !== 'little' && s !== 'big') throw new UserError(`${file}: ${bo.name} says '${s}', expected 'little' or 'big'`);
    bigEndian = s === 'big';
  }

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new UserError(`${file}: unknown persistent id ${describe(pid)} in data.pkl (expected ('storage', ...))`);
    }
    const [, type, key, location, count] = pid;
    if (typeof key !== 'string' || typeof count !== 'number') {
      throw new UserError(`${file}: malformed storage id (key ${describe(key)}, numel ${describe(count)})`);
    }
    const cached = storages.get(key);
    if (cached) return cached;
    const typeName = isGlobalValue(type) ? type.name : undefined;
    const dtype = typeName ? STORAGE_DTYPES[typeName] : undefined;
    if (!dtype) throw new UserError(`${file}: storage '${key}' has unsupported type ${describe(type)}`);
    const entryName = `${prefix}data/${key}`;
    const entry = zip.entry(entryName);
    if (!entry) throw new UserError(`${file}: storage '${key}' is missing (no zip entry '${entryName}')`);
    const size = dtypeSize(dtype);
    const need = count * size;
    if (entry.size < need) {
      throw new UserError(
        `${file}: storage '${key}' is truncated: ${entry.size} bytes, ${count} ${dtype} elements need ${need}`,
      );
    }
    let bytes: Uint8Array = zip.readEntry(entry).subarray(0, need);
    if (bigEndian && size > 1) bytes = swapBytes(bytes, size);
    const s: TorchStorage = {
      kind: 'storage',
      dtype,
      key,
      location: typeof location === 'string' ? location : String(location),
      numel: count,
      bytes,
    };
    storages.set(key, s);
    return s;
  };
  const root = unpickle(zip.readEntry(pkl), { file: `${file} (${pkl.name})`, persistentLoad });
  return { file, archive, root };
}

function isGlobalValue(v: PickleValue): v is { kind: 'global'; module: string; name: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as { kind?: unknown }).kind === 'global';
}

function swapBytes(src: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i += size) for (let j = 0; j < size; j++) out[i + j] = src[i + size - 1 - j];
  return out;
}

/**
 * The tensors a pickled `nn.Module` would put in its `state_dict()`: own parameters, own
 * persistent buffers, then each child's under `child.`, recursively (None entries skipped).
 */
export function moduleTensors(module: PickleValue, file = '<checkpoint>', prefix = ''): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  walkModule(module, prefix, out, file, new Set());
  return out;
}

function walkModule(
  module: PickleValue,
  prefix: string,
  out: Map<string, TorchTensor>,
  file: string,
  onPath: Set<unknown>,
): void {
  const where = prefix ? `module '${prefix.slice(0, -1)}'` : 'the model';
  if (!isObject(module) || !(module.state instanceof Map)) {
    throw new UserError(`${file}: ${where} is ${describe(module)}, expected a pickled torch.nn.Module with a __dict__`);
  }
  if (onPath.has(module)) throw new UserError(`${file}: ${where} contains itself`);
  onPath.add(module);
  const state = module.state;
  const params = state.get('_parameters');
  const buffers = state.get('_buffers');
  const children = state.get('_modules');
  if (!(params instanceof Map) || !(buffers instanceof Map) || !(children instanceof Map)) {
    throw new UserError(
      `${file}: ${where} (${module.cls}) has no _parameters/_buffers/_modules dicts: not a torch.nn.Module`,
    );
  }
  const skip = state.get('_non_persistent_buffers_set');
  const nonPersistent = skip instanceof Set ? skip : new Set<PickleValue>();
  const add = (name: PickleValue, t: PickleValue, what: string): void => {
    if (t === null) return;
    if (!isTensor(t)) throw new UserError(`${file}: ${what} '${prefix}${String(name)}' is ${describe(t)}, expected a tensor`);
    out.set(`${prefix}${String(name)}`, t);
  };
  for (const [name, t] of params) add(name, t, 'parameter');
  for (const [name, t] of buffers) if (!nonPersistent.has(name)) add(name, t, 'buffer');
  for (const [name, child] of children) {
    if (child === null) continue;
    walkModule(child, `${prefix}${String(name)}.`, out, file, onPath);
  }
  onPath.delete(module);
}

export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

export interface UltralyticsCheckpoint {
  file: string;
  /** Which entry the weights came from. */
  source: 'ema' | 'model';
  /** The model's class, e.g. 'ultralytics.nn.tasks.DetectionModel'. */
  modelClass: string;
  /** Floating parameters and buffers as f32, in state_dict order, PyTorch names and layouts. */
  stateDict: Map<string, Float32Tensor>;
  /** The dtype each stateDict tensor had in the file (F16 for Ultralytics checkpoints). */
  storedDtypes: Map<string, DType>;
  /** Integer buffers (BatchNorm num_batches_tracked), kept apart. */
  intBuffers: Map<string, { dtype: DType; shape: number[]; data: TypedArray }>;
  /** Class names by index. */
  names: Record<number, string>;
  nc: number;
  /** The model's yaml dict (as the model object holds it). */
  yaml: Record<string, unknown> | null;
  /** Strides of the detection levels, e.g. [8, 16, 32]. */
  stride: number[];
  trainArgs: Record<string, unknown> | null;
  epoch: number | null;
  date: string | null;
  version: string | null;
  /** The whole unpickled checkpoint dict, for anything else. */
  raw: PickleDict;
}

/** Loads an Ultralytics `.pt` checkpoint (ema if present, else model) without PyTorch. */
export function loadTorchCheckpoint(path: string): UltralyticsCheckpoint {
  const { file, root } = readTorchPickle(path);
  if (!(root instanceof Map)) {
    throw new UserError(`${file}: the checkpoint holds ${describe(root)}, expected an Ultralytics checkpoint dict`);
  }
  const ema = root.get('ema');
  const mdl = root.get('model');
  let source: 'ema' | 'model';
  let model: PickleValue;
  if (ema !== undefined && ema !== null) {
    source = 'ema';
    model = ema;
  } else if (mdl !== undefined && mdl !== null) {
    source = 'model';
    model = mdl;
  } else {
    const keys = [...root.keys()].map((k) => String(k)).slice(0, 12);
    throw new UserError(
      `${file}: not an Ultralytics checkpoint: no 'model' or 'ema' entry (keys: ${keys.join(', ') || 'none'})`,
    );
  }

  const tensors = moduleTensors(model, file);
  if (tensors.size === 0) throw new UserError(`${file}: the ${source} model has no parameters`);
  const stateDict = new Map<string, Float32Tensor>();
  const storedDtypes = new Map<string, DType>();
  const intBuffers = new Map<string, { dtype: DType; shape: number[]; data: TypedArray }>();
  for (const [name, t] of tensors) {
    if (isFloatDType(t.dtype)) {
      stateDict.set(name, { shape: [...t.shape], data: tensorToFloat32(t) });
      storedDtypes.set(name, t.dtype);
    } else {
      intBuffers.set(name, { dtype: t.dtype, shape: [...t.shape], data: tensorData(t) });
    }
  }

  const ms = isObject(model) ? model.state : undefined;
  const yamlPlain = toPlain(dictGet(ms, 'yaml'));
  const yaml = isRecord(yamlPlain) ? yamlPlain : null;

  const names: Record<number, string> = {};
  const rawNames = dictGet(ms, 'names');
  if (rawNames instanceof Map) {
    for (const [k, v] of rawNames) if (typeof k === 'number' && typeof v === 'string') names[k] = v;
  } else if (Array.isArray(rawNames)) {
    rawNames.forEach((v, i) => {
      if (typeof v === 'string') names[i] = v;
    });
  }

  const ncRaw = dictGet(ms, 'nc');
  const nc =
    typeof ncRaw === 'number' ? ncRaw : typeof yaml?.nc === 'number' ? (yaml.nc as number) : Object.keys(names).length;

  let stride: number[] = [];
  const strideRaw = dictGet(ms, 'stride');
  if (isTensor(strideRaw)) stride = Array.from(tensorToFloat32(strideRaw));
  else if (Array.isArray(strideRaw)) stride = strideRaw.filter((x): x is number => typeof x === 'number');

  const ta = toPlain(root.get('train_args'));
  const epoch = root.get('epoch');
  const date = root.get('date');
  const version = root.get('version');
  return {
    file,
    source,
    modelClass: isObject(model) ? model.cls : '?',
    stateDict,
    storedDtypes,
    intBuffers,
    names,
    nc,
    yaml,
    stride,
    trainArgs: isRecord(ta) ? ta : null,
    epoch: typeof epoch === 'number' ? epoch : null,
    date: typeof date === 'string' ? date : null,
    version: typeof version === 'string' ? version : null,
    raw: root,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * A pickled value as plain JS data (for yaml, args, metadata): dicts with str/int keys
 * become objects, tuples and sets arrays, objects `{__class__, ...state}`, globals
 * `{__global__: 'module.name'}`, tensors `{__tensor__: dtype, shape, data?}` (values only
 * when small), cycles '[Circular]'.
 */
export function toPlain(v: PickleValue | undefined, onPath: Set<unknown> = new Set()): unknown {
  if (v === undefined || v === null || typeof v !== 'object' || v instanceof Uint8Array) return v ?? null;
  if (onPath.has(v)) return '[Circular]';
  onPath.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => toPlain(x, onPath));
    if (v instanceof Set) return [...v].map((x) => toPlain(x, onPath));
    if (v instanceof Map) {
      const simple = [...v.keys()].every((k) => typeof k === 'string' || typeof k === 'number');
      if (!simple) return [...v].map(([k, x]) => [toPlain(k, onPath), toPlain(x, onPath)]);
      const o: Record<string, unknown> = {};
      for (const [k, x] of v) o[String(k)] = toPlain(x, onPath);
      return o;
    }
    switch (v.kind) {
      case 'global':
        return { __global__: `${v.module}.${v.name}` };
      case 'storage':
        return { __storage__: v.dtype, numel: v.numel };
      case 'tensor': {
        const o: Record<string, unknown> = { __tensor__: v.dtype, shape: [...v.shape] };
        if (v.shape.reduce((a, b) => a * b, 1) <= 64) {
          o.data = isFloatDType(v.dtype) ? Array.from(tensorToFloat32(v)) : Array.from(tensorData(v) as ArrayLike<number>);
        }
        return o;
      }
      case 'object': {
        const o: Record<string, unknown> = { __class__: v.cls };
        if (v.state instanceof Map) Object.assign(o, toPlain(v.state, onPath) as Record<string, unknown>);
        else if (v.state !== undefined) o.__state__ = toPlain(v.state, onPath);
        if (v.args.length) o.__args__ = toPlain(v.args, onPath);
        if (v.items) o.__items__ = toPlain(v.items, onPath);
        if (v.listItems) o.__list__ = toPlain(v.listItems, onPath);
        return o;
      }
    }
  } finally {
    onPath.delete(v);
  }
}
