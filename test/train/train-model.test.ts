import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { referenceParamGroups } from '../../src/nn/optim.js';
import { createTrainModel, freezeLayers, frozenLayers, isModelYaml, setTrainMode } from '../../src/train/train-model.js';
import { readWeights } from '../../src/yolo/weights.js';
import { testEngine } from '../helpers/gpu.js';
import { FIXTURES } from '../helpers/shared.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

describe('the model a run trains', () => {
  it('a yaml trains from scratch, anything else is weights', () => {
    expect([isModelYaml('yolov8n.yaml'), isModelYaml('cfg/my.YML'), isModelYaml('yolov8n.pt'), isModelYaml('runs/w/last.safetensors')]).toEqual([true, true, false, false]);
  });

  it('fine-tuning transfers every tensor of the same name and shape: all of them for the same classes, all but the class outputs for others', async () => {
    const engine = await testEngine();
    const pt = `${FIXTURES}/v8n320-coco128.pt`;
    const lines: string[] = [];
    const same = await createTrainModel(engine, pt, { nc: 80, names: names(80), seed: 0, log: (l) => lines.push(l) });
    const file = readWeights(pt).stateDict;
    const total = same.namedParameters().length + same.namedBuffers().length;
    expect(lines).toEqual([`Transferred ${total}/${total} items from v8n320-coco128.pt`]);
    const w = (await same.stateDict()).get('model.22.cv3.2.2.bias')!;
    expect(Array.from(w.data)).toEqual(Array.from(file.get('model.22.cv3.2.2.bias')!.data));
    same.dispose();

    lines.length = 0;
    const two = await createTrainModel(engine, pt, { nc: 2, names: names(2), seed: 0, log: (l) => lines.push(l) });
    // The class branches are max(c2, min(nc, 100)) wide: with 2 classes every tensor of model.22.cv3 changes shape.
    const classBranch = two.namedParameters().map(([n]) => n).concat(two.namedBuffers().map(([n]) => n)).filter((n) => n.startsWith('model.22.cv3.'));
    expect(classBranch).toHaveLength(36);
    expect(lines).toEqual([`Transferred ${total - 36}/${total} items from v8n320-coco128.pt`]);
    expect(two.nc).toBe(2);
    const sd = await two.stateDict();
    expect(Array.from(sd.get('model.0.conv.weight')!.data)).toEqual(Array.from(file.get('model.0.conv.weight')!.data));
    two.dispose();
  });

  it('freeze: the first N layers or a list; frozen parameters need no gradient, leave the optimizer groups, and their BatchNorm stays in eval', async () => {
    const engine = await testEngine();
    expect(frozenLayers(null, 23)).toEqual([]);
    expect(frozenLayers(3, 23)).toEqual([0, 1, 2]);
    expect(frozenLayers([4, 1, 4], 23)).toEqual([1, 4]);
    expect(() => frozenLayers([30], 23)).toThrow(UserError);
    const model = await createTrainModel(engine, 'yolov8n.yaml', { nc: 3, names: names(3), seed: 1, log: () => {} });
    const before = referenceParamGroups(model, 0.01, 5e-4, 0.9).reduce((n, g) => n + g.params.length, 0);
    const lines: string[] = [];
    freezeLayers(model, [0, 1], (l) => lines.push(l));
    expect(lines).toEqual(['model.0.conv.weight', 'model.0.bn.weight', 'model.0.bn.bias', 'model.1.conv.weight', 'model.1.bn.weight', 'model.1.bn.bias'].map((n) => `Freezing layer '${n}'`));
    const after = referenceParamGroups(model, 0.01, 5e-4, 0.9).reduce((n, g) => n + g.params.length, 0);
    expect(before - after).toBe(6);
    setTrainMode(model, [0, 1]);
    expect([model.layers[0].module.training, model.layers[1].module.training, model.layers[2].module.training]).toEqual([false, false, true]);
    expect(model.namedModules().filter(([n]) => n.startsWith('model.1.')).every(([, m]) => !m.training)).toBe(true);
    model.dispose();
  });
});
