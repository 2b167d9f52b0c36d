/**
 * Our checkpoint: one safetensors file (written atomically) with the model's state dict in
 * PyTorch names and layouts (f32), optional training tensors under `training.`, and JSON
 * metadata: the model yaml it was built from, class names, nc, the SPPF variant and an
 * optional training state (epoch, optimizer settings, ...).
 */
import { UserError } from '../errors.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import type { HostEntry } from '../nn/module.js';
import type { DetectionModel } from './detection-model.js';
import { checkModelYaml, type ModelYaml } from './model-yaml.js';
import type { SppfVariant } from './modules/sppf.js';

export const CHECKPOINT_FORMAT = 'yolo-wgpu-checkpoint';
const FORMAT_VERSION = '1';
const TRAINING_PREFIX = 'training.';

export interface Checkpoint {
  yaml: ModelYaml;
  names: string[];
  nc: number;
  sppf: SppfVariant;
  stateDict: Map<string, HostEntry>;
  /** Training state as saved (JSON), or null. */
  training: Record<string, unknown> | null;
  /** Training tensors (optimizer buffers, EMA, ...) by the names they were saved under. */
  trainingTensors: Map<string, HostEntry>;
}

export interface SaveOptions {
  /** The weights to store instead of the model's own (a training checkpoint stores its EMA's, as the reference). */
  stateDict?: Map<string, HostEntry>;
  training?: Record<string, unknown>;
  trainingTensors?: Map<string, HostEntry>;
}

/** Reads the model back from the GPU and writes the checkpoint atomically. */
export async function saveCheckpoint(path: string, model: DetectionModel, o: SaveOptions = {}): Promise<void> {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of o.stateDict ?? (await model.stateDict())) tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
  for (const [name, t] of o.trainingTensors ?? []) tensors.set(TRAINING_PREFIX + name, { dtype: 'F32', shape: t.shape, data: t.data });
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: FORMAT_VERSION,
    model: JSON.stringify(model.yaml),
    names: JSON.stringify(model.names ?? []),
    nc: String(model.nc),
    sppf: model.sppf,
  };
  if (o.training) metadata.training = JSON.stringify(o.training);
  writeSafetensors(path, tensors, metadata);
}

/** Whether a safetensors file's metadata marks it as our checkpoint. */
export function isCheckpoint(metadata: Record<string, string>): boolean {
  return metadata.format === CHECKPOINT_FORMAT;
}

function parseJson(file: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new UserError(`${file}: checkpoint metadata has no '${key}'`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: checkpoint metadata '${key}' is not valid JSON (${(e as Error).message})`);
  }
}

export function loadCheckpoint(path: string): Checkpoint {
  return checkpointFromFile(SafetensorsFile.open(path));
}

/** Decodes an opened checkpoint file (see isCheckpoint). */
export function checkpointFromFile(f: SafetensorsFile): Checkpoint {
  const file = f.file;
  const m = f.metadata;
  if (!isCheckpoint(m)) throw new UserError(`${file}: not a yolo-wgpu checkpoint (its metadata has no format '${CHECKPOINT_FORMAT}')`);
  if (m.format_version !== FORMAT_VERSION) throw new UserError(`${file}: checkpoint format version ${m.format_version}, this version reads ${FORMAT_VERSION}`);
  const yaml = checkModelYaml(parseJson(file, 'model', m.model), `${file} (metadata 'model')`);
  const names = parseJson(file, 'names', m.names);
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw new UserError(`${file}: checkpoint metadata 'names' must be a list of strings`);
  const nc = Number(m.nc);
  if (!Number.isInteger(nc) || nc < 1) throw new UserError(`${file}: checkpoint metadata 'nc' is '${m.nc}', expected a positive integer`);
  if (m.sppf !== '8.3' && m.sppf !== '8.4') throw new UserError(`${file}: checkpoint metadata 'sppf' is '${m.sppf}', expected 8.3 or 8.4`);
  const training = m.training === undefined ? null : parseJson(file, 'training', m.training);
  const stateDict = new Map<string, HostEntry>();
  const trainingTensors = new Map<string, HostEntry>();
  for (const name of f.names) {
    const t = f.getFloat32(name);
    if (name.startsWith(TRAINING_PREFIX)) trainingTensors.set(name.slice(TRAINING_PREFIX.length), t);
    else stateDict.set(name, t);
  }
  return { yaml, names: names as string[], nc, sppf: m.sppf, stateDict, training: training as Record<string, unknown> | null, trainingTensors };
}
