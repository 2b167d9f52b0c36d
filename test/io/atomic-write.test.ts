import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { tryWriteFileAtomic, writeFileAtomic } from '../../src/io/atomic-write.js';

const dir = mkdtempSync(join(tmpdir(), 'atomic-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('write and overwrite from chunks, with and without fsync, leaving no temp file', () => {
    const p = join(dir, 'a.bin');
    writeFileAtomic(p, [new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])]);
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    expect(tryWriteFileAtomic(p, [Buffer.from('xyz')])).toBeNull();
    expect(readFileSync(p, 'utf8')).toBe('xyz');
    writeFileAtomic(p, [Buffer.from('fsync off')], { fsync: false });
    expect(readFileSync(p, 'utf8')).toBe('fsync off');
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('a failed write keeps the old file: UserError naming the path, or the error code', () => {
    const p = join(dir, 'missing-folder', 'b.bin');
    expect(tryWriteFileAtomic(p, [Buffer.from('x')])).toBe('ENOENT');
    expect(() => writeFileAtomic(p, [Buffer.from('x')])).toThrow(UserError);
    expect(() => writeFileAtomic(p, [Buffer.from('x')])).toThrow(/missing-folder\/b\.bin: cannot write/);
    // A folder where the file should be: the rename fails, the temp file is removed.
    expect(tryWriteFileAtomic(dir, [Buffer.from('x')])).not.toBeNull();
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });
});
