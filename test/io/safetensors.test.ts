import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { f32ToF16Bits } from '../../src/io/half.js';
import { FIXTURES } from '../helpers/shared.js';
import {
  encodeSafetensors,
  readSafetensors,
  readSafetensorsFloat32,
  SafetensorsFile,
  toFloat32,
  writeSafetensors,
} from '../../src/io/safetensors.js';

const FIX = FIXTURES;
const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file from a header object and data bytes. */
function rawFile(name: string, header: unknown, data: Uint8Array, headerText?: string): string {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const p = join(tmp, name);
  writeFileSync(p, Buffer.concat([len, json, data]));
  return p;
}

describe('safetensors', () => {
  it('reads the reference weights', () => {
    const { tensors, metadata } = readSafetensors(join(FIX, 'v8n-coco128.weights.safetensors'));
    expect(tensors.size).toBe(298);
    expect(metadata).toEqual({});
    const w = tensors.get('model.0.conv.weight')!;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([16, 3, 3, 3]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(w.data.length).toBe(432);
    let params = 0;
    for (const t of tensors.values()) params += t.data.length;
    expect(params).toBeGreaterThan(3_157_200); // parameters + BN running stats
  });

  it('round-trips every dtype, shapes and metadata, atomically', () => {
    const p = join(tmp, 'rt.safetensors');
    const f32 = new Float32Array([1.5, -2, 3.25, Math.PI, 0, -0]);
    const f16 = f32ToF16Bits(new Float32Array([1, 2, 3]));
    const tensors = new Map<string, { dtype?: 'F16' | 'BF16'; shape: number[]; data: ArrayBufferView }>([
      ['half', { dtype: 'F16', shape: [3], data: f16 }], // odd byte count first: the writer reorders
      ['bytes', { shape: [3], data: new Uint8Array([1, 2, 3]) }],
      ['w', { shape: [2, 3], data: f32 }],
      ['d', { shape: [2], data: new Float64Array([1e300, -1e-300]) }],
      ['i64', { shape: [2, 1], data: new BigInt64Array([-5n, 2n ** 60n]) }],
      ['i32', { shape: [1], data: new Int32Array([-7]) }],
      ['bf', { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc000]) }],
      ['scalar', { shape: [], data: new Float32Array([42]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ]);
    writeSafetensors(p, tensors, { format: 'pt', note: 'ünïcode' });
    writeSafetensors(p, tensors, { format: 'pt', note: 'ünïcode' }); // overwrite in place
    expect(readdirSync(tmp).filter((n) => n.includes('.tmp'))).toEqual([]);
    const f = SafetensorsFile.open(p);
    expect(f.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(new Set(f.names)).toEqual(new Set(tensors.keys()));
    expect((8 + Number(f.buffer.readBigUInt64LE(0))) % 8).toBe(0);
    const w = f.get('w');
    expect(w).toEqual({ dtype: 'F32', shape: [2, 3], data: f32 });
    expect(w.data.buffer).toBe(f.buffer.buffer); // a view, not a copy
    expect(f.get('half').dtype).toBe('F16');
    expect([...f.getFloat32('half').data]).toEqual([1, 2, 3]);
    expect([...f.getFloat32('bf').data]).toEqual([1, -2]);
    expect([...(f.get('i64').data as BigInt64Array)]).toEqual([-5n, 2n ** 60n]);
    expect([...f.getFloat32('i64').data]).toEqual([-5, 2 ** 60]);
    expect(f.get('d').data).toEqual(new Float64Array([1e300, -1e-300]));
    expect(f.get('i32').data).toEqual(new Int32Array([-7]));
    expect(f.get('bytes')).toEqual({ dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) });
    expect(f.get('scalar')).toEqual({ dtype: 'F32', shape: [], data: new Float32Array([42]) });
    expect(f.get('empty').shape).toEqual([0, 4]);
    // every tensor is aligned for its type, so every read is zero-copy
    for (const n of f.names) expect(f.get(n).data.buffer).toBe(f.buffer.buffer);
    // getFloat32 never aliases the file
    const g = f.getFloat32('w');
    expect(g.data.buffer).not.toBe(f.buffer.buffer);
    expect(readSafetensorsFloat32(p).get('w')!.data).toEqual(f32);
  });

  it('copies tensors stored unaligned', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(1, 2.5, true);
    new DataView(data.buffer).setFloat32(5, -1, true);
    const p = rawFile('unaligned.safetensors', { a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'F32', shape: [2], data_offsets: [1, 9] }, c: { dtype: 'U8', shape: [3], data_offsets: [9, 12] } }, data, undefined);
    const f = SafetensorsFile.open(p);
    expect([...f.get('b').data]).toEqual([2.5, -1]);
  });

  it('converts any float dtype to f32', () => {
    expect([...toFloat32('F16', new Uint16Array([0x3c00, 0xc000]))]).toEqual([1, -2]);
    expect([...toFloat32('I8', new Int8Array([-3, 4]))]).toEqual([-3, 4]);
    expect([...toFloat32('U64', new BigUint64Array([7n]))]).toEqual([7]);
  });

  describe('rejects damaged files, naming the file and the tensor', () => {
    const good = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const bytes8 = new Uint8Array(8);
    const cases: [string, () => string, RegExp][] = [
      ['too short', () => { const p = join(tmp, 'short.safetensors'); writeFileSync(p, Buffer.from([1, 2, 3])); return p; }, /short\.safetensors.*shorter than the 8-byte header length/],
      ['header length past the end', () => { const p = join(tmp, 'hlen.safetensors'); const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); writeFileSync(p, b); return p; }, /hlen\.safetensors.*header length 1000 exceeds/],
      ['bad JSON', () => rawFile('json.safetensors', null, bytes8, '{"w": {'), /json\.safetensors.*not valid JSON/],
      ['JSON array', () => rawFile('arr.safetensors', [], bytes8), /arr\.safetensors.*an array/],
      ['unknown dtype', () => rawFile('dtype.safetensors', { w: { ...good.w, dtype: 'F7' } }, bytes8), /dtype\.safetensors.*tensor 'w'.*unknown dtype "F7"/],
      ['bad shape', () => rawFile('shape.safetensors', { w: { ...good.w, shape: [-1] } }, bytes8), /tensor 'w'.*shape \[-1\]/],
      ['size mismatch', () => rawFile('size.safetensors', { w: { ...good.w, shape: [3] } }, bytes8), /size\.safetensors.*tensor 'w'.*F32 \[3\] needs 12 bytes.*give 8/],
      ['offsets past the end (truncated)', () => rawFile('trunc.safetensors', good, new Uint8Array(4)), /trunc\.safetensors.*tensor 'w'.*past the end.*4 bytes/],
      ['reversed offsets', () => rawFile('rev.safetensors', { w: { ...good.w, data_offsets: [8, 0] } }, bytes8), /tensor 'w'.*begin after end/],
      ['bad metadata', () => rawFile('meta.safetensors', { ...good, __metadata__: { a: 1 } }, bytes8), /meta\.safetensors.*__metadata__\.a is number/],
    ];
    for (const [what, make, re] of cases) {
      it(what, () => {
        const p = make();
        expect(() => SafetensorsFile.open(p)).toThrow(UserError);
        expect(() => SafetensorsFile.open(p)).toThrow(re);
      });
    }
    it('a missing file', () => {
      expect(() => readSafetensors(join(tmp, 'none.safetensors'))).toThrow(/none\.safetensors: cannot read/);
    });
    it('a flipped byte in the header length', () => {
      const src = readFileSync(join(FIX, 'v8n-coco128.weights.safetensors'));
      const b = Buffer.from(src.subarray(0, 40000));
      b[3] ^= 0x10;
      expect(() => SafetensorsFile.fromBuffer(b, 'flipped.safetensors')).toThrow(/flipped\.safetensors.*header length/);
    });
    it('an unknown tensor name', () => {
      const f = SafetensorsFile.fromBuffer(readFileSync(rawFile('ok.safetensors', good, bytes8)), 'ok.safetensors');
      expect(() => f.get('nope')).toThrow(/ok\.safetensors: no tensor named 'nope'/);
    });
  });

  it('rejects bad tensors on write and leaves no file behind', () => {
    const p = join(tmp, 'bad-write.safetensors');
    expect(() => writeSafetensors(p, { w: { shape: [3], data: new Float32Array(2) } })).toThrow(/tensor 'w'.*needs 12 bytes, data has 8/);
    expect(() => writeSafetensors(p, { h: { shape: [1], data: new Uint16Array(1) } })).toThrow(/tensor 'h': give a dtype for a Uint16Array/);
    expect(() => writeSafetensors(join(tmp, 'no-such-dir', 'x.safetensors'), { w: { shape: [1], data: new Float32Array(1) } })).toThrow(UserError);
    expect(readdirSync(tmp).filter((n) => n.startsWith('bad-write') || n.includes('.tmp'))).toEqual([]);
    const data = new Float32Array([1]);
    const chunks = encodeSafetensors({ a: { shape: [1], data } });
    expect(chunks[1].buffer).toBe(data.buffer); // tensor bytes are not copied before writing
  });
});
