/**
 * Model yaml in the Ultralytics format: `nc`, `scales` ({letter: [depth, width, max_channels]}),
 * `backbone` and `head` lists of `[from, repeats, module, args]` rows. The YOLOv8 and YOLO11
 * structures ship in src/yolo/models; `yolov8n.yaml`-style names pick one and its scale.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import YAML from 'yaml';
import { UserError } from '../errors.js';
import { packageRoot } from '../package-root.js';

export type LayerRow = [from: number | number[], repeats: number, module: string, args: unknown[]];

export interface ModelYaml {
  nc: number;
  scales?: Record<string, [number, number, number]>;
  /** The scale letter this model uses (set from the name, as the reference's guess_model_scale). */
  scale?: string;
  depth_multiple?: number;
  width_multiple?: number;
  backbone: LayerRow[];
  head: LayerRow[];
  /** Anything else the file holds (kept for checkpoints). */
  [key: string]: unknown;
}

const BUILT_IN: Record<string, string> = { yolov8: 'yolov8.yaml', yolo11: 'yolo11.yaml' };

/** `yolov8n.yaml`, `yolo11s`, ... -> the built-in family and scale letter, or null. */
export function parseModelName(spec: string): { family: string; scale: string | undefined } | null {
  const m = /^(yolov8|yolo11)([nslmx])?(\.ya?ml)?$/i.exec(basename(spec));
  return m ? { family: m[1].toLowerCase(), scale: m[2]?.toLowerCase() } : null;
}

/**
 * Resolves a model spec: an existing yaml file, or a built-in name (`yolov8n.yaml`,
 * `yolo11x`). The scale comes from the name's letter (or the file's `scale` key); without
 * one the first scale is used, as the reference does.
 */
export function loadModelYaml(spec: string): ModelYaml {
  const name = parseModelName(spec);
  if (existsSync(spec) && !name) return parseModelYaml(readFileSync(spec, 'utf8'), spec);
  if (!name) {
    throw new UserError(`model '${spec}' is neither a yaml file nor a built-in model (yolov8{n,s,m,l,x}.yaml, yolo11{n,s,m,l,x}.yaml)`);
  }
  const file = existsSync(spec) ? spec : join(packageRoot(), 'src', 'yolo', 'models', BUILT_IN[name.family]);
  const yaml = parseModelYaml(readFileSync(file, 'utf8'), file);
  yaml.scale = name.scale ?? yaml.scale;
  yaml.yaml_file = basename(spec);
  return yaml;
}

/** Parses and checks model yaml text; problems are UserErrors naming the file and line. */
export function parseModelYaml(text: string, file: string): ModelYaml {
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    throw new UserError(`${pos ? `${file}:${pos.line}:${pos.col}` : file}: invalid yaml: ${e.message.replace(/ at line \d+, column \d+:/, ':').trimEnd()}`);
  }
  const lineOf = (path: (string | number)[]): string => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? file : `${file}:${text.slice(0, offset).split('\n').length}`;
  };
  return checkModelYaml(doc.toJS() as unknown, file, lineOf);
}

/** Checks the shape of a model dict (from a yaml file or a checkpoint). */
export function checkModelYaml(raw: unknown, source: string, lineOf: (path: (string | number)[]) => string = () => source): ModelYaml {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${source}: a model yaml must be a mapping with nc, backbone and head`);
  const d = raw as Record<string, unknown>;
  if (typeof d.nc !== 'number' || !Number.isInteger(d.nc) || d.nc < 1) throw new UserError(`${lineOf(['nc'])}: nc must be a positive integer, got ${JSON.stringify(d.nc)}`);
  if (d.scales !== undefined) {
    const ok = typeof d.scales === 'object' && d.scales !== null && Object.values(d.scales).every((s) => Array.isArray(s) && s.length === 3 && s.every((v) => typeof v === 'number' && v > 0));
    if (!ok) throw new UserError(`${lineOf(['scales'])}: scales must map letters to [depth, width, max_channels]`);
  }
  for (const part of ['backbone', 'head'] as const) {
    const rows = d[part];
    if (!Array.isArray(rows) || rows.length === 0) throw new UserError(`${lineOf([part])}: '${part}' must be a non-empty list of [from, repeats, module, args] rows`);
    rows.forEach((row: unknown, i) => {
      const ok =
        Array.isArray(row) &&
        row.length === 4 &&
        (Number.isInteger(row[0]) || (Array.isArray(row[0]) && row[0].length > 0 && row[0].every(Number.isInteger))) &&
        Number.isInteger(row[1]) &&
        row[1] >= 1 &&
        typeof row[2] === 'string' &&
        Array.isArray(row[3]);
      if (!ok) throw new UserError(`${lineOf([part, i])}: ${part}[${i}] is ${JSON.stringify(row)}, expected [from, repeats, module, args]`);
    });
  }
  return d as ModelYaml;
}

/** [depth, width, max_channels] of the model's scale (the first scale when none is set). */
export function scaleOf(yaml: ModelYaml, source: string): { scale: string | undefined; depth: number; width: number; maxChannels: number } {
  if (!yaml.scales) return { scale: undefined, depth: yaml.depth_multiple ?? 1, width: yaml.width_multiple ?? 1, maxChannels: Infinity };
  const letters = Object.keys(yaml.scales);
  const scale = yaml.scale ?? letters[0];
  const s = yaml.scales[scale];
  if (!s) throw new UserError(`${source}: scale '${scale}' is not one of ${letters.join(', ')}`);
  return { scale, depth: s[0], width: s[1], maxChannels: s[2] };
}
