import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { loadModelYaml, parseModelName, parseModelYaml } from '../../src/yolo/model-yaml.js';

const dir = mkdtempSync(join(tmpdir(), 'model-yaml-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model yaml', () => {
  it('resolves built-in names and their scale letters', () => {
    expect(parseModelName('yolov8n.yaml')).toEqual({ family: 'yolov8', scale: 'n' });
    expect(parseModelName('YOLO11x')).toEqual({ family: 'yolo11', scale: 'x' });
    expect(parseModelName('yolov8.yaml')).toEqual({ family: 'yolov8', scale: undefined });
    expect(parseModelName('yolov5n.yaml')).toBeNull();
    const m = loadModelYaml('yolo11s.yaml');
    expect(m.scale).toBe('s');
    expect(m.yaml_file).toBe('yolo11s.yaml');
    expect(m.backbone[10]).toEqual([-1, 2, 'C2PSA', [1024]]);
    expect(m.head[12]).toEqual([[16, 19, 22], 1, 'Detect', ['nc']]);
  });

  it('loads a yaml file given by path', () => {
    const file = join(dir, 'tiny.yaml');
    writeFileSync(file, 'nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\nhead:\n  - [[-1], 1, Detect, [nc]]\n');
    expect(loadModelYaml(file)).toMatchObject({ nc: 2, backbone: [[-1, 1, 'Conv', [16, 3, 2]]] });
  });

  it('rejects unknown names and malformed files with the file and line', () => {
    expect(() => loadModelYaml('resnet50.yaml')).toThrow(/neither a yaml file nor a built-in model/);
    const bad = (text: string) => {
      try {
        parseModelYaml(text, 'm.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(bad('nc: 2\nbackbone:\n  - [-1, 1, Conv, [16]]\n  - [-1, Conv, [16]]\nhead:\n  - [-1, 1, Detect, [nc]]\n')).toBe(
      'm.yaml:4: backbone[1] is [-1,"Conv",[16]], expected [from, repeats, module, args]',
    );
    expect(bad('nc: 0\nbackbone: []\nhead: []\n')).toBe('m.yaml:1: nc must be a positive integer, got 0');
    expect(bad('nc: 2\nbackbone: [\n')).toMatch(/^m\.yaml:\d+:\d+: invalid yaml/);
    expect(bad('nc: 2\nscales: {n: [1, 1]}\nbackbone: [[-1, 1, Conv, [8]]]\nhead: [[-1, 1, Detect, [nc]]]\n')).toBe('m.yaml:2: scales must map letters to [depth, width, max_channels]');
  });
});
