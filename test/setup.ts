import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// lavapipe warns on stderr when XDG_RUNTIME_DIR is unset.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = join(tmpdir(), 'yolo-wgpu-xdg');
  mkdirSync(dir, { recursive: true });
  process.env.XDG_RUNTIME_DIR = dir;
}
