/**
 * A Python pickle reader (protocols 0 to 5) that rebuilds the object graph as plain
 * records and never runs anything: a class or function named in the pickle becomes a
 * `{kind: 'global'}` marker, and "call this with these arguments" (REDUCE, NEWOBJ,
 * NEWOBJ_EX, INST, OBJ) becomes a `{kind: 'object', cls, args, state}` record.
 *
 * Values: None -> null, bool -> boolean, int -> number (bigint when beyond 2^53),
 * float -> number, str -> string, bytes/bytearray -> Uint8Array, list -> array,
 * tuple -> frozen array (Object.isFrozen tells it from a list), dict and OrderedDict
 * -> Map, set/frozenset -> Set.
 *
 * A few classes are understood because checkpoints are made of them:
 * `collections.OrderedDict` (-> Map), `builtins.set/frozenset/bytearray`,
 * `_codecs.encode` (protocol-2 bytes), `copyreg._reconstructor`, `torch.Size`
 * (-> tuple), and `torch._utils._rebuild_tensor{,_v2,_v3}` / `_rebuild_parameter{,_with_state}`
 * (-> a TorchTensor record: storage + offset + shape + strides, see `tensorToFloat32`).
 * Storages come from PERSID/BINPERSID through the `persistentLoad` callback.
 */
import { UserError } from '../errors.js';
import { dtypeSize, numel, toFloat32, typedArrayFromBytes, type DType, type TypedArray } from './safetensors.js';

export interface PickleGlobal {
  kind: 'global';
  module: string;
  name: string;
}

export type PickleDict = Map<PickleValue, PickleValue>;

/** An instance (or the result of calling something) that this reader does not model. */
export interface PickleObject {
  kind: 'object';
  /** 'module.Name' of the class or callable; '?' when the callable was not a global. */
  cls: string;
  args: PickleValue[];
  kwargs?: PickleDict;
  /** What BUILD gave it: usually the instance's `__dict__` as a Map. */
  state?: PickleValue;
  /** Items SETITEM(S) added (dict subclasses). */
  items?: PickleDict;
  /** Items APPEND(S)/ADDITEMS added (list/set subclasses). */
  listItems?: PickleValue[];
}

/** A PyTorch storage, as a `persistentLoad` callback makes it. `bytes` is little-endian. */
export interface TorchStorage {
  kind: 'storage';
  dtype: DType;
  key: string;
  location: string;
  numel: number;
  bytes: Uint8Array;
}

/** A tensor view of a storage (offset, shape and strides in elements). */
export interface TorchTensor {
  kind: 'tensor';
  storage: TorchStorage;
  dtype: DType;
  offset: number;
  shape: number[];
  strides: number[];
  requiresGrad: boolean;
  isParameter: boolean;
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleDict
  | Set<PickleValue>
  | PickleGlobal
  | PickleObject
  | TorchStorage
  | TorchTensor;

export interface UnpickleOptions {
  /** Named in error messages. */
  file?: string;
  /** Resolves PERSID/BINPERSID ids (torch: storages). Without it, a persistent id is an error. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /**
   * Builds the value of REDUCE/NEWOBJ/NEWOBJ_EX for a class or function; return
   * undefined to fall back to the built-in handling (special cases, else an object record).
   */
  construct?: (cls: string, args: PickleValue[], kwargs: PickleDict | undefined) => PickleValue | undefined;
}

const decoder = new TextDecoder('utf-8');

export function isGlobal(v: unknown): v is PickleGlobal {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'global';
}
export function isObject(v: unknown): v is PickleObject {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'object';
}
export function isTensor(v: unknown): v is TorchTensor {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'tensor';
}
export function isStorage(v: unknown): v is TorchStorage {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'storage';
}
export function isDict(v: unknown): v is PickleDict {
  return v instanceof Map;
}
export function isTuple(v: unknown): v is readonly PickleValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/** `d[key]` for a pickled dict, or undefined when absent or `d` is not a dict. */
export function dictGet(d: PickleValue | undefined, key: string): PickleValue | undefined {
  return d instanceof Map ? d.get(key) : undefined;
}

const OP_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

function opLabel(op: number): string {
  const name = OP_NAMES[op];
  const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
  return `${name ?? 'unknown opcode'} (0x${op.toString(16).padStart(2, '0')}${ch})`;
}

function tuple(items: PickleValue[]): PickleValue[] {
  return Object.freeze(items) as PickleValue[];
}

/** Little-endian two's complement bytes to a number (or bigint when not a safe integer). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return intValue(v);
}

function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Python-literal (protocol 0 STRING) and raw-unicode-escape (UNICODE) unescaping. */
function unescapePy(s: string, rawUnicode: boolean): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[i + 1];
    if (rawUnicode) {
      if (n === 'u' || n === 'U') {
        const len = n === 'u' ? 4 : 8;
        out += String.fromCodePoint(parseInt(s.slice(i + 2, i + 2 + len), 16));
        i += 1 + len;
      } else out += c;
      continue;
    }
    i++;
    switch (n) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        let j = i;
        while (j < i + 3 && j < s.length && s[j] >= '0' && s[j] <= '7') j++;
        out += String.fromCharCode(parseInt(s.slice(i, j), 8));
        i = j - 1;
        break;
      }
      case 'x':
        out += String.fromCharCode(parseInt(s.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      default: out += n; // \\ \' \"
    }
  }
  return out;
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Reads one pickle. Throws UserError (with the file name and byte offset) on anything malformed. */
export function unpickle(data: Uint8Array, options: UnpickleOptions = {}): PickleValue {
  return new Unpickler(data, options).load();
}

class Unpickler {
  private pos = 0;
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly file: string;
  private readonly view: DataView;
  private opStart = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.file = options.file ?? '<pickle>';
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(what: string): never {
    throw new UserError(`${this.file}: bad pickle at byte ${this.opStart}: ${what}`);
  }

  private need(n: number): number {
    if (this.pos + n > this.data.length) {
      this.fail(`needs ${n} more bytes, the pickle ends at ${this.data.length} (truncated?)`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  private bytes(n: number | bigint): Uint8Array {
    if (typeof n === 'bigint') {
      if (n > BigInt(this.data.length)) this.fail(`length ${n} exceeds the pickle's size`);
      n = Number(n);
    }
    const p = this.need(n);
    return this.data.subarray(p, p + n);
  }

  private u8(): number {
    return this.data[this.need(1)];
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): bigint {
    return this.view.getBigUint64(this.need(8), true);
  }

  private line(): string {
    const start = this.pos;
    const end = this.data.indexOf(0x0a, start);
    if (end < 0) this.fail('a text argument has no terminating newline (truncated?)');
    this.pos = end + 1;
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(this.data[i]);
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  }

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private pop(): PickleValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop()!;
  }

  private top(): PickleValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PickleValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail('no MARK to pop to');
    this.stack = prev;
    return items;
  }

  private memoGet(i: number): PickleValue {
    if (!this.memo.has(i)) this.fail(`memo key ${i} was never stored`);
    return this.memo.get(i)!;
  }

  private memoPut(i: number): void {
    this.memo.set(i, this.top());
  }

  load(): PickleValue {
    try {
      return this.run();
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${this.file}: bad pickle at byte ${this.opStart}: ${(e as Error).message}`, { cause: e });
    }
  }

  private run(): PickleValue {
    const d = this.data;
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= d.length) this.fail('ended without a STOP opcode (truncated?)');
      const op = d[this.pos++];
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) this.fail(`protocol ${v} is newer than 5`);
          break;
        }
        case 0x95: // FRAME: a length hint, the frame's bytes follow inline
          this.need(8);
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x30: // POP
          if (this.stack.length === 0) this.popMark();
          else this.stack.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        // --- scalars
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x8a: this.push(decodeLong(this.bytes(this.u8()))); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail(`negative LONG4 length ${n}`);
          this.push(decodeLong(this.bytes(n)));
          break;
        }
        case 0x49: { // INT (text); I00/I01 are False/True
          const s = this.line();
          if (s === '00') this.push(false);
          else if (s === '01') this.push(true);
          else this.push(this.parseInt(s));
          break;
        }
        case 0x4c: { // LONG (text)
          const s = this.line();
          this.push(this.parseInt(s.endsWith('L') ? s.slice(0, -1) : s));
          break;
        }
        case 0x46: { // FLOAT (text)
          const s = this.line().trim();
          const v = s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s === 'nan' ? NaN : Number(s);
          if (Number.isNaN(v) && s !== 'nan') this.fail(`FLOAT '${s}' is not a number`);
          this.push(v);
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.push(this.view.getFloat64(this.need(8), false));
          break;

        // --- strings and bytes
        case 0x58: this.push(decoder.decode(this.bytes(this.u32()))); break; // BINUNICODE
        case 0x8c: this.push(decoder.decode(this.bytes(this.u8()))); break; // SHORT_BINUNICODE
        case 0x8d: this.push(decoder.decode(this.bytes(this.u64()))); break; // BINUNICODE8
        case 0x56: this.push(unescapePy(this.line(), true)); break; // UNICODE (raw-unicode-escape)
        case 0x53: { // STRING (quoted repr)
          const s = this.line();
          const q = s[0];
          if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) this.fail('STRING argument is not quoted');
          this.push(decoder.decode(latin1Bytes(unescapePy(s.slice(1, -1), false))));
          break;
        }
        case 0x54: { // BINSTRING (py2 str)
          const n = this.i32();
          if (n < 0) this.fail(`negative BINSTRING length ${n}`);
          this.push(decoder.decode(this.bytes(n)));
          break;
        }
        case 0x55: this.push(decoder.decode(this.bytes(this.u8()))); break; // SHORT_BINSTRING
        case 0x42: this.push(this.bytes(this.u32())); break; // BINBYTES
        case 0x43: this.push(this.bytes(this.u8())); break; // SHORT_BINBYTES
        case 0x8e: this.push(this.bytes(this.u64())); break; // BINBYTES8
        case 0x96: this.push(new Uint8Array(this.bytes(this.u64()))); break; // BYTEARRAY8
        case 0x97: // NEXT_BUFFER
          this.fail('out-of-band buffers (NEXT_BUFFER) are not supported');
          break;
        case 0x98: // READONLY_BUFFER: no-op on our values
          this.top();
          break;

        // --- containers
        case 0x29: this.push(tuple([])); break; // EMPTY_TUPLE
        case 0x85: this.push(tuple([this.pop()])); break; // TUPLE1
        case 0x86: { // TUPLE2
          const b = this.pop();
          const a = this.pop();
          this.push(tuple([a, b]));
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(tuple([a, b, c]));
          break;
        }
        case 0x74: this.push(tuple(this.popMark())); break; // TUPLE
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x7d: this.push(new Map()); break; // EMPTY_DICT
        case 0x64: { // DICT
          const items = this.popMark();
          if (items.length % 2) this.fail('DICT with an odd number of items');
          const m: PickleDict = new Map();
          for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
          this.push(m);
          break;
        }
        case 0x8f: this.push(new Set()); break; // EMPTY_SET
        case 0x91: this.push(new Set(this.popMark())); break; // FROZENSET
        case 0x61: { // APPEND
          const v = this.pop();
          this.appendTo(this.top(), [v]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.appendTo(this.top(), items);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          this.appendTo(this.top(), items);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          if (items.length % 2) this.fail('SETITEMS with an odd number of items');
          this.setItems(this.top(), items);
          break;
        }

        // --- memo
        case 0x68: this.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.push(this.memoGet(this.u32())); break; // LONG_BINGET
        case 0x67: this.push(this.memoGet(this.parseIndex(this.line()))); break; // GET
        case 0x71: this.memoPut(this.u8()); break; // BINPUT
        case 0x72: this.memoPut(this.u32()); break; // LONG_BINPUT
        case 0x70: this.memoPut(this.parseIndex(this.line())); break; // PUT
        case 0x94: this.memoPut(this.memo.size); break; // MEMOIZE

        // --- globals and objects
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push({ kind: 'global', module, name });
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.push({ kind: 'global', module, name });
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const fn = this.pop();
          if (!Array.isArray(args)) this.fail(`REDUCE arguments are ${describe(args)}, expected a tuple`);
          this.push(this.construct(fn, [...args], undefined));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args)) this.fail(`NEWOBJ arguments are ${describe(args)}, expected a tuple`);
          this.push(this.construct(cls, [...args], undefined));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args) || !(kwargs instanceof Map)) this.fail('NEWOBJ_EX needs an args tuple and a kwargs dict');
          this.push(this.construct(cls, [...args], kwargs.size ? kwargs : undefined));
          break;
        }
        case 0x69: { // INST
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.push(this.construct({ kind: 'global', module, name }, args, undefined));
          break;
        }
        case 0x6f: { // OBJ
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.construct(items[0], items.slice(1), undefined));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x50: // PERSID
          this.push(this.persistent(this.line()));
          break;
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        case 0x82:
        case 0x83:
        case 0x84:
          this.fail(`${opLabel(op)}: the copyreg extension registry is not supported`);
          break;
        default:
          this.fail(`${opLabel(op)} is not a pickle opcode this reader knows`);
      }
    }
  }

  private parseInt(s: string): number | bigint {
    const t = s.trim();
    if (!/^[+-]?\d+$/.test(t)) this.fail(`'${s}' is not an integer`);
    return intValue(BigInt(t));
  }

  private parseIndex(s: string): number {
    const v = this.parseInt(s);
    if (typeof v !== 'number' || v < 0) this.fail(`bad memo index '${s}'`);
    return v;
  }

  private persistent(pid: PickleValue): PickleValue {
    const load = this.options.persistentLoad;
    if (!load) this.fail(`persistent id ${describe(pid)} but no persistentLoad was given`);
    return load(pid);
  }

  private appendTo(target: PickleValue, items: PickleValue[]): void {
    if (Array.isArray(target) && !Object.isFrozen(target)) {
      for (const v of items) target.push(v);
    } else if (target instanceof Set) {
      for (const v of items) target.add(v);
    } else if (isObject(target)) {
      (target.listItems ??= []).push(...items);
    } else {
      this.fail(`cannot append to ${describe(target)}`);
    }
  }

  private setItems(target: PickleValue, items: PickleValue[]): void {
    let m: PickleDict;
    if (target instanceof Map) m = target;
    else if (isObject(target)) m = target.items ??= new Map();
    else return this.fail(`cannot set items on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
  }

  private build(target: PickleValue, state: PickleValue): void {
    if (isObject(target)) {
      if (target.state instanceof Map && state instanceof Map) {
        for (const [k, v] of state) target.state.set(k, v);
      } else {
        target.state = state;
      }
    }
    // BUILD on anything else (a Map from OrderedDict, a tensor) carries attributes we do not model.
  }

  private construct(fn: PickleValue, args: PickleValue[], kwargs: PickleDict | undefined): PickleValue {
    if (!isGlobal(fn)) {
      return { kind: 'object', cls: '?', args, kwargs, state: undefined };
    }
    const cls = `${fn.module}.${fn.name}`;
    const custom = this.options.construct?.(cls, args, kwargs);
    if (custom !== undefined) return custom;
    switch (cls) {
      case 'collections.OrderedDict':
      case 'builtins.dict':
      case '__builtin__.dict': {
        const m: PickleDict = new Map();
        const src = args[0];
        if (Array.isArray(src)) {
          for (const pair of src) {
            if (!Array.isArray(pair) || pair.length !== 2) this.fail(`${cls} item is not a pair`);
            m.set(pair[0], pair[1]);
          }
        } else if (src instanceof Map) {
          for (const [k, v] of src) m.set(k, v);
        }
        return m;
      }
      case 'builtins.set':
      case '__builtin__.set':
      case 'builtins.frozenset':
      case '__builtin__.frozenset':
        return new Set(Array.isArray(args[0]) ? args[0] : args[0] instanceof Set ? [...args[0]] : []);
      case 'builtins.list':
      case '__builtin__.list':
        return Array.isArray(args[0]) ? [...args[0]] : [];
      case 'builtins.tuple':
      case '__builtin__.tuple':
        return tuple(Array.isArray(args[0]) ? [...args[0]] : []);
      case 'builtins.bytearray':
      case '__builtin__.bytearray':
      case 'builtins.bytes':
      case '__builtin__.bytes':
        if (args.length === 0) return new Uint8Array(0);
        if (args[0] instanceof Uint8Array) return new Uint8Array(args[0]);
        if (typeof args[0] === 'string') return latin1Bytes(args[0]);
        if (Array.isArray(args[0])) return Uint8Array.from(args[0] as number[]);
        break;
      case '_codecs.encode':
        // protocol 2 writes bytes as _codecs.encode(str, 'latin1')
        if (typeof args[0] === 'string') {
          const enc = String(args[1] ?? 'utf-8').toLowerCase();
          return enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1'
            ? latin1Bytes(args[0])
            : new TextEncoder().encode(args[0]);
        }
        break;
      case 'copyreg._reconstructor':
      case 'copy_reg._reconstructor':
        if (isGlobal(args[0])) {
          return { kind: 'object', cls: `${args[0].module}.${args[0].name}`, args: [], state: undefined };
        }
        break;
      case 'torch.Size':
        return tuple(Array.isArray(args[0]) ? [...args[0]] : []);
      case 'torch._utils._rebuild_tensor':
        return this.rebuildTensor(cls, args[0], args[1], args[2], args[3], false, undefined);
      case 'torch._utils._rebuild_tensor_v2':
        return this.rebuildTensor(cls, args[0], args[1], args[2], args[3], args[4], undefined);
      case 'torch._utils._rebuild_tensor_v3':
        return this.rebuildTensor(cls, args[0], args[1], args[2], args[3], args[4], args[6]);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        const t = args[0];
        if (!isTensor(t)) this.fail(`${cls} of ${describe(t)}, expected a tensor`);
        return { ...t, isParameter: true, requiresGrad: args[1] === true };
      }
    }
    return { kind: 'object', cls, args, kwargs, state: undefined };
  }

  private rebuildTensor(
    cls: string,
    storage: PickleValue | undefined,
    offset: PickleValue | undefined,
    size: PickleValue | undefined,
    stride: PickleValue | undefined,
    requiresGrad: PickleValue | undefined,
    dtypeArg: PickleValue | undefined,
  ): TorchTensor {
    if (!isStorage(storage)) this.fail(`${cls}: storage is ${describe(storage)}, expected a storage`);
    const ints = (v: PickleValue | undefined, what: string): number[] => {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
        this.fail(`${cls}: ${what} is ${describe(v)}, expected a tuple of non-negative integers`);
      }
      return [...(v as number[])];
    };
    const shape = ints(size, 'size');
    const strides = ints(stride, 'stride');
    if (strides.length !== shape.length) this.fail(`${cls}: ${shape.length}-d size with ${strides.length} strides`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      this.fail(`${cls}: storage offset is ${describe(offset)}`);
    }
    let dtype = storage.dtype;
    if (isGlobal(dtypeArg) && dtypeArg.module === 'torch') {
      const d = TORCH_DTYPES[dtypeArg.name];
      if (!d) this.fail(`${cls}: dtype torch.${dtypeArg.name} is not supported`);
      dtype = d;
    }
    const t: TorchTensor = {
      kind: 'tensor',
      storage,
      dtype,
      offset,
      shape,
      strides,
      requiresGrad: requiresGrad === true,
      isParameter: false,
    };
    // Every element must lie inside the storage.
    if (numel(shape) > 0) {
      let last = offset;
      for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * strides[i];
      const have = Math.floor(storage.bytes.byteLength / dtypeSize(dtype));
      if (last >= have) {
        this.fail(
          `tensor [${shape}] (offset ${offset}, strides [${strides}]) reaches element ${last} of storage '${storage.key}', ` +
            `which holds ${have} ${dtype} elements`,
        );
      }
    }
    return t;
  }
}

/** torch dtype names (as globals `torch.float16` etc.) to our dtypes. */
export const TORCH_DTYPES: Record<string, DType> = {
  float64: 'F64',
  double: 'F64',
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  uint16: 'U16',
  uint32: 'U32',
  uint64: 'U64',
  bool: 'BOOL',
};

/** A short description of a value for error messages. */
export function describe(v: PickleValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'None';
  if (typeof v === 'string') return `str ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  if (typeof v !== 'object') return `${typeof v} ${String(v)}`;
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (Array.isArray(v)) return `${Object.isFrozen(v) ? 'tuple' : 'list'}[${v.length}]`;
  if (v instanceof Map) return `dict[${v.size}]`;
  if (v instanceof Set) return `set[${v.size}]`;
  switch (v.kind) {
    case 'global':
      return `global ${v.module}.${v.name}`;
    case 'object':
      return `object ${v.cls}`;
    case 'storage':
      return `storage ${v.dtype}[${v.numel}]`;
    case 'tensor':
      return `tensor ${v.dtype}[${v.shape}]`;
  }
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Storage element indices of a tensor's elements, in row-major order. */
function elementIndices(t: TorchTensor): Float64Array {
  const n = numel(t.shape);
  const out = new Float64Array(n);
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  let at = t.offset;
  for (let i = 0; i < n; i++) {
    out[i] = at;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) {
        at += t.strides[d];
        break;
      }
      at -= (t.shape[d] - 1) * t.strides[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** A tensor's elements, contiguous in row-major order, in its own dtype (a fresh array). */
export function tensorData(t: TorchTensor): TypedArray {
  const size = dtypeSize(t.dtype);
  const n = numel(t.shape);
  const bytes = t.storage.bytes;
  if (isContiguous(t.shape, t.strides)) {
    const slice = new Uint8Array(bytes.subarray(t.offset * size, (t.offset + n) * size)); // fresh, aligned copy
    return typedArrayFromBytes(t.dtype, slice);
  }
  const whole = typedArrayFromBytes(t.dtype, bytes.subarray(0, Math.floor(bytes.byteLength / size) * size));
  const Ctor = whole.constructor as new (n: number) => TypedArray;
  const out = new Ctor(n) as { [i: number]: number | bigint };
  const src = whole as unknown as { [i: number]: number | bigint };
  const idx = elementIndices(t);
  for (let i = 0; i < n; i++) out[i] = src[idx[i]];
  return out as unknown as TypedArray;
}

/** A tensor's elements as f32, contiguous in row-major order (always a fresh array). */
export function tensorToFloat32(t: TorchTensor): Float32Array {
  const size = dtypeSize(t.dtype);
  const n = numel(t.shape);
  if (isContiguous(t.shape, t.strides)) {
    // View the storage (zero-copy when aligned) and convert straight into the result.
    const slice = t.storage.bytes.subarray(t.offset * size, (t.offset + n) * size);
    const view = typedArrayFromBytes(t.dtype, slice);
    const f = toFloat32(t.dtype, view);
    return f === view ? new Float32Array(f) : f;
  }
  const data = tensorData(t);
  const f = toFloat32(t.dtype, data);
  return f === data ? (f as Float32Array) : f;
}
