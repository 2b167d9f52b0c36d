/**
 * A small zip reader (and stored/deflate writer) for PyTorch checkpoints.
 *
 * Reads the central directory (zip64 where present), stored (method 0) and deflate
 * (method 8) entries. Stored entries are returned as views into the archive's Buffer, so
 * reading a 100 MB checkpoint copies nothing. CRC-32 is checked on read by default.
 * Multi-disk archives and encryption are refused.
 */
import { readFileSync } from 'node:fs';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { UserError } from '../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header in the archive. */
  localHeaderOffset: number;
}

export class ZipArchive {
  readonly entries: ZipEntry[];
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(
    readonly file: string,
    readonly buffer: Buffer,
    entries: ZipEntry[],
  ) {
    this.entries = entries;
    for (const e of entries) this.byName.set(e.name, e);
  }

  static open(path: string): ZipArchive {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new UserError(`${path}: cannot read (${(e as Error).message})`, { cause: e });
    }
    return ZipArchive.fromBuffer(buf, path);
  }

  static fromBuffer(buf: Buffer, file = '<buffer>'): ZipArchive {
    return new ZipArchive(file, buf, readCentralDirectory(buf, file));
  }

  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Offset of the entry's data in the archive (after its local header). */
  dataOffset(entry: ZipEntry): number {
    const buf = this.buffer;
    const at = entry.localHeaderOffset;
    const fail = (what: string): never => {
      throw new UserError(`${this.file}: zip entry '${entry.name}': ${what}`);
    };
    if (at + 30 > buf.byteLength) fail(`local header at ${at} lies past the end of the file (${buf.byteLength} bytes)`);
    if (buf.readUInt32LE(at) !== SIG_LOCAL) fail(`no local header signature at offset ${at}`);
    const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
    if (start + entry.compressedSize > buf.byteLength) {
      fail(`data [${start}, ${start + entry.compressedSize}) runs past the end of the file (${buf.byteLength} bytes; truncated?)`);
    }
    return start;
  }

  /**
   * An entry's uncompressed bytes. Stored entries are views into the archive buffer
   * (do not write into them); deflated ones are inflated into a new Buffer.
   */
  read(name: string, options: { verifyCrc?: boolean } = {}): Buffer {
    const entry = this.byName.get(name);
    if (!entry) throw new UserError(`${this.file}: zip has no entry '${name}'`);
    return this.readEntry(entry, options);
  }

  readEntry(entry: ZipEntry, { verifyCrc = true }: { verifyCrc?: boolean } = {}): Buffer {
    const fail = (what: string): never => {
      throw new UserError(`${this.file}: zip entry '${entry.name}': ${what}`);
    };
    if (entry.flags & 1) fail('is encrypted');
    const start = this.dataOffset(entry);
    const raw = this.buffer.subarray(start, start + entry.compressedSize);
    let data: Buffer;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size) fail(`stored entry has compressed size ${entry.compressedSize} != size ${entry.size}`);
      data = raw;
    } else if (entry.method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (e) {
        return fail(`deflate data is corrupt (${(e as Error).message})`);
      }
      if (data.byteLength !== entry.size) fail(`inflated to ${data.byteLength} bytes, directory says ${entry.size}`);
    } else {
      return fail(`compression method ${entry.method} is not supported (only stored and deflate)`);
    }
    if (verifyCrc) {
      const c = crc32(data) >>> 0;
      if (c !== entry.crc32) {
        fail(`CRC-32 mismatch (computed ${hex(c)}, directory says ${hex(entry.crc32)}): the file is damaged`);
      }
    }
    return data;
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function readCentralDirectory(buf: Buffer, file: string): ZipEntry[] {
  const fail = (what: string): never => {
    throw new UserError(`${file}: not a valid zip archive: ${what}`);
  };
  const len = buf.byteLength;
  if (len < 22) fail(`file is ${len} bytes, too short for a zip end-of-central-directory record`);

  // End of central directory: the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - U16_MAX); i--) {
    if (buf.readUInt32LE(i) === SIG_EOCD && i + 22 + buf.readUInt16LE(i + 20) === len) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const magic = buf.subarray(0, 4);
    const isZipStart = magic.readUInt32LE(0) === SIG_LOCAL;
    fail(
      isZipStart
        ? 'no end-of-central-directory record (the file looks truncated)'
        : `no end-of-central-directory record; file starts with bytes ${magic.toString('hex')} (a zip starts with 504b0304)`,
    );
  }
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  const disk = buf.readUInt16LE(eocd + 4);
  const cdDisk = buf.readUInt16LE(eocd + 6);

  // Zip64: a locator right before the EOCD points at the zip64 EOCD record.
  const loc = eocd - 20;
  if (loc >= 0 && buf.readUInt32LE(loc) === SIG_ZIP64_LOCATOR) {
    const z = Number(buf.readBigUInt64LE(loc + 8));
    if (z + 56 > loc || buf.readUInt32LE(z) !== SIG_ZIP64_EOCD) fail(`zip64 locator points at ${z}, where no zip64 record is`);
    if (buf.readUInt32LE(z + 16) !== 0 || buf.readUInt32LE(z + 20) !== 0) fail('multi-disk archives are not supported');
    count = Number(buf.readBigUInt64LE(z + 32));
    cdSize = Number(buf.readBigUInt64LE(z + 40));
    cdOffset = Number(buf.readBigUInt64LE(z + 48));
  } else {
    if (disk !== 0 || cdDisk !== 0) fail('multi-disk archives are not supported');
    if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) fail('zip64 sizes without a zip64 record');
  }
  if (cdOffset + cdSize > eocd) {
    fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) overlaps its end record at ${eocd} (damaged or truncated)`);
  }

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > len || buf.readUInt32LE(p) !== SIG_CENTRAL) fail(`central directory entry ${k} at offset ${p} is damaged`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    let compressedSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localHeaderOffset = buf.readUInt32LE(p + 42);
    const nameEnd = p + 46 + nameLen;
    if (nameEnd + extraLen + commentLen > len) fail(`central directory entry ${k} runs past the end of the file`);
    const name = buf.toString('utf8', p + 46, nameEnd);
    // zip64 extended information: 8-byte fields for each 32-bit field that is 0xFFFFFFFF.
    let q = nameEnd;
    const extraEnd = nameEnd + extraLen;
    while (q + 4 <= extraEnd) {
      const id = buf.readUInt16LE(q);
      const sz = buf.readUInt16LE(q + 2);
      if (id === 0x0001) {
        let r = q + 4;
        const take = (): number => {
          if (r + 8 > q + 4 + sz) fail(`zip64 extra field of '${name}' is too short`);
          const v = Number(buf.readBigUInt64LE(r));
          r += 8;
          return v;
        };
        if (size === U32_MAX) size = take();
        if (compressedSize === U32_MAX) compressedSize = take();
        if (localHeaderOffset === U32_MAX) localHeaderOffset = take();
      }
      q += 4 + sz;
    }
    entries.push({ name, method, flags, crc32: crc, compressedSize, size, localHeaderOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** Default 'store'. */
  method?: 'store' | 'deflate';
}

/**
 * Builds a zip archive in memory. `zip64: true` writes zip64 records (as PyTorch does)
 * even for small archives; `align` pads local headers (extra field) so that stored data
 * starts at a multiple of `align` bytes, like PyTorch's 64-byte alignment.
 */
export function buildZip(files: readonly ZipInput[], options: { zip64?: boolean; align?: number } = {}): Buffer {
  const { zip64 = false, align = 1 } = options;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const f of files) {
    const nameBuf = Buffer.from(f.name, 'utf8');
    const method = f.method === 'deflate' ? 8 : 0;
    const payload = method === 8 ? deflateRawSync(f.data) : Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength);
    const crc = crc32(f.data) >>> 0;
    let pad = 0;
    if (align > 1) {
      const base = offset + 30 + nameBuf.byteLength + 4; // 4: the padding extra field's header
      pad = (align - (base % align)) % align;
    }
    const local = Buffer.alloc(30 + nameBuf.byteLength + (align > 1 ? 4 + pad : 0));
    local.writeUInt32LE(SIG_LOCAL, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(payload.byteLength, 18);
    local.writeUInt32LE(f.data.byteLength, 22);
    local.writeUInt16LE(nameBuf.byteLength, 26);
    local.writeUInt16LE(align > 1 ? 4 + pad : 0, 28);
    nameBuf.copy(local, 30);
    if (align > 1) {
      local.writeUInt16LE(0x1234, 30 + nameBuf.byteLength); // private "padding" extra id
      local.writeUInt16LE(pad, 32 + nameBuf.byteLength);
    }
    const extra = zip64 ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
    if (zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(f.data.byteLength), 4);
      extra.writeBigUInt64LE(BigInt(payload.byteLength), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const c = Buffer.alloc(46 + nameBuf.byteLength + extra.byteLength);
    c.writeUInt32LE(SIG_CENTRAL, 0);
    c.writeUInt16LE(zip64 ? 45 : 20, 4);
    c.writeUInt16LE(zip64 ? 45 : 20, 6);
    c.writeUInt16LE(0x0800, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(zip64 ? U32_MAX : payload.byteLength, 20);
    c.writeUInt32LE(zip64 ? U32_MAX : f.data.byteLength, 24);
    c.writeUInt16LE(nameBuf.byteLength, 28);
    c.writeUInt16LE(extra.byteLength, 30);
    c.writeUInt32LE(zip64 ? U32_MAX : offset, 42);
    nameBuf.copy(c, 46);
    extra.copy(c, 46 + nameBuf.byteLength);
    parts.push(local, payload);
    central.push(c);
    offset += local.byteLength + payload.byteLength;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((s, b) => s + b.byteLength, 0);
  const tail: Buffer[] = [...central];
  if (zip64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(SIG_ZIP64_EOCD, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE(45, 12);
    z.writeUInt16LE(45, 14);
    z.writeBigUInt64LE(BigInt(files.length), 24);
    z.writeBigUInt64LE(BigInt(files.length), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdOffset), 48);
    const l = Buffer.alloc(20);
    l.writeUInt32LE(SIG_ZIP64_LOCATOR, 0);
    l.writeBigUInt64LE(BigInt(cdOffset + cdSize), 8);
    l.writeUInt32LE(1, 16);
    tail.push(z, l);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(SIG_EOCD, 0);
  e.writeUInt16LE(zip64 ? U16_MAX : files.length, 8);
  e.writeUInt16LE(zip64 ? U16_MAX : files.length, 10);
  e.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12);
  e.writeUInt32LE(zip64 ? U32_MAX : cdOffset, 16);
  tail.push(e);
  return Buffer.concat([...parts, ...tail]);
}
