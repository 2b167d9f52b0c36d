/**
 * Dataset yaml in the Ultralytics format (`check_det_dataset`):
 *
 * ```yaml
 * path: coco8            # dataset root; relative -> see resolveRoot
 * train: images/train    # a directory, a .txt list of images, a COCO .json, or a list of these
 * val: [images/val, extra.txt]
 * test:                  # optional
 * names: {0: person, 1: bicycle}   # or a list; `nc` optional (must agree)
 * ```
 *
 * COCO JSON annotations are an alternative input: a split given as `instances_val.json`
 * (images looked up next to the json, under the root, `<root>/images/<name>` or `<root>/<name>`,
 * where `<name>` is the json name without `instances_`), or as a mapping
 * `{annotations: instances_val.json, images: images/val}`. Without `names`, the class names
 * come from the first COCO file's categories (sorted by id).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { UserError } from '../errors.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

/** One entry of a split: where its images (and labels) come from. */
export type SplitSource =
  | { kind: 'dir'; path: string; spec: string }
  | { kind: 'list'; path: string; spec: string }
  | { kind: 'coco'; path: string; images: string | null; spec: string };

export interface DatasetConfig {
  /** Absolute path of the yaml file. */
  yamlFile: string;
  /** Absolute dataset root (`path`, resolved). */
  root: string;
  names: string[];
  nc: number;
  /** Sources per split; a split absent from the yaml is absent here. */
  splits: Partial<Record<SplitName, SplitSource[]>>;
  /** The parsed yaml, for keys this module does not interpret (`download`, `channels`, ...). */
  raw: Record<string, unknown>;
}

/** Reads and validates a dataset yaml; every problem is a UserError naming the file (and line). */
export function loadDatasetYaml(file: string): DatasetConfig {
  const yamlFile = resolve(file);
  if (!existsSync(yamlFile)) throw new UserError(`dataset yaml not found: ${yamlFile}`);
  if (statSync(yamlFile).isDirectory()) throw new UserError(`${yamlFile} is a directory, expected a dataset .yaml file`);
  let text: string;
  try {
    text = readFileSync(yamlFile, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read dataset yaml ${yamlFile}: ${(err as Error).message}`);
  }
  return parseDatasetYaml(text, yamlFile);
}

/** Parses dataset yaml text; `yamlFile` (absolute) anchors relative paths and error messages. */
export function parseDatasetYaml(text: string, yamlFile: string): DatasetConfig {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    const where = pos ? `${yamlFile}:${pos.line}:${pos.col}` : yamlFile;
    const msg = e.message.replace(/ at line \d+, column \d+:/, ':').trimEnd();
    throw new UserError(`${where}: invalid yaml: ${msg}`);
  }
  const raw = doc.toJS() as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`${yamlFile}: a dataset yaml must be a mapping with path/train/val/names, got ${describe(raw)}`);
  }
  const data = { ...(raw as Record<string, unknown>) };
  if (data.validation !== undefined && data.val === undefined) data.val = data.validation;
  const lineOf = (key: string): string => {
    const node = doc.contents && YAML.isMap(doc.contents) ? doc.contents.items.find((p) => YAML.isScalar(p.key) && p.key.value === key) : undefined;
    const offset = node && YAML.isScalar(node.key) ? node.key.range?.[0] : undefined;
    if (offset === undefined) return yamlFile;
    return `${yamlFile}:${text.slice(0, offset).split('\n').length}`;
  };

  const root = resolveRoot(data.path, yamlFile, lineOf('path'));
  const splits: Partial<Record<SplitName, SplitSource[]>> = {};
  for (const split of SPLITS) {
    const value = data[split];
    if (value === undefined || value === null || value === '') continue;
    const key = split === 'val' && !('val' in (raw as object)) ? 'validation' : split;
    splits[split] = parseSplit(value, root, `${lineOf(key)}: \`${key}\``);
  }
  if (!splits.train && !splits.val && !splits.test) {
    throw new UserError(`${yamlFile}: no \`train\`, \`val\` or \`test\` split (each a directory, a .txt list of images or a COCO .json, relative to \`path\`)`);
  }

  let names = parseNames(data.names, lineOf('names'));
  if (names === null) {
    const coco = SPLITS.flatMap((s) => splits[s] ?? []).find((s) => s.kind === 'coco');
    if (!coco) {
      throw new UserError(
        `${yamlFile}: missing \`names\`: give the class names as a list (names: [person, car]) or a map (names: {0: person, 1: car})`,
      );
    }
    names = cocoCategoryNames(coco.path);
  }
  if (data.nc !== undefined && data.nc !== null) {
    const nc = data.nc;
    if (typeof nc !== 'number' || !Number.isInteger(nc) || nc < 1) {
      throw new UserError(`${lineOf('nc')}: \`nc\` must be a positive integer, got ${describe(nc)}`);
    }
    if (nc !== names.length) {
      throw new UserError(`${lineOf('nc')}: \`nc: ${nc}\` disagrees with the ${names.length} entries of \`names\``);
    }
  }
  const channels = data.channels;
  if (channels !== undefined && channels !== 3) {
    throw new UserError(`${lineOf('channels')}: only 3-channel (RGB) datasets are supported, got channels: ${describe(channels)}`);
  }
  return { yamlFile, root, names, nc: names.length, splits, raw: data };
}

/**
 * The dataset root. Absolute `path` is used as is. A relative one is tried against the yaml's
 * folder and then each of its ancestors (the reference resolves it under its DATASETS_DIR; yamls
 * shipped next to their data, like `coco8/coco8.yaml` with `path: coco8`, resolve to the folder
 * that holds the yaml), then against $YOLO_WGPU_DATASETS_DIR. No `path`: the yaml's folder.
 */
function resolveRoot(path: unknown, yamlFile: string, where: string): string {
  const yamlDir = dirname(yamlFile);
  if (path === undefined || path === null || path === '') return yamlDir;
  if (typeof path !== 'string') throw new UserError(`${where}: \`path\` must be a string, got ${describe(path)}`);
  if (isAbsolute(path)) {
    if (!isDir(path)) throw new UserError(`${where}: dataset root \`path: ${path}\` is not a directory`);
    return resolve(path);
  }
  const tried: string[] = [];
  for (let dir = yamlDir; ; dir = dirname(dir)) {
    const candidate = resolve(dir, path);
    tried.push(candidate);
    if (isDir(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  const env = process.env.YOLO_WGPU_DATASETS_DIR;
  if (env) {
    const candidate = resolve(env, path);
    tried.push(candidate);
    if (isDir(candidate)) return candidate;
  }
  throw new UserError(
    `${where}: dataset root \`path: ${path}\` not found; tried ${tried.slice(0, 3).join(', ')}${tried.length > 3 ? ' and the folders above' : ''}`,
  );
}

function parseSplit(value: unknown, root: string, where: string): SplitSource[] {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new UserError(`${where} is an empty list`);
  return items.map((item) => {
    if (typeof item === 'string') return sourceFromString(item, root);
    if (item && typeof item === 'object' && !Array.isArray(item)) {
      const obj = item as Record<string, unknown>;
      const ann = obj.annotations ?? obj.json;
      if (typeof ann !== 'string') {
        throw new UserError(`${where}: a mapping entry must be {annotations: file.json, images: dir}, got ${describe(item)}`);
      }
      if (obj.images !== undefined && typeof obj.images !== 'string') {
        throw new UserError(`${where}: \`images\` must be a directory path, got ${describe(obj.images)}`);
      }
      return {
        kind: 'coco',
        path: resolveEntry(ann, root),
        images: typeof obj.images === 'string' ? resolveEntry(obj.images, root) : null,
        spec: ann,
      };
    }
    throw new UserError(`${where}: expected a path (directory, .txt list or .json) or a list of paths, got ${describe(item)}`);
  });
}

function sourceFromString(spec: string, root: string): SplitSource {
  const path = resolveEntry(spec, root);
  if (/\.json$/i.test(path)) return { kind: 'coco', path, images: null, spec };
  if (existsSync(path) && !statSync(path).isDirectory()) return { kind: 'list', path, spec };
  if (/\.txt$/i.test(path)) return { kind: 'list', path, spec };
  return { kind: 'dir', path, spec };
}

/** The reference's rule: `root / spec`, and if that does not exist and spec starts with `../`, `root / spec[3:]`. */
function resolveEntry(spec: string, root: string): string {
  if (isAbsolute(spec)) return resolve(spec);
  const p = resolve(root, spec);
  if (!existsSync(p) && spec.startsWith('../')) {
    const alt = resolve(root, spec.slice(3));
    if (existsSync(alt)) return alt;
  }
  return p;
}

function parseNames(value: unknown, where: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) {
    if (value.length === 0) throw new UserError(`${where}: \`names\` is an empty list`);
    return value.map((v, i) => nameString(v, `${where}: names[${i}]`));
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) throw new UserError(`${where}: \`names\` is an empty map`);
    const names: string[] = new Array(entries.length);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!/^\d+$/.test(k) || i >= entries.length) {
        throw new UserError(
          `${where}: \`names\` keys must be the class ids 0..${entries.length - 1}, got key ${JSON.stringify(k)}`,
        );
      }
      names[i] = nameString(v, `${where}: names[${k}]`);
    }
    return names;
  }
  throw new UserError(`${where}: \`names\` must be a list or a map of class id to name, got ${describe(value)}`);
}

function nameString(v: unknown, where: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new UserError(`${where} must be a string, got ${describe(v)}`);
}

function cocoCategoryNames(jsonFile: string): string[] {
  if (!existsSync(jsonFile)) throw new UserError(`COCO annotations not found: ${jsonFile}`);
  let doc: { categories?: { id: number; name: string }[] };
  try {
    doc = JSON.parse(readFileSync(jsonFile, 'utf8')) as typeof doc;
  } catch (err) {
    throw new UserError(`${jsonFile}: invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc.categories) || doc.categories.length === 0) {
    throw new UserError(`${jsonFile}: no \`categories\`; give \`names\` in the dataset yaml`);
  }
  return [...doc.categories].sort((a, b) => a.id - b.id).map((c) => String(c.name));
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Short display name of a split source. */
export function sourceLabel(s: SplitSource): string {
  return s.kind === 'dir' ? s.path : `${s.path} (${s.kind === 'list' ? 'image list' : 'COCO json'})`;
}
