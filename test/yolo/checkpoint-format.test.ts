import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../../src/io/safetensors.js';
import { buildModel } from '../../src/yolo/build.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/yolo/checkpoint-format.js';
import { loadWeights, modelFromWeights, readWeights } from '../../src/yolo/weights.js';
import { testEngine } from '../helpers/gpu.js';
import { FIXTURES } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoint format', () => {
  it('round-trips weights, model yaml, names, nc, SPPF variant and training state', async () => {
    const engine = await testEngine();
    const model = buildModel(engine, 'yolo11n.yaml', { names: Array.from({ length: 80 }, (_, i) => `class ${i}`), sppf: '8.3' });
    loadWeights(model, `${FIXTURES}/11n-rand.weights.safetensors`);
    const path = join(dir, 'last.safetensors');
    const momentum = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    await saveCheckpoint(path, model, { training: { epoch: 7, lr: [0.01, 0.01, 0.01] }, trainingTensors: new Map([['sgd.0.momentum', momentum]]) });
    expect(readdirSync(dir)).toEqual(['last.safetensors']);

    const c = loadCheckpoint(path);
    expect([c.nc, c.names[3], c.sppf, c.yaml.scale, c.yaml.yaml_file]).toEqual([80, 'class 3', '8.3', 'n', 'yolo11n.yaml']);
    expect(c.training).toEqual({ epoch: 7, lr: [0.01, 0.01, 0.01] });
    expect(c.trainingTensors).toEqual(new Map([['sgd.0.momentum', momentum]]));
    expect(c.stateDict).toEqual(readWeights(`${FIXTURES}/11n-rand.weights.safetensors`).stateDict);

    const rebuilt = modelFromWeights(engine, path);
    expect([rebuilt.sppf, rebuilt.names?.[79], rebuilt.parameterCount()]).toEqual(['8.3', 'class 79', 2_624_080]);
    expect(await rebuilt.stateDict()).toEqual(c.stateDict);
    model.dispose();
    rebuilt.dispose();
  });

  it('rejects safetensors files that are not checkpoints or come from another format version', () => {
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, { w: { shape: [1], data: Float32Array.from([1]) } });
    expect(() => loadCheckpoint(plain)).toThrow(/plain\.safetensors: not a yolo-wgpu checkpoint/);
    const future = join(dir, 'future.safetensors');
    const meta = SafetensorsFile.open(join(dir, 'last.safetensors')).metadata;
    writeSafetensors(future, { w: { shape: [1], data: Float32Array.from([1]) } }, { ...meta, format_version: '9' });
    expect(() => loadCheckpoint(future)).toThrow(/future\.safetensors: checkpoint format version 9, this version reads 1/);
  });
});
