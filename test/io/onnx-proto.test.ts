import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  attr,
  DataType,
  encodeModel,
  float16Tensor,
  floatTensor,
  int64Tensor,
  ProtoWriter,
  writeOnnx,
  type OnnxModel,
} from '../../src/io/onnx-proto.js';

// ---- a generic protobuf wire-format decoder (independent of the encoder)

interface Field {
  no: number;
  wire: number;
  /** varint: bigint; I32/I64: raw bytes; LEN: bytes */
  v: bigint | Uint8Array;
}

function decode(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let p = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= buf.length) throw new Error('truncated varint');
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
      if (shift > 63n) throw new Error('varint too long');
    }
  };
  while (p < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (no === 0) throw new Error('field 0');
    if (wire === 0) out.push({ no, wire, v: varint() });
    else if (wire === 1) { out.push({ no, wire, v: buf.subarray(p, p + 8) }); p += 8; }
    else if (wire === 5) { out.push({ no, wire, v: buf.subarray(p, p + 4) }); p += 4; }
    else if (wire === 2) {
      const n = Number(varint());
      if (p + n > buf.length) throw new Error('truncated bytes');
      out.push({ no, wire, v: buf.subarray(p, p + n) });
      p += n;
    } else throw new Error(`wire type ${wire}`);
  }
  if (p !== buf.length) throw new Error('overrun');
  return out;
}

const all = (fs: Field[], no: number): Field[] => fs.filter((f) => f.no === no);
function one(fs: Field[], no: number): Field {
  const m = all(fs, no);
  if (m.length !== 1) throw new Error(`field ${no}: ${m.length} occurrences`);
  return m[0];
}
const int = (f: Field): bigint => { expect(f.wire).toBe(0); return BigInt.asIntN(64, f.v as bigint); };
const bytes = (f: Field): Uint8Array => { expect(f.wire).toBe(2); return f.v as Uint8Array; };
const str = (f: Field): string => new TextDecoder().decode(bytes(f));
const msg = (f: Field): Field[] => decode(bytes(f));
const f32 = (f: Field): number => { expect(f.wire).toBe(5); const b = f.v as Uint8Array; return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true); };
function packedVarints(b: Uint8Array): bigint[] {
  return decode(new Uint8Array([...encodeTagless(b)])).map((f) => f.v as bigint);
}
/** Re-tag each varint of a packed payload as field 1 so the generic decoder can read it. */
function encodeTagless(b: Uint8Array): number[] {
  const out: number[] = [];
  let start = true;
  for (const x of b) {
    if (start) out.push(0x08);
    out.push(x);
    start = !(x & 0x80);
  }
  return out;
}

describe('protobuf writer', () => {
  it('encodes varints, negatives, fixed and packed fields', () => {
    const w = new ProtoWriter()
      .varint(1, 0)
      .varint(1, 1)
      .varint(1, 127)
      .varint(1, 128)
      .varint(1, 300)
      .varint(1, 2 ** 40)
      .varint(1, -1)
      .varint(1, -(2 ** 40))
      .varint(1, 2n ** 63n - 1n)
      .varint(2, true)
      .float(3, 1.5)
      .double(4, -2.25)
      .fixed32(5, 0xdeadbeef)
      .fixed64(6, -3n)
      .string(7, 'héllo')
      .packedVarints(8, [1, 300, -1])
      .packedFloats(9, [1, -0.5]);
    const bytesOut = w.finish();
    expect([...bytesOut.subarray(0, 2)]).toEqual([0x08, 0x00]);
    const fs = decode(bytesOut);
    expect(all(fs, 1).map(int)).toEqual([0n, 1n, 127n, 128n, 300n, 2n ** 40n, -1n, -(2n ** 40n), 2n ** 63n - 1n]);
    // -1 takes 10 bytes on the wire
    expect(bytesOut.length).toBe(w.length);
    expect(int(one(fs, 2))).toBe(1n);
    expect(f32(one(fs, 3))).toBe(1.5);
    const d = one(fs, 4).v as Uint8Array;
    expect(new DataView(d.buffer, d.byteOffset, 8).getFloat64(0, true)).toBe(-2.25);
    const x = one(fs, 5).v as Uint8Array;
    expect(new DataView(x.buffer, x.byteOffset, 4).getUint32(0, true)).toBe(0xdeadbeef);
    const y = one(fs, 6).v as Uint8Array;
    expect(new DataView(y.buffer, y.byteOffset, 8).getBigInt64(0, true)).toBe(-3n);
    expect(str(one(fs, 7))).toBe('héllo');
    expect(packedVarints(bytes(one(fs, 8))).map((v) => BigInt.asIntN(64, v))).toEqual([1n, 300n, -1n]);
    const pf = bytes(one(fs, 9));
    expect([...new Float32Array(pf.slice().buffer)]).toEqual([1, -0.5]);
  });

  it('nests messages and splices large payloads', () => {
    const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
    const inner = new ProtoWriter().varint(1, 5).bytes(2, payload);
    const outer = new ProtoWriter().string(1, 'x').message(2, inner).varint(3, 7);
    const fs = decode(outer.finish());
    expect(str(one(fs, 1))).toBe('x');
    const i = msg(one(fs, 2));
    expect(int(one(i, 1))).toBe(5n);
    expect(bytes(one(i, 2))).toEqual(payload);
    expect(int(one(fs, 3))).toBe(7n);
  });
});

describe('ONNX ModelProto', () => {
  const w = new Float32Array([0.5, -1, 2, 3, 4, 5, 6, 7]); // [2, 1, 2, 2]
  const model: OnnxModel = {
    irVersion: 8,
    opsetImports: [{ version: 17 }, { domain: 'com.example', version: 1 }],
    producerName: 'yolo-wgpu',
    producerVersion: '0.1.0',
    modelVersion: 3,
    docString: 'tiny',
    metadataProps: { stride: '[8, 16, 32]', names: "{0: 'person'}" },
    graph: {
      name: 'g',
      nodes: [
        {
          opType: 'Conv',
          name: 'conv0',
          inputs: ['images', 'w', 'b'],
          outputs: ['c'],
          attributes: [
            attr.ints('kernel_shape', [2, 2]),
            attr.ints('pads', [0, 0, 1, 1]),
            attr.int('group', 1),
            attr.floats('alphas', [0.25, -1]),
            attr.float('alpha', 0.1),
            attr.string('auto_pad', 'NOTSET'),
            attr.tensor('value', int64Tensor('shape', [2], [1, -1])),
          ],
        },
        { opType: 'Sigmoid', inputs: ['c'], outputs: ['s'] },
        { opType: 'Mul', inputs: ['c', 's'], outputs: ['m'] },
        { opType: 'Split', inputs: ['m', 'split'], outputs: ['o1', 'o2'], attributes: [attr.int('axis', -1)] },
        { opType: 'Custom', domain: 'com.example', inputs: ['o1'], outputs: ['out'] },
      ],
      initializers: [
        floatTensor('w', [2, 1, 2, 2], w),
        float16Tensor('b', [2], new Float32Array([1, -2])),
        int64Tensor('split', [2], [1, 1]),
      ],
      inputs: [{ name: 'images', elemType: DataType.FLOAT, shape: ['batch', 1, 'h', null] }],
      outputs: [{ name: 'out', elemType: DataType.FLOAT16, shape: [1, 2, 3] }, { name: 'o2', elemType: DataType.FLOAT }],
      valueInfo: [{ name: 'c', elemType: DataType.FLOAT, shape: [] }],
    },
  };

  it('writes the fields onnx.proto defines', () => {
    const m = decode(encodeModel(model));
    expect(int(one(m, 1))).toBe(8n); // ir_version
    expect(str(one(m, 2))).toBe('yolo-wgpu'); // producer_name
    expect(str(one(m, 3))).toBe('0.1.0'); // producer_version
    expect(int(one(m, 5))).toBe(3n); // model_version
    expect(str(one(m, 6))).toBe('tiny'); // doc_string
    const opsets = all(m, 8).map(msg); // opset_import
    expect(opsets).toHaveLength(2);
    expect(all(opsets[0], 1)).toHaveLength(0); // default domain omitted
    expect(int(one(opsets[0], 2))).toBe(17n);
    expect(str(one(opsets[1], 1))).toBe('com.example');
    const props = all(m, 14).map(msg).map((p) => [str(one(p, 1)), str(one(p, 2))]);
    expect(props).toEqual([['stride', '[8, 16, 32]'], ['names', "{0: 'person'}"]]);

    const g = msg(one(m, 7)); // graph
    expect(str(one(g, 2))).toBe('g');
    const nodes = all(g, 1).map(msg);
    expect(nodes.map((n) => str(one(n, 4)))).toEqual(['Conv', 'Sigmoid', 'Mul', 'Split', 'Custom']);
    const conv = nodes[0];
    expect(all(conv, 1).map(str)).toEqual(['images', 'w', 'b']);
    expect(all(conv, 2).map(str)).toEqual(['c']);
    expect(str(one(conv, 3))).toBe('conv0');
    expect(str(one(nodes[4], 7))).toBe('com.example'); // NodeProto.domain

    const attrs = all(conv, 5).map(msg);
    const byName = new Map(attrs.map((a) => [str(one(a, 1)), a]));
    const ks = byName.get('kernel_shape')!;
    expect(int(one(ks, 20))).toBe(7n); // INTS
    expect(all(ks, 8).map(int)).toEqual([2n, 2n]); // ints = 8, unpacked
    expect(all(byName.get('pads')!, 8).map(int)).toEqual([0n, 0n, 1n, 1n]);
    expect(int(one(byName.get('group')!, 3))).toBe(1n); // i = 3
    expect(int(one(byName.get('group')!, 20))).toBe(2n); // INT
    expect(all(byName.get('alphas')!, 7).map(f32)).toEqual([0.25, -1]); // floats = 7
    expect(int(one(byName.get('alphas')!, 20))).toBe(6n);
    expect(f32(one(byName.get('alpha')!, 2))).toBeCloseTo(0.1, 7); // f = 2
    expect(int(one(byName.get('alpha')!, 20))).toBe(1n);
    expect(str(one(byName.get('auto_pad')!, 4))).toBe('NOTSET'); // s = 4
    expect(int(one(byName.get('auto_pad')!, 20))).toBe(3n);
    const tv = msg(one(byName.get('value')!, 5)); // t = 5
    expect(int(one(byName.get('value')!, 20))).toBe(4n);
    expect(int(one(tv, 2))).toBe(BigInt(DataType.INT64));
    expect([...new BigInt64Array(bytes(one(tv, 9)).slice().buffer)]).toEqual([1n, -1n]);
    // negative int attribute
    expect(int(one(msg(one(nodes[3], 5)), 3))).toBe(-1n);

    const inits = all(g, 5).map(msg);
    expect(inits.map((t) => str(one(t, 8)))).toEqual(['w', 'b', 'split']); // name = 8
    const wt = inits[0];
    expect(all(wt, 1).map(int)).toEqual([2n, 1n, 2n, 2n]); // dims = 1
    expect(int(one(wt, 2))).toBe(1n); // FLOAT
    expect(new Float32Array(bytes(one(wt, 9)).slice().buffer)).toEqual(w); // raw_data = 9
    const bt = inits[1];
    expect(int(one(bt, 2))).toBe(10n); // FLOAT16
    expect([...new Uint16Array(bytes(one(bt, 9)).slice().buffer)]).toEqual([0x3c00, 0xc000]);

    const input = msg(one(g, 11));
    expect(str(one(input, 1))).toBe('images');
    const tt = msg(one(msg(one(input, 2)), 1)); // TypeProto.tensor_type
    expect(int(one(tt, 1))).toBe(1n); // elem_type
    const dims = all(msg(one(tt, 2)), 1).map(msg); // shape.dim
    expect(str(one(dims[0], 2))).toBe('batch'); // dim_param
    expect(int(one(dims[1], 1))).toBe(1n); // dim_value
    expect(str(one(dims[2], 2))).toBe('h');
    expect(dims[3]).toEqual([]); // unknown
    const outs = all(g, 12).map(msg);
    expect(outs.map((o) => str(one(o, 1)))).toEqual(['out', 'o2']);
    const o2t = msg(one(msg(one(outs[1], 2)), 1));
    expect(all(o2t, 2)).toHaveLength(0); // no shape: unknown rank
    const vi = msg(one(g, 13));
    const viShape = msg(one(msg(one(msg(one(vi, 2)), 1)), 2));
    expect(viShape).toEqual([]); // scalar: a shape with no dims
  });

  it('writes a file atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'yolo-wgpu-onnx-'));
    try {
      const p = join(dir, 'm.onnx');
      writeOnnx(p, model);
      expect(Buffer.compare(readFileSync(p), encodeModel(model))).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks tensor sizes', () => {
    expect(() => floatTensor('w', [2, 3], new Float32Array(5))).toThrow(/tensor 'w': dims \[2,3\] need 6 elements, got 5/);
  });
});
