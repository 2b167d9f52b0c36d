import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import {
  isObject,
  isTuple,
  tensorData,
  tensorToFloat32,
  unpickle,
  type PickleDict,
  type PickleObject,
  type PickleValue,
  type TorchStorage,
  type TorchTensor,
} from '../../src/io/pickle.js';
import { f32ToF16Bits } from '../../src/io/half.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/**
 * The same dict pickled by CPython 3.11 with protocols 0..5:
 * {'none': None, 't': True, 'f': False, 'small': 5, 'neg': -7, 'i2': 300, 'i4': -100000,
 *  'big': 2**70, 'bigneg': -(2**64)-1, 'safe': 2**40, 'float': 1.5, 'inf': inf, 'str': 'héllo',
 *  'bytes': b'\x00\x01\xff', 'list': [1, [2, 3]], 'tuple': (1, 'a', None), 't1': (1,), 't2': (1, 2),
 *  't3': (1, 2, 3), 'set': {1, 2}, 'fset': frozenset([3]), 'od': OrderedDict(x=1, y=2),
 *  'ba': bytearray(b'ab'), 'intkeys': {0: 'zero', 1: 'one'}, 's1': shared, 's2': shared}
 */
const PROTOCOLS: string[] = [
  'KGRwMApWbm9uZQpwMQpOc1Z0CnAyCkkwMQpzVmYKcDMKSTAwCnNWc21hbGwKcDQKSTUKc1ZuZWcKcDUKSS03CnNWaTIKcDYKSTMwMApzVmk0CnA3CkktMTAwMDAwCnNWYmlnCnA4CkwxMTgwNTkxNjIwNzE3NDExMzAzNDI0TApzVmJpZ25lZwpwOQpMLTE4NDQ2NzQ0MDczNzA5NTUxNjE3TApzVnNhZmUKcDEwCkwxMDk5NTExNjI3Nzc2TApzVmZsb2F0CnAxMQpGMS41CnNWaW5mCnAxMgpGaW5mCnNWc3RyCnAxMwpWaOlsbG8KcDE0CnNWYnl0ZXMKcDE1CmNfY29kZWNzCmVuY29kZQpwMTYKKFZcdTAwMDAB/wpwMTcKVmxhdGluMQpwMTgKdHAxOQpScDIwCnNWbGlzdApwMjEKKGxwMjIKSTEKYShscDIzCkkyCmFJMwphYXNWdHVwbGUKcDI0CihJMQpWYQpwMjUKTnRwMjYKc1Z0MQpwMjcKKEkxCnRwMjgKc1Z0MgpwMjkKKEkxCkkyCnRwMzAKc1Z0MwpwMzEKKEkxCkkyCkkzCnRwMzIKc1ZzZXQKcDMzCmNfX2J1aWx0aW5fXwpzZXQKcDM0CigobHAzNQpJMQphSTIKYXRwMzYKUnAzNwpzVmZzZXQKcDM4CmNfX2J1aWx0aW5fXwpmcm96ZW5zZXQKcDM5CigobHA0MApJMwphdHA0MQpScDQyCnNWb2QKcDQzCmNjb2xsZWN0aW9ucwpPcmRlcmVkRGljdApwNDQKKHRScDQ1ClZ4CnA0NgpJMQpzVnkKcDQ3CkkyCnNzVmJhCnA0OApjX19idWlsdGluX18KYnl0ZWFycmF5CnA0OQooZzE2CihWYWIKcDUwCmcxOAp0cDUxClJwNTIKdHA1MwpScDU0CnNWaW50a2V5cwpwNTUKKGRwNTYKSTAKVnplcm8KcDU3CnNJMQpWb25lCnA1OApzc1ZzMQpwNTkKKGxwNjAKSTkKYXNWczIKcDYxCmc2MApzLg==',
  'fXEAKFgEAAAAbm9uZXEBTlgBAAAAdHECSTAxClgBAAAAZnEDSTAwClgFAAAAc21hbGxxBEsFWAMAAABuZWdxBUr5////WAIAAABpMnEGTSwBWAIAAABpNHEHSmB5/v9YAwAAAGJpZ3EITDExODA1OTE2MjA3MTc0MTEzMDM0MjRMClgGAAAAYmlnbmVncQlMLTE4NDQ2NzQ0MDczNzA5NTUxNjE3TApYBAAAAHNhZmVxCkwxMDk5NTExNjI3Nzc2TApYBQAAAGZsb2F0cQtHP/gAAAAAAABYAwAAAGluZnEMR3/wAAAAAAAAWAMAAABzdHJxDVgGAAAAaMOpbGxvcQ5YBQAAAGJ5dGVzcQ9jX2NvZGVjcwplbmNvZGUKcRAoWAQAAAAAAcO/cRFYBgAAAGxhdGluMXESdHETUnEUWAQAAABsaXN0cRVdcRYoSwFdcRcoSwJLA2VlWAUAAAB0dXBsZXEYKEsBWAEAAABhcRlOdHEaWAIAAAB0MXEbKEsBdHEcWAIAAAB0MnEdKEsBSwJ0cR5YAgAAAHQzcR8oSwFLAksDdHEgWAMAAABzZXRxIWNfX2J1aWx0aW5fXwpzZXQKcSIoXXEjKEsBSwJldHEkUnElWAQAAABmc2V0cSZjX19idWlsdGluX18KZnJvemVuc2V0CnEnKF1xKEsDYXRxKVJxKlgCAAAAb2RxK2Njb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxLClScS0oWAEAAAB4cS5LAVgBAAAAeXEvSwJ1WAIAAABiYXEwY19fYnVpbHRpbl9fCmJ5dGVhcnJheQpxMShoEChYAgAAAGFicTJoEnRxM1JxNHRxNVJxNlgHAAAAaW50a2V5c3E3fXE4KEsAWAQAAAB6ZXJvcTlLAVgDAAAAb25lcTp1WAIAAABzMXE7XXE8SwlhWAIAAABzMnE9aDx1Lg==',
  'gAJ9cQAoWAQAAABub25lcQFOWAEAAAB0cQKIWAEAAABmcQOJWAUAAABzbWFsbHEESwVYAwAAAG5lZ3EFSvn///9YAgAAAGkycQZNLAFYAgAAAGk0cQdKYHn+/1gDAAAAYmlncQiKCQAAAAAAAAAAQFgGAAAAYmlnbmVncQmKCf///////////lgEAAAAc2FmZXEKigYAAAAAAAFYBQAAAGZsb2F0cQtHP/gAAAAAAABYAwAAAGluZnEMR3/wAAAAAAAAWAMAAABzdHJxDVgGAAAAaMOpbGxvcQ5YBQAAAGJ5dGVzcQ9jX2NvZGVjcwplbmNvZGUKcRBYBAAAAAABw79xEVgGAAAAbGF0aW4xcRKGcRNScRRYBAAAAGxpc3RxFV1xFihLAV1xFyhLAksDZWVYBQAAAHR1cGxlcRhLAVgBAAAAYXEZTodxGlgCAAAAdDFxG0sBhXEcWAIAAAB0MnEdSwFLAoZxHlgCAAAAdDNxH0sBSwJLA4dxIFgDAAAAc2V0cSFjX19idWlsdGluX18Kc2V0CnEiXXEjKEsBSwJlhXEkUnElWAQAAABmc2V0cSZjX19idWlsdGluX18KZnJvemVuc2V0CnEnXXEoSwNhhXEpUnEqWAIAAABvZHErY2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnEsKVJxLShYAQAAAHhxLksBWAEAAAB5cS9LAnVYAgAAAGJhcTBjX19idWlsdGluX18KYnl0ZWFycmF5CnExaBBYAgAAAGFicTJoEoZxM1JxNIVxNVJxNlgHAAAAaW50a2V5c3E3fXE4KEsAWAQAAAB6ZXJvcTlLAVgDAAAAb25lcTp1WAIAAABzMXE7XXE8SwlhWAIAAABzMnE9aDx1Lg==',
  'gAN9cQAoWAQAAABub25lcQFOWAEAAAB0cQKIWAEAAABmcQOJWAUAAABzbWFsbHEESwVYAwAAAG5lZ3EFSvn///9YAgAAAGkycQZNLAFYAgAAAGk0cQdKYHn+/1gDAAAAYmlncQiKCQAAAAAAAAAAQFgGAAAAYmlnbmVncQmKCf///////////lgEAAAAc2FmZXEKigYAAAAAAAFYBQAAAGZsb2F0cQtHP/gAAAAAAABYAwAAAGluZnEMR3/wAAAAAAAAWAMAAABzdHJxDVgGAAAAaMOpbGxvcQ5YBQAAAGJ5dGVzcQ9DAwAB/3EQWAQAAABsaXN0cRFdcRIoSwFdcRMoSwJLA2VlWAUAAAB0dXBsZXEUSwFYAQAAAGFxFU6HcRZYAgAAAHQxcRdLAYVxGFgCAAAAdDJxGUsBSwKGcRpYAgAAAHQzcRtLAUsCSwOHcRxYAwAAAHNldHEdY2J1aWx0aW5zCnNldApxHl1xHyhLAUsCZYVxIFJxIVgEAAAAZnNldHEiY2J1aWx0aW5zCmZyb3plbnNldApxI11xJEsDYYVxJVJxJlgCAAAAb2RxJ2Njb2xsZWN0aW9ucwpPcmRlcmVkRGljdApxKClScSkoWAEAAAB4cSpLAVgBAAAAeXErSwJ1WAIAAABiYXEsY2J1aWx0aW5zCmJ5dGVhcnJheQpxLUMCYWJxLoVxL1JxMFgHAAAAaW50a2V5c3ExfXEyKEsAWAQAAAB6ZXJvcTNLAVgDAAAAb25lcTR1WAIAAABzMXE1XXE2SwlhWAIAAABzMnE3aDZ1Lg==',
  'gASVmwEAAAAAAAB9lCiMBG5vbmWUTowBdJSIjAFmlImMBXNtYWxslEsFjANuZWeUSvn///+MAmkylE0sAYwCaTSUSmB5/v+MA2JpZ5SKCQAAAAAAAAAAQIwGYmlnbmVnlIoJ///////////+jARzYWZllIoGAAAAAAABjAVmbG9hdJRHP/gAAAAAAACMA2luZpRHf/AAAAAAAACMA3N0cpSMBmjDqWxsb5SMBWJ5dGVzlEMDAAH/lIwEbGlzdJRdlChLAV2UKEsCSwNlZYwFdHVwbGWUSwGMAWGUToeUjAJ0MZRLAYWUjAJ0MpRLAUsChpSMAnQzlEsBSwJLA4eUjANzZXSUj5QoSwFLApCMBGZzZXSUKEsDkZSMAm9klIwLY29sbGVjdGlvbnOUjAtPcmRlcmVkRGljdJSTlClSlCiMAXiUSwGMAXmUSwJ1jAJiYZSMCGJ1aWx0aW5zlIwJYnl0ZWFycmF5lJOUQwJhYpSFlFKUjAdpbnRrZXlzlH2UKEsAjAR6ZXJvlEsBjANvbmWUdYwCczGUXZRLCWGMAnMylGg0dS4=',
  'gAWVhQEAAAAAAAB9lCiMBG5vbmWUTowBdJSIjAFmlImMBXNtYWxslEsFjANuZWeUSvn///+MAmkylE0sAYwCaTSUSmB5/v+MA2JpZ5SKCQAAAAAAAAAAQIwGYmlnbmVnlIoJ///////////+jARzYWZllIoGAAAAAAABjAVmbG9hdJRHP/gAAAAAAACMA2luZpRHf/AAAAAAAACMA3N0cpSMBmjDqWxsb5SMBWJ5dGVzlEMDAAH/lIwEbGlzdJRdlChLAV2UKEsCSwNlZYwFdHVwbGWUSwGMAWGUToeUjAJ0MZRLAYWUjAJ0MpRLAUsChpSMAnQzlEsBSwJLA4eUjANzZXSUj5QoSwFLApCMBGZzZXSUKEsDkZSMAm9klIwLY29sbGVjdGlvbnOUjAtPcmRlcmVkRGljdJSTlClSlCiMAXiUSwGMAXmUSwJ1jAJiYZSWAgAAAAAAAABhYpSMB2ludGtleXOUfZQoSwCMBHplcm+USwGMA29uZZR1jAJzMZRdlEsJYYwCczKUaC91Lg==',
];

/**
 * class Foo: __init__ sets a=1, b=[1, 2];  class Kw(x, y=0) with __getnewargs_ex__;
 * class Red with __reduce__ -> (Red, (1, 'two')).  {'foo': Foo(), 'kw': Kw(3, y=4), 'red': Red()}
 * with protocols 0, 2 and 4 (copyreg._reconstructor, NEWOBJ/functools.partial, NEWOBJ_EX).
 */
const OBJECTS: Record<number, string> = {
  0: 'KGRwMApWZm9vCnAxCmNjb3B5X3JlZwpfcmVjb25zdHJ1Y3RvcgpwMgooY19fbWFpbl9fCkZvbwpwMwpjX19idWlsdGluX18Kb2JqZWN0CnA0Ck50cDUKUnA2CihkcDcKVmEKcDgKSTEKc1ZiCnA5CihscDEwCkkxCmFJMgphc2JzVmt3CnAxMQpnMgooY19fbWFpbl9fCkt3CnAxMgpnNApOdHAxMwpScDE0CihkcDE1ClZ4CnAxNgpJMwpzVnkKcDE3Ckk0CnNic1ZyZWQKcDE4CmNfX21haW5fXwpSZWQKcDE5CihJMQpWdHdvCnAyMAp0cDIxClJwMjIKcy4=',
  2: 'gAJ9cQAoWAMAAABmb29xAWNfX21haW5fXwpGb28KcQIpgXEDfXEEKFgBAAAAYXEFSwFYAQAAAGJxBl1xByhLAUsCZXViWAIAAABrd3EIY2Z1bmN0b29scwpwYXJ0aWFsCnEJY19fYnVpbHRpbl9fCmdldGF0dHIKcQpjX19idWlsdGluX18Kb2JqZWN0CnELWAcAAABfX25ld19fcQyGcQ1ScQ6FcQ9ScRAoaA5jX19tYWluX18KS3cKcRFLA4ZxEn1xE1gBAAAAeXEUSwRzTnRxFWIpUnEWfXEXKFgBAAAAeHEYSwNoFEsEdWJYAwAAAHJlZHEZY19fbWFpbl9fClJlZApxGksBWAMAAAB0d29xG4ZxHFJxHXUu',
  4: 'gASVgAAAAAAAAAB9lCiMA2Zvb5SMCF9fbWFpbl9flIwDRm9vlJOUKYGUfZQojAFhlEsBjAFilF2UKEsBSwJldWKMAmt3lGgCjAJLd5STlEsDhZR9lIwBeZRLBHOSlH2UKIwBeJRLA2gPSwR1YowDcmVklGgCjANSZWSUk5RLAYwDdHdvlIaUUpR1Lg==',
};

function plainState(o: PickleValue | undefined): Record<string, PickleValue> {
  expect(o instanceof Map).toBe(true);
  return Object.fromEntries(o as PickleDict) as Record<string, PickleValue>;
}

describe('unpickle: CPython pickles of every protocol', () => {
  PROTOCOLS.forEach((data, proto) => {
    it(`protocol ${proto}`, () => {
      const v = unpickle(b64(data), { file: `p${proto}.pkl` });
      expect(v).toBeInstanceOf(Map);
      const d = plainState(v);
      expect(d.none).toBe(null);
      expect(d.t).toBe(true);
      expect(d.f).toBe(false);
      expect(d.small).toBe(5);
      expect(d.neg).toBe(-7);
      expect(d.i2).toBe(300);
      expect(d.i4).toBe(-100000);
      expect(d.big).toBe(2n ** 70n);
      expect(d.bigneg).toBe(-(2n ** 64n) - 1n);
      expect(d.safe).toBe(2 ** 40);
      expect(d.float).toBe(1.5);
      expect(d.inf).toBe(Infinity);
      expect(d.str).toBe('héllo');
      expect(d.bytes).toEqual(new Uint8Array([0, 1, 255]));
      expect(d.list).toEqual([1, [2, 3]]);
      expect(isTuple(d.list)).toBe(false);
      expect(d.tuple).toEqual([1, 'a', null]);
      expect(isTuple(d.tuple)).toBe(true);
      expect(d.t1).toEqual([1]);
      expect(d.t2).toEqual([1, 2]);
      expect(d.t3).toEqual([1, 2, 3]);
      expect(d.set).toEqual(new Set([1, 2]));
      expect(d.fset).toEqual(new Set([3]));
      expect(d.od).toEqual(new Map([['x', 1], ['y', 2]]));
      expect(d.ba).toEqual(new Uint8Array([97, 98]));
      expect(d.intkeys).toEqual(new Map([[0, 'zero'], [1, 'one']]));
      expect(d.s1).toEqual([9]);
      expect(d.s1).toBe(d.s2); // memo keeps identity
    });
  });

  for (const [proto, data] of Object.entries(OBJECTS)) {
    it(`class instances become records, protocol ${proto}`, () => {
      const d = plainState(unpickle(b64(data)));
      const foo = d.foo as PickleObject;
      expect(isObject(foo)).toBe(true);
      expect(foo.cls).toBe('__main__.Foo');
      expect(foo.state).toEqual(new Map<PickleValue, PickleValue>([['a', 1], ['b', [1, 2]]]));
      const red = d.red as PickleObject;
      expect(red.cls).toBe('__main__.Red');
      expect(red.args).toEqual([1, 'two']);
      const kw = d.kw as PickleObject;
      expect(kw.kind).toBe('object');
      expect(plainState(kw.state)).toEqual({ x: 3, y: 4 });
      if (proto === '4') {
        expect(kw.cls).toBe('__main__.Kw');
        expect(kw.args).toEqual([3]);
        expect(kw.kwargs).toEqual(new Map([['y', 4]]));
      }
    });
  }

  it('self-referencing containers', () => {
    const l = unpickle(b64('gAJdcQAoSwFoAGUu')) as PickleValue[]; // l = [1]; l.append(l)
    expect(l[0]).toBe(1);
    expect(l[1]).toBe(l);
  });
});

/** A tiny pickle assembler for hand-made cases. */
const op = {
  proto: (v = 2) => [0x80, v],
  global: (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`)],
  str: (s: string) => { const b = Buffer.from(s); return [0x58, ...u32(b.length), ...b]; },
  int: (v: number) => [0x4a, ...i32(v)],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  reduce: [0x52],
  binpersid: [0x51],
  stop: [0x2e],
  none: [0x4e],
  false: [0x89],
};
function u32(v: number): number[] { const b = Buffer.alloc(4); b.writeUInt32LE(v); return [...b]; }
function i32(v: number): number[] { const b = Buffer.alloc(4); b.writeInt32LE(v); return [...b]; }
const bytesOf = (...parts: (number | number[])[]): Uint8Array => new Uint8Array(parts.flat());
const tupleOf = (...items: number[][]) => [...op.mark, ...items.flat(), ...op.tuple];

function storage(dtype: 'F32' | 'F16', values: number[], key = '0'): TorchStorage {
  const bytes = dtype === 'F32'
    ? new Uint8Array(new Float32Array(values).buffer)
    : new Uint8Array(f32ToF16Bits(new Float32Array(values)).buffer);
  return { kind: 'storage', dtype, key, location: 'cpu', numel: values.length, bytes };
}

/** _rebuild_parameter(_rebuild_tensor_v2(persid, offset, size, stride, False, OrderedDict()), True, OrderedDict()) */
function tensorPickle(offset: number, size: number[], stride: number[]): Uint8Array {
  return bytesOf(
    op.proto(2),
    op.global('torch._utils', '_rebuild_parameter'),
    op.mark,
    op.global('torch._utils', '_rebuild_tensor_v2'),
    tupleOf(
      [...tupleOf(op.str('storage'), op.global('torch', 'FloatStorage'), op.str('0'), op.str('cpu'), op.int(12)), ...op.binpersid],
      op.int(offset),
      tupleOf(...size.map(op.int)),
      tupleOf(...stride.map(op.int)),
      op.false,
      [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce],
    ),
    op.reduce,
    [0x88], // True
    [...op.global('collections', 'OrderedDict'), ...op.emptyTuple, ...op.reduce],
    op.tuple,
    op.reduce,
    op.stop,
  );
}

describe('torch tensors', () => {
  const values = Array.from({ length: 12 }, (_, i) => i + 0.5);
  const st = storage('F32', values);
  const persistentLoad = (pid: PickleValue): PickleValue => {
    expect(pid).toEqual(['storage', { kind: 'global', module: 'torch', name: 'FloatStorage' }, '0', 'cpu', 12]);
    return st;
  };

  it('rebuilds a parameter through persistent ids', () => {
    const t = unpickle(tensorPickle(0, [3, 4], [4, 1]), { persistentLoad }) as TorchTensor;
    expect(t.kind).toBe('tensor');
    expect(t.isParameter).toBe(true);
    expect(t.requiresGrad).toBe(true);
    expect(t.shape).toEqual([3, 4]);
    expect(t.storage).toBe(st);
    expect([...tensorToFloat32(t)]).toEqual(values);
  });

  it('materializes strided views (a transpose) and offsets', () => {
    const t = unpickle(tensorPickle(1, [2, 3], [1, 4]), { persistentLoad }) as TorchTensor;
    // element [i, j] = storage[1 + i + 4 j]
    expect([...tensorToFloat32(t)]).toEqual([1.5, 5.5, 9.5, 2.5, 6.5, 10.5]);
    expect([...(tensorData(t) as Float32Array)]).toEqual([1.5, 5.5, 9.5, 2.5, 6.5, 10.5]);
    // a broadcast (stride 0) view and a scalar
    const b: TorchTensor = { ...t, offset: 2, shape: [2, 2], strides: [0, 1] };
    expect([...tensorToFloat32(b)]).toEqual([2.5, 3.5, 2.5, 3.5]);
    const s: TorchTensor = { ...t, offset: 11, shape: [], strides: [] };
    expect([...tensorToFloat32(s)]).toEqual([11.5]);
  });

  it('converts f16 storages, contiguous or strided, and never aliases the storage', () => {
    const h = storage('F16', [1, 2, 3, 4, 5, 6]);
    const t: TorchTensor = { kind: 'tensor', storage: h, dtype: 'F16', offset: 0, shape: [2, 3], strides: [3, 1], requiresGrad: false, isParameter: false };
    expect([...tensorToFloat32(t)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...tensorToFloat32({ ...t, shape: [3, 2], strides: [1, 3] })]).toEqual([1, 4, 2, 5, 3, 6]);
    const f: TorchTensor = { ...t, storage: st, dtype: 'F32' };
    const out = tensorToFloat32(f);
    out[0] = 99;
    expect(new Float32Array(st.bytes.buffer)[0]).toBe(0.5);
  });

  it('rejects a view reaching past its storage', () => {
    expect(() => unpickle(tensorPickle(0, [3, 5], [5, 1]), { persistentLoad, file: 'x.pkl' })).toThrow(
      /x\.pkl: bad pickle at byte \d+: .*reaches element 14 of storage '0', which holds 12 F32 elements/,
    );
  });

  it('a persistent id without a callback is an error', () => {
    expect(() => unpickle(tensorPickle(0, [3, 4], [4, 1]), { file: 'y.pkl' })).toThrow(/y\.pkl.*no persistentLoad/);
  });

  it('lets the caller construct classes', () => {
    const data = bytesOf(op.proto(2), op.global('my.mod', 'Thing'), tupleOf(op.int(7)), op.reduce, op.stop);
    expect(unpickle(data, { construct: (cls, args) => (cls === 'my.mod.Thing' ? `thing(${String(args[0])})` : undefined) })).toBe('thing(7)');
    expect(unpickle(data)).toEqual({ kind: 'object', cls: 'my.mod.Thing', args: [7], kwargs: undefined, state: undefined });
  });
});

describe('malformed pickles are UserErrors naming file, opcode and offset', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['unknown opcode', bytesOf(op.proto(2), op.none, [0xff]), /f\.pkl: bad pickle at byte 3: unknown opcode \(0xff\)/],
    ['extension registry', bytesOf(op.proto(2), [0x82, 1], op.stop), /byte 2: EXT1 \(0x82\)/],
    ['newer protocol', bytesOf([0x80, 6]), /protocol 6 is newer than 5/],
    ['truncated (no STOP)', bytesOf(op.proto(2), op.none), /byte 3: ended without a STOP opcode/],
    ['truncated argument', bytesOf(op.proto(2), [0x58, 10, 0, 0, 0, 65]), /byte 2: needs 10 more bytes/],
    ['stack underflow', bytesOf(op.proto(2), op.reduce, op.stop), /stack underflow/],
    ['memo miss', bytesOf(op.proto(2), [0x68, 5], op.stop), /memo key 5 was never stored/],
    ['append to a tuple', bytesOf(op.proto(2), op.emptyTuple, op.none, [0x61], op.stop), /cannot append to tuple/],
    ['REDUCE with non-tuple args', bytesOf(op.proto(2), op.global('a', 'b'), op.none, op.reduce, op.stop), /REDUCE arguments are None/],
    ['no mark', bytesOf(op.proto(2), op.tuple, op.stop), /no MARK/],
    ['out-of-band buffers', bytesOf([0x80, 5, 0x97]), /NEXT_BUFFER/],
  ];
  for (const [what, data, re] of cases) {
    it(what, () => {
      expect(() => unpickle(data, { file: 'f.pkl' })).toThrow(UserError);
      expect(() => unpickle(data, { file: 'f.pkl' })).toThrow(re);
    });
  }
});
