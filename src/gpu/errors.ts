import { UserError } from '../errors.js';
import type { Category } from './arena.js';

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * Raised before the GPU is asked when an allocation would exceed the byte budget,
 * and after the fact when the GPU itself reports out-of-memory.
 */
export class OutOfMemoryError extends UserError {
  constructor(
    readonly requestedBytes: number,
    readonly category: Category,
    readonly liveBytes: number,
    readonly limitBytes: number | null,
    detail?: string,
  ) {
    const limit = limitBytes === null ? 'the GPU' : `the budget of ${mib(limitBytes)}`;
    super(
      `out of GPU memory: ${mib(requestedBytes)} of ${category} requested with ${mib(liveBytes)} live exceeds ${limit}` +
        (detail ? ` (${detail})` : ''),
    );
  }
}

/** A WebGPU validation or internal error: a bug in a kernel or launcher, reported with the GPU's message. */
export class GpuValidationError extends Error {
  constructor(message: string) {
    super(`GPU reported an error: ${message}`);
    this.name = 'GpuValidationError';
  }
}

export class DeviceLostError extends UserError {
  constructor(reason: string, message: string) {
    super(`the GPU device was lost (${reason}): ${message || 'no detail given by the driver'}`);
  }
}

export class NoAdapterError extends UserError {}
