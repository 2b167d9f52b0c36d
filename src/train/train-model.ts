/**
 * The network a run trains: built from a model yaml (from scratch) or from weights to fine-tune
 * (an Ultralytics .pt or our checkpoint: the file's architecture, its tensors transferred where
 * name and shape match, as the reference's `intersect_dicts`), with the dataset's classes; then
 * `freeze` applied (frozen layers get no gradients and keep BatchNorm in eval mode).
 */
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { HostEntry } from '../nn/module.js';
import { buildFromYaml, buildModel } from '../yolo/build.js';
import type { DetectionModel } from '../yolo/detection-model.js';
import { readWeights } from '../yolo/weights.js';

/** `yolov8n.yaml`, a path ending in .yaml / .yml: train from scratch; anything else is a weights file. */
export function isModelYaml(model: string): boolean {
  return /\.ya?ml$/i.test(model);
}

export interface TrainModelOptions {
  nc: number;
  names: string[];
  /** Seed of the initialization (from scratch). */
  seed: number;
  log: (line: string) => void;
}

/** PyTorch's layout of one of our tensor shapes (convolution weights are stored O,KH,KW,I). */
const fileShape = (shape: readonly number[]) => (shape.length === 4 ? [shape[0], shape[3], shape[1], shape[2]] : [...shape]);

/** Builds the model of `model=` for a dataset of `nc` classes. */
export async function createTrainModel(engine: Engine, model: string, o: TrainModelOptions): Promise<DetectionModel> {
  if (isModelYaml(model)) return buildModel(engine, model, { nc: o.nc, names: o.names, seed: o.seed });
  const w = readWeights(model);
  if (!w.model) throw new UserError(`model=${model}: a plain safetensors state dict does not say which network it holds; give a model yaml (yolov8n.yaml) or an Ultralytics .pt or yolo-wgpu checkpoint`);
  const net = buildFromYaml(engine, w.model.yaml, model, { nc: o.nc, names: o.names, sppf: w.model.sppf, seed: o.seed });
  // Start from the fresh initialization and overwrite every tensor the file has in the same name and shape.
  const own = new Map<string, readonly number[]>([
    ...net.namedParameters().map(([n, v]) => [n, v.shape] as const),
    ...net.namedBuffers().map(([n, t]) => [n, t.shape] as const),
  ]);
  const fitting = new Map<string, HostEntry>();
  for (const [name, entry] of w.stateDict) {
    const shape = own.get(name);
    if (shape && fileShape(shape).join() === entry.shape.join()) fitting.set(name, entry);
  }
  if (fitting.size === 0) throw new UserError(`model=${model}: none of its tensors fit the network it describes`);
  const merged = await net.stateDict();
  for (const [name, entry] of fitting) merged.set(name, entry);
  net.loadStateDict(merged, { strict: true, source: model });
  o.log(`Transferred ${fitting.size}/${own.size} items from ${basename(model)}`);
  return net;
}

/** The layer indices `freeze` names: the first N layers, or the listed ones. */
export function frozenLayers(freeze: number | number[] | null, layerCount: number): number[] {
  if (freeze === null) return [];
  const list = typeof freeze === 'number' ? Array.from({ length: Math.min(freeze, layerCount) }, (_, i) => i) : [...new Set(freeze)];
  const outside = list.filter((i) => i >= layerCount);
  if (outside.length > 0) throw new UserError(`freeze=[${freeze}]: the model has layers 0..${layerCount - 1}, not ${outside.join(', ')}`);
  return list.sort((a, b) => a - b);
}

/** Frozen layers' parameters stop requiring gradients (so get no gradient buffers and no optimizer state). */
export function freezeLayers(model: DetectionModel, layers: readonly number[], log: (line: string) => void): void {
  for (const i of layers) {
    for (const [name, v] of model.layers[i].module.namedParameters(`model.${i}.`)) {
      if (v.requiresGrad) log(`Freezing layer '${name}'`);
      v.requiresGrad = false;
    }
  }
}

/** Train mode for the model, eval mode for the frozen layers (their BatchNorm statistics stay as loaded). */
export function setTrainMode(model: DetectionModel, frozen: readonly number[]): void {
  model.train();
  for (const i of frozen) model.layers[i].module.eval();
}
