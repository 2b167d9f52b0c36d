/**
 * Weights into a DetectionModel from Ultralytics `.pt` checkpoints (the `ema` model if
 * present, else `model`), plain safetensors state dicts and our checkpoints; and a model built
 * from a `.pt` or our checkpoint alone.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { dictGet, isObject, type PickleValue } from '../io/pickle.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { loadTorchCheckpoint, type UltralyticsCheckpoint } from '../io/torch-checkpoint.js';
import type { HostEntry } from '../nn/module.js';
import { buildFromYaml } from './build.js';
import { checkpointFromFile, isCheckpoint } from './checkpoint-format.js';
import type { DetectionModel } from './detection-model.js';
import { checkModelYaml, type ModelYaml } from './model-yaml.js';
import type { SppfVariant } from './modules/sppf.js';

export type WeightsFormat = 'ultralytics-pt' | 'checkpoint' | 'safetensors';

export interface WeightsFile {
  file: string;
  format: WeightsFormat;
  /** PyTorch names and layouts, f32. */
  stateDict: Map<string, HostEntry>;
  /** What the file says about the model (absent for a plain state dict). */
  model?: { yaml: ModelYaml; nc: number; names: string[]; sppf: SppfVariant };
}

function magic(path: string): Buffer {
  const head = Buffer.alloc(4);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new UserError(`${path}: cannot read weights (${(e as Error).message})`, { cause: e });
  }
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  return head;
}

/** The pickled module at `path` of attribute names below `root` (through `_modules`). */
function submodule(root: PickleValue | undefined, ...path: string[]): PickleValue | undefined {
  return path.reduce<PickleValue | undefined>((m, name) => (isObject(m) ? dictGet(dictGet(m.state, '_modules'), name) : undefined), root);
}

/**
 * Which SPPF the pickled model has: 8.4 builds cv1 with an Identity activation, 8.3 with SiLU.
 * Read from the pickled modules themselves, not guessed from the version.
 */
function sppfVariantOf(ckpt: UltralyticsCheckpoint): SppfVariant {
  const layers = submodule(ckpt.raw.get(ckpt.source), 'model');
  const modules = isObject(layers) ? dictGet(layers.state, '_modules') : undefined;
  for (const layer of modules instanceof Map ? modules.values() : []) {
    if (!isObject(layer) || !layer.cls.endsWith('.SPPF')) continue;
    const act = submodule(layer, 'cv1', 'act');
    return isObject(act) && act.cls.endsWith('.Identity') ? '8.4' : '8.3';
  }
  return '8.4';
}

/** Reads any supported weights file; the format is recognized from its content. */
export function readWeights(path: string): WeightsFile {
  if (magic(path).subarray(0, 2).toString('latin1') === 'PK') {
    const ckpt = loadTorchCheckpoint(path);
    const nc = ckpt.nc;
    const names = Array.from({ length: nc }, (_, i) => ckpt.names[i] ?? String(i));
    const model = ckpt.yaml ? { yaml: checkModelYaml(ckpt.yaml, `${path} (model yaml)`), nc, names, sppf: sppfVariantOf(ckpt) } : undefined;
    return { file: path, format: 'ultralytics-pt', stateDict: ckpt.stateDict, model };
  }
  if (/\.(pt|pth)$/i.test(path)) {
    throw new UserError(`${path}: not a PyTorch checkpoint (a .pt file is a zip archive starting with 'PK'; this one starts with ${JSON.stringify(magic(path).subarray(0, 8).toString('latin1'))})`);
  }
  const f = SafetensorsFile.open(path);
  if (isCheckpoint(f.metadata)) {
    const c = checkpointFromFile(f);
    return { file: path, format: 'checkpoint', stateDict: c.stateDict, model: { yaml: c.yaml, nc: c.nc, names: c.names, sppf: c.sppf } };
  }
  const stateDict = new Map<string, HostEntry>();
  for (const name of f.names) stateDict.set(name, f.getFloat32(name));
  return { file: path, format: 'safetensors', stateDict };
}

const list = (names: string[]) => `${names.slice(0, 4).join(', ')}${names.length > 4 ? `, ... (${names.length} in all)` : ''}`;

/** PyTorch's layout of one of our tensor shapes (convolution weights are stored O,KH,KW,I). */
const fileShape = (shape: readonly number[]) => (shape.length === 4 ? [shape[0], shape[3], shape[1], shape[2]] : [...shape]);

/** Every name and shape must match; errors name the file, the tensors and, for the class head, the nc it was trained for. */
function checkFits(model: DetectionModel, w: WeightsFile): void {
  const expected = new Map<string, readonly number[]>([
    ...model.namedParameters().map(([n, v]) => [n, v.shape] as const),
    ...model.namedBuffers().map(([n, t]) => [n, t.shape] as const),
  ]);
  const missing = [...expected.keys()].filter((k) => !w.stateDict.has(k));
  const unexpected = [...w.stateDict.keys()].filter((k) => !expected.has(k));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [missing.length ? `missing ${list(missing)}` : '', unexpected.length ? `unexpected ${list(unexpected)}` : ''].filter(Boolean);
    throw new UserError(`${w.file}: the weights do not fit this ${model.yaml.yaml_file ?? 'model'}: ${parts.join('; ')}`);
  }
  for (const [name, shape] of expected) {
    const want = fileShape(shape);
    const got = w.stateDict.get(name)!.shape;
    if (got.join() === want.join()) continue;
    const head = /^(.*)\.cv3\.\d+\./.exec(name);
    const fileNc = head && w.stateDict.get(`${head[1]}.cv3.0.2.bias`)?.shape[0];
    const hint = fileNc && fileNc !== model.nc ? ` (the file's class head has ${fileNc} classes, the model ${model.nc}: build it with nc ${fileNc})` : '';
    throw new UserError(`${w.file}: tensor ${name} has shape [${got}], the model expects [${want}]${hint}`);
  }
}

/** Loads a weights file (any supported format) into `model`. */
export function loadWeights(model: DetectionModel, path: string): WeightsFile {
  const w = readWeights(path);
  checkFits(model, w);
  model.loadStateDict(w.stateDict, { strict: true, source: path });
  return w;
}

/** Builds the model a `.pt` or our checkpoint describes and loads its weights. */
export function modelFromWeights(engine: Engine, path: string): DetectionModel {
  const w = readWeights(path);
  if (!w.model) {
    throw new UserError(`${path}: a plain safetensors state dict does not say which model it holds; build the model from its yaml (e.g. yolov8n.yaml) and load the weights into it`);
  }
  const { yaml, nc, names, sppf } = w.model;
  const model = buildFromYaml(engine, yaml, path, { nc, names, sppf, init: false });
  checkFits(model, w);
  model.loadStateDict(w.stateDict, { strict: true, source: path });
  return model;
}
