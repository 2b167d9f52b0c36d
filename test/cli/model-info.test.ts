import { describe, expect, it } from 'vitest';
import { printModelInfo } from '../../src/cli/model-info.js';
import { capture } from '../helpers/capture.js';

describe('yolo-wgpu info --model', () => {
  it('prints the layer table (index, from, n, params, module, arguments) and totals', async () => {
    const lines = (await capture(async () => printModelInfo('yolov8n.yaml'))).out.trimEnd().split('\n');
    expect(lines).toHaveLength(25);
    expect(lines[0]).toMatch(/^\s+from\s+n\s+params\s+module\s+arguments$/);
    expect(lines[1]).toMatch(/^\s*0\s+-1\s+1\s+464\s+Conv\s+\[3, 16, 3, 2\]$/);
    expect(lines[3]).toMatch(/^\s*2\s+-1\s+1\s+7,360\s+C2f\s+\[32, 32, 1, True\]$/);
    expect(lines[11]).toMatch(/^\s*10\s+-1\s+1\s+0\s+nn\.Upsample\s+\[None, 2, 'nearest'\]$/);
    expect(lines[12]).toMatch(/^\s*11\s+\[-1, 6\]\s+1\s+0\s+Concat\s+\[1\]$/);
    expect(lines[23]).toMatch(/^\s*22\s+\[15, 18, 21\]\s+1\s+897,664\s+Detect\s+\[80, \[64, 128, 256\]\]$/);
    expect(lines[24]).toBe('yolov8n.yaml summary: 23 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs at 640x640');
  });

  it('writes only JSON with --json', async () => {
    const doc = JSON.parse((await capture(async () => printModelInfo('yolo11n.yaml', { json: true }))).out);
    expect(doc).toMatchObject({ model: 'yolo11n.yaml', scale: 'n', nc: 80, stride: [8, 16, 32], params: 2_624_080 });
    expect(doc.layers[10]).toMatchObject({ module: 'C2PSA', params: 249_728, args: [256, 256, 1] });
  });
});
