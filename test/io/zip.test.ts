import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { buildZip, ZipArchive } from '../../src/io/zip.js';
import { FIXTURES } from '../helpers/shared.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const big = new Uint8Array(100_000).map((_, i) => (i * 7) % 251);

describe('zip reader', () => {
  for (const zip64 of [false, true]) {
    it(`reads stored and deflated entries${zip64 ? ' (zip64)' : ''}`, () => {
      const buf = buildZip(
        [
          { name: 'a/data.pkl', data: text('hello') },
          { name: 'a/data/0', data: big },
          { name: 'a/data/1', data: big, method: 'deflate' },
          { name: 'empty', data: new Uint8Array(0) },
          { name: 'ünï.txt', data: text('x') },
        ],
        { zip64, align: 64 },
      );
      const z = ZipArchive.fromBuffer(buf, 'test.zip');
      expect(z.names).toEqual(['a/data.pkl', 'a/data/0', 'a/data/1', 'empty', 'ünï.txt']);
      expect(Buffer.from(z.read('a/data.pkl')).toString()).toBe('hello');
      const stored = z.read('a/data/0');
      expect(Buffer.compare(stored, big)).toBe(0);
      expect(stored.buffer).toBe(buf.buffer); // stored entries are views
      expect(z.dataOffset(z.entry('a/data/0')!) % 64).toBe(0); // aligned like PyTorch
      expect(z.entry('a/data/1')!.method).toBe(8);
      expect(z.entry('a/data/1')!.compressedSize).toBeLessThan(big.length);
      expect(Buffer.compare(z.read('a/data/1'), big)).toBe(0);
      expect(z.read('empty').length).toBe(0);
      expect(z.read('ünï.txt').toString()).toBe('x');
    });
  }

  it('reads the PyTorch fixture (zip64 end records, stored entries)', () => {
    const z = ZipArchive.open(`${FIXTURES}/v8n-coco128.pt`);
    expect(z.entries.length).toBe(365);
    expect(z.has('best/data.pkl')).toBe(true);
    expect(z.read('best/byteorder').toString()).toBe('little');
    for (const e of z.entries) expect(e.method).toBe(0);
  });

  it('skips an archive comment', () => {
    const buf = buildZip([{ name: 'x', data: text('abc') }]);
    const comment = Buffer.from('a comment with PK\x05\x06 inside');
    buf.writeUInt16LE(comment.length, buf.length - 2);
    const z = ZipArchive.fromBuffer(Buffer.concat([buf, comment]), 'c.zip');
    expect(z.read('x').toString()).toBe('abc');
  });

  describe('errors name the file and what was found', () => {
    const good = buildZip([{ name: 'x', data: big }, { name: 'y', data: big, method: 'deflate' }]);
    const z = ZipArchive.fromBuffer(good, 'good.zip');
    it('not a zip', () => {
      expect(() => ZipArchive.fromBuffer(Buffer.from('just some text, nothing more...'), 'n.txt')).toThrow(
        /n\.txt: not a valid zip archive: no end-of-central-directory record; file starts with bytes 6a757374/,
      );
      expect(() => ZipArchive.fromBuffer(Buffer.alloc(3), 'tiny')).toThrow(/tiny.*3 bytes/);
    });
    it('truncated', () => {
      expect(() => ZipArchive.fromBuffer(good.subarray(0, 5000), 't.zip')).toThrow(/t\.zip.*looks truncated/);
    });
    it('a missing entry', () => {
      expect(() => z.read('nope')).toThrow(/good\.zip: zip has no entry 'nope'/);
    });
    it('CRC mismatch in a stored entry', () => {
      const b = Buffer.from(good);
      b[z.dataOffset(z.entry('x')!) + 10] ^= 1;
      const d = ZipArchive.fromBuffer(b, 'd.zip');
      expect(() => d.read('x')).toThrow(/d\.zip: zip entry 'x': CRC-32 mismatch/);
      expect(d.read('x', { verifyCrc: false }).length).toBe(big.length);
    });
    it('corrupt deflate data', () => {
      const b = Buffer.from(good);
      const off = z.dataOffset(z.entry('y')!);
      b.fill(0xff, off, off + 20);
      expect(() => ZipArchive.fromBuffer(b, 'd.zip').read('y')).toThrow(UserError);
    });
    it('unsupported compression', () => {
      const b = Buffer.from(buildZip([{ name: 'x', data: text('abc') }]));
      b.writeUInt16LE(12, 8); // local header method
      const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      b.writeUInt16LE(12, cd + 10);
      expect(() => ZipArchive.fromBuffer(b, 'bz.zip').read('x')).toThrow(/bz\.zip: zip entry 'x': compression method 12/);
    });
    it('a damaged central directory', () => {
      const b = Buffer.from(good);
      const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      b[cd] = 0;
      expect(() => ZipArchive.fromBuffer(b, 'cd.zip')).toThrow(/cd\.zip.*central directory entry 0/);
    });
    it('a local header pointing past the end', () => {
      const b = Buffer.from(buildZip([{ name: 'x', data: text('abc') }]));
      const cd = b.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      b.writeUInt32LE(0x10000, cd + 42);
      expect(() => ZipArchive.fromBuffer(b, 'lh.zip').read('x')).toThrow(/lh\.zip: zip entry 'x': local header at 65536/);
    });
  });

  it('CRC-32 of the builder matches zlib', () => {
    const z = ZipArchive.fromBuffer(buildZip([{ name: 'x', data: big }]));
    expect(z.entry('x')!.crc32).toBe(crc32(big) >>> 0);
  });
});
