import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultTrainArgs, TRAIN_OPTIONS } from '../../src/train/args.js';
import { createRunDir, epochCheckpointPath, latestLastCheckpoint, runPaths, writeArgsYaml } from '../../src/train/run-dir.js';

const root = mkdtempSync(join(tmpdir(), 'run-dir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('run folder', () => {
  it('project/name, then name2, name3, ... each with weights/', () => {
    const project = join(root, 'runs', 'detect');
    const dirs = [0, 1, 2].map(() => createRunDir(project, 'train').dir);
    expect(dirs).toEqual([join(project, 'train'), join(project, 'train2'), join(project, 'train3')]);
    for (const d of dirs) expect(existsSync(join(d, 'weights'))).toBe(true);
    mkdirSync(join(project, 'exp'));
    expect(createRunDir(project, 'exp').dir).toBe(join(project, 'exp2'));
    expect(createRunDir(project, 'nested/name').dir).toBe(join(project, 'nested', 'name'));
  });

  it('paths of the outputs', () => {
    const p = runPaths('/r/train');
    expect(p).toEqual({
      dir: '/r/train',
      weights: '/r/train/weights',
      last: '/r/train/weights/last.safetensors',
      best: '/r/train/weights/best.safetensors',
      args: '/r/train/args.yaml',
      results: '/r/train/results.csv',
      resultsPlot: '/r/train/results.png',
      labelsPlot: '/r/train/labels.png',
    });
    expect(epochCheckpointPath(p, 10)).toBe('/r/train/weights/epoch10.safetensors');
  });

  it('args.yaml holds every option in order and reads back to the same values', () => {
    const paths = createRunDir(join(root, 'a'), 'train');
    const args = { ...defaultTrainArgs(), model: 'yolov8n.yaml', freeze: [0, 2], cache: 'ram' as const, lr0: 5e-3 };
    writeArgsYaml(paths, args);
    const text = readFileSync(paths.args, 'utf8');
    expect(text.split('\n')[0]).toBe('model: yolov8n.yaml');
    expect(Object.keys(YAML.parse(text))).toEqual(Object.keys(TRAIN_OPTIONS));
    expect(YAML.parse(text)).toEqual(args);
  });

  it('resume=True finds the newest weights/last under the project', () => {
    const project = join(root, 'b');
    expect(latestLastCheckpoint(project)).toBeNull();
    const older = createRunDir(project, 'train');
    const newer = createRunDir(project, 'train');
    writeFileSync(older.last, 'x');
    writeFileSync(newer.last, 'x');
    writeFileSync(join(newer.weights, 'best.safetensors'), 'x');
    utimesSync(older.last, new Date(2030, 0, 1), new Date(2030, 0, 1));
    expect(latestLastCheckpoint(project)).toBe(older.last);
    utimesSync(newer.last, new Date(2031, 0, 1), new Date(2031, 0, 1));
    expect(latestLastCheckpoint(project)).toBe(newer.last);
  });
});
