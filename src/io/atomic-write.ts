/**
 * Atomic file writes: the bytes go to a temp file in the same folder, which is renamed over
 * `path`, so readers see the old file or the new one, never a torn one. With `fsync` (the
 * default of `writeFileAtomic`) the data and the rename are flushed to disk before returning:
 * checkpoints and weights. Caches that can be rebuilt skip it (`tryWriteFileAtomic`).
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';

export interface AtomicWriteOptions {
  /** Flush the file and its folder entry to disk (slower; survives a power loss). */
  fsync?: boolean;
}

/** Makes the rename itself durable; not every platform lets a folder be opened/fsynced. */
function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

/** The write itself; throws the file system's error after removing the temp file. */
function writeAtomic(path: string, chunks: readonly Uint8Array[], fsync: boolean): void {
  // pid + random: writers in several processes or worker threads never share a temp file.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    for (const c of chunks) {
      let done = 0;
      while (done < c.byteLength) done += writeSync(fd, c, done, c.byteLength - done);
    }
    if (fsync) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  if (fsync) fsyncDir(dirname(path));
}

/** Writes `chunks` to `path` atomically (fsynced unless `fsync: false`); a UserError naming the file when it cannot. */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[], options: AtomicWriteOptions = {}): void {
  try {
    writeAtomic(path, chunks, options.fsync ?? true);
  } catch (e) {
    throw new UserError(`${path}: cannot write (${(e as Error).message})`, { cause: e });
  }
}

/**
 * Writes `chunks` to `path` atomically without throwing (not fsynced unless asked): null when
 * written, else the error code (e.g. 'EACCES') or message, for callers that warn and go on.
 */
export function tryWriteFileAtomic(path: string, chunks: readonly Uint8Array[], options: AtomicWriteOptions = {}): string | null {
  try {
    writeAtomic(path, chunks, options.fsync ?? false);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}
