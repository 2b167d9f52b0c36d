import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/io/half.js';
import { isStorage } from '../../src/io/pickle.js';
import { dtypeSize, SafetensorsFile } from '../../src/io/safetensors.js';
import { loadTorchCheckpoint, readTorchPickle, toPlain } from '../../src/io/torch-checkpoint.js';
import { buildZip, ZipArchive } from '../../src/io/zip.js';
import { FIXTURES } from '../helpers/shared.js';

const FIX = FIXTURES;
const TAGS = ['v8n-coco128', 'v8n320-coco128', '11n-rand'].filter((t) => existsSync(join(FIX, `${t}.pt`)));
const tmp = mkdtempSync(join(tmpdir(), 'yolo-wgpu-pt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

describe('loadTorchCheckpoint on the fixtures', () => {
  it('finds at least the two yolov8n checkpoints', () => {
    expect(TAGS).toContain('v8n-coco128');
    expect(TAGS).toContain('v8n320-coco128');
  });

  for (const tag of TAGS) {
    it(`${tag}.pt matches ${tag}.weights.safetensors`, () => {
      const t0 = performance.now();
      const ck = loadTorchCheckpoint(join(FIX, `${tag}.pt`));
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(1500); // typically ~100 ms
      const ref = SafetensorsFile.open(join(FIX, `${tag}.weights.safetensors`));
      expect(ck.modelClass).toBe('ultralytics.nn.tasks.DetectionModel');
      for (const name of ref.names) {
        const r = ref.getFloat32(name);
        const ours = ck.stateDict.get(name);
        expect(ours, name).toBeDefined();
        expect(ours!.shape, name).toEqual(r.shape);
        expect(ck.storedDtypes.get(name)).toBe('F16');
        const err = relL2(ours!.data, r.data);
        expect(err, `${name} relative L2 error`).toBeLessThanOrEqual(1e-3);
        // In fact every value is the reference rounded to f16 (bit-exact).
        const rounded = f16BitsToF32(f32ToF16Bits(r.data));
        if (Buffer.compare(Buffer.from(rounded.buffer), Buffer.from(ours!.data.buffer, ours!.data.byteOffset, ours!.data.byteLength)) !== 0) {
          throw new Error(`${name}: values differ from the f16-rounded reference`);
        }
      }
      // Nothing floating beyond the reference's keys; num_batches_tracked kept apart.
      expect([...ck.stateDict.keys()].sort()).toEqual([...ref.names].sort());
      expect(ck.intBuffers.get('model.0.bn.num_batches_tracked')?.dtype).toBe('I64');
      expect(ck.stateDict.has('model.22.dfl.conv.weight')).toBe(true);

      expect(ck.nc).toBe(80);
      expect(ck.names[0]).toBe('person');
      expect(ck.names[79]).toBe('toothbrush');
      expect(Object.keys(ck.names)).toHaveLength(80);
      expect(ck.stride).toEqual([8, 16, 32]);
      expect(ck.yaml?.nc).toBe(80);
      expect(Array.isArray(ck.yaml?.backbone)).toBe(true);
      expect(ck.version).toBe('8.4.45');
      expect(typeof ck.date).toBe('string');
      expect(typeof ck.epoch).toBe('number');
      expect(ck.trainArgs?.task).toBe('detect');
      expect(ck.source).toBe('model'); // best.pt: ema is None, model holds the EMA weights
    });
  }

  it('reports train args such as imgsz and epochs', () => {
    const ck = loadTorchCheckpoint(join(FIX, 'v8n320-coco128.pt'));
    expect(ck.trainArgs?.imgsz).toBe(320);
    expect(ck.trainArgs?.epochs).toBe(300);
  });
});

describe('damaged and foreign files', () => {
  const src = join(FIX, 'v8n-coco128.pt');
  const srcBuf = readFileSync(src);
  const zip = ZipArchive.fromBuffer(srcBuf, src);
  let baseline: ReturnType<typeof loadTorchCheckpoint> | undefined;
  const base = (): ReturnType<typeof loadTorchCheckpoint> => (baseline ??= loadTorchCheckpoint(src));

  /** Rebuilds the fixture's zip with entries changed (name -> new bytes, or null to drop). */
  function rebuilt(name: string, changes: Record<string, Uint8Array | null>): string {
    const files = zip.entries
      .filter((e) => changes[e.name] !== null)
      .map((e) => ({ name: e.name, data: changes[e.name] ?? zip.readEntry(e) }));
    const p = join(tmp, name);
    writeFileSync(p, buildZip(files, { zip64: true, align: 64 }));
    return p;
  }

  it('a rebuilt archive (zip64, aligned) still loads', () => {
    const p = rebuilt('same.pt', {});
    const ck = loadTorchCheckpoint(p);
    expect(ck.stateDict.size).toBe(base().stateDict.size);
    expect(ck.stateDict.get('model.22.dfl.conv.weight')!.data).toEqual(base().stateDict.get('model.22.dfl.conv.weight')!.data);
  });

  it('accepts deflated entries', () => {
    // deflate the pickle and a few storages (deflating all 6 MB would only slow the suite)
    const files = zip.entries.map((e) => ({
      name: e.name,
      data: zip.readEntry(e),
      method: e.name === 'best/data.pkl' || e.size < 2000 ? ('deflate' as const) : ('store' as const),
    }));
    const p = join(tmp, 'deflate.pt');
    writeFileSync(p, buildZip(files));
    const a = loadTorchCheckpoint(p).stateDict.get('model.0.conv.weight')!.data;
    const b = base().stateDict.get('model.0.conv.weight')!.data;
    expect(a).toEqual(b);
  });

  it('reads big-endian archives (byteorder = big)', () => {
    // Learn each storage's element size from the pickle, then byte-swap every storage.
    const sizes = new Map<string, number>();
    const seen = new Set<unknown>();
    const visit = (v: unknown): void => {
      if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof Uint8Array) return;
      seen.add(v);
      if (isStorage(v)) sizes.set(v.key, dtypeSize(v.dtype));
      else if (v instanceof Map) for (const [k, x] of v) { visit(k); visit(x); }
      else if (v instanceof Set || Array.isArray(v)) for (const x of v) visit(x);
      else for (const x of Object.values(v)) visit(x);
    };
    visit(readTorchPickle(src).root);
    expect(sizes.size).toBe(zip.entries.filter((e) => e.name.startsWith('best/data/')).length);
    const changes: Record<string, Uint8Array> = { 'best/byteorder': Buffer.from('big') };
    for (const [key, size] of sizes) {
      const d = Buffer.from(zip.read(`best/data/${key}`));
      if (size === 2) d.swap16();
      else if (size === 4) d.swap32();
      else if (size === 8) d.swap64();
      changes[`best/data/${key}`] = d;
    }
    const ck = loadTorchCheckpoint(rebuilt('big.pt', changes));
    for (const [name, t] of base().stateDict) {
      if (Buffer.compare(Buffer.from(t.data.buffer), Buffer.from(ck.stateDict.get(name)!.data.buffer)) !== 0) {
        throw new Error(`${name} differs after a big-endian round trip`);
      }
    }
    expect(ck.stride).toEqual([8, 16, 32]);
    expect(ck.intBuffers.get('model.0.bn.num_batches_tracked')!.data).toEqual(
      base().intBuffers.get('model.0.bn.num_batches_tracked')!.data,
    );
  });

  it('not a zip', () => {
    const p = join(tmp, 'notzip.pt');
    writeFileSync(p, Buffer.from('hello, this is not a checkpoint at all'.repeat(3)));
    expect(() => loadTorchCheckpoint(p)).toThrow(UserError);
    expect(() => loadTorchCheckpoint(p)).toThrow(/notzip\.pt.*not a valid zip archive/);
  });

  it('missing file', () => {
    expect(() => loadTorchCheckpoint(join(tmp, 'nope.pt'))).toThrow(/nope\.pt: cannot read/);
  });

  it('truncated file', () => {
    const p = join(tmp, 'trunc.pt');
    writeFileSync(p, srcBuf.subarray(0, Math.floor(srcBuf.length / 2)));
    expect(() => loadTorchCheckpoint(p)).toThrow(/trunc\.pt.*truncated/);
  });

  it('a flipped byte in a storage fails its CRC', () => {
    const p = join(tmp, 'flip.pt');
    copyFileSync(src, p);
    const b = readFileSync(p);
    const e = zip.entry('best/data/6')!;
    b[zip.dataOffset(e) + 100] ^= 0xff;
    writeFileSync(p, b);
    expect(() => loadTorchCheckpoint(p)).toThrow(/flip\.pt.*best\/data\/6.*CRC-32 mismatch/);
  });

  it('flipped bytes in data.pkl are reported', () => {
    const p = join(tmp, 'flip-pkl.pt');
    const b = Buffer.from(srcBuf);
    const e = zip.entry('best/data.pkl')!;
    b[zip.dataOffset(e) + 500] ^= 0x5a;
    writeFileSync(p, b);
    expect(() => loadTorchCheckpoint(p)).toThrow(UserError);
  });

  it('missing data.pkl', () => {
    const p = rebuilt('nopkl.pt', { 'best/data.pkl': null });
    expect(() => loadTorchCheckpoint(p)).toThrow(/nopkl\.pt.*no '<archive>\/data\.pkl'/);
  });

  it('missing storage', () => {
    const p = rebuilt('nostorage.pt', { 'best/data/6': null });
    expect(() => loadTorchCheckpoint(p)).toThrow(/nostorage\.pt.*storage '6' is missing/);
  });

  it('truncated storage', () => {
    const p = rebuilt('shortstorage.pt', { 'best/data/6': zip.read('best/data/6').subarray(0, 100) });
    expect(() => loadTorchCheckpoint(p)).toThrow(/shortstorage\.pt.*storage '6' is truncated: 100 bytes/);
  });

  it('a pickle that is not an Ultralytics checkpoint', () => {
    // protocol 2: {'state_dict': None}
    const pkl = Buffer.from([0x80, 0x02, 0x7d, 0x58, 10, 0, 0, 0, ...Buffer.from('state_dict'), 0x4e, 0x73, 0x2e]);
    const p = rebuilt('foreign.pt', { 'best/data.pkl': pkl });
    expect(() => loadTorchCheckpoint(p)).toThrow(/foreign\.pt.*not an Ultralytics checkpoint.*keys: state_dict/);
    // a list at top level
    const p2 = rebuilt('list.pt', { 'best/data.pkl': Buffer.from([0x80, 0x02, 0x5d, 0x2e]) });
    expect(() => loadTorchCheckpoint(p2)).toThrow(/list\.pt.*holds list\[0\]/);
  });

  it('legacy non-zip torch.save files are named as such', () => {
    const p = join(tmp, 'legacy.pt');
    writeFileSync(p, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]));
    expect(() => loadTorchCheckpoint(p)).toThrow(/legacy/);
  });
});

describe('readTorchPickle', () => {
  it('exposes the raw checkpoint with storages resolved', () => {
    const { archive, root } = readTorchPickle(join(FIX, 'v8n-coco128.pt'));
    expect(archive).toBe('best');
    const plain = toPlain(root) as Record<string, unknown>;
    expect(plain.ema).toBe(null);
    expect((plain.model as Record<string, unknown>).__class__).toBe('ultralytics.nn.tasks.DetectionModel');
  });
});
