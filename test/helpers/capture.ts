import { vi } from 'vitest';

/** Runs fn with stdout and stderr captured (a command's printed output and its logs). */
export async function capture<T>(fn: () => Promise<T>): Promise<{ out: string; err: string; value?: T; error?: unknown }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const value = await fn();
    return { out, err, value };
  } catch (error) {
    return { out, err, error };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
