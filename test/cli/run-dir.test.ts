import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimRunDir } from '../../src/cli/run-dir.js';
import { UserError } from '../../src/errors.js';

const project = mkdtempSync(join(tmpdir(), 'yolo-wgpu-runs-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('claimRunDir', () => {
  it('creates exp, then exp2, exp3 as each is taken, with missing parents', () => {
    expect(claimRunDir(project, 'exp')).toBe(join(project, 'exp'));
    expect(claimRunDir(project, 'exp')).toBe(join(project, 'exp2'));
    expect(claimRunDir(project, 'exp')).toBe(join(project, 'exp3'));
    expect(existsSync(join(project, 'exp3'))).toBe(true);
    expect(claimRunDir(join(project, 'a', 'b'), 'exp')).toBe(join(project, 'a', 'b', 'exp'));
  });

  it('a project that is a file is a clear error', () => {
    writeFileSync(join(project, 'file'), '');
    expect(() => claimRunDir(join(project, 'file'), 'exp')).toThrow(UserError);
    expect(() => claimRunDir(join(project, 'file'), 'exp')).toThrow(/output folder .*file is a file/);
  });
});
