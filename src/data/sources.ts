/**
 * Image discovery for a split (`BaseDataset.get_img_files`): directories searched recursively
 * for the reference's image suffixes, `.txt` lists of image paths (relative lines resolved
 * against the list's folder), COCO JSON files. The result is sorted and de-duplicated.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { readCocoJson } from './coco-json.js';
import type { DatasetConfig, SplitName } from './dataset-yaml.js';
import type { RawLabelRow } from './labels.js';
import { labelPathFor } from './labels.js';
import type { Problem } from './problems.js';

export const IMAGE_SUFFIXES = ['bmp', 'dng', 'jpeg', 'jpg', 'mpo', 'png', 'tif', 'tiff', 'webp', 'pfm', 'heic'];
const SUFFIX_SET = new Set(IMAGE_SUFFIXES);

/** One image of a split with where its labels come from. */
export interface SplitItem {
  imFile: string;
  label:
    | { kind: 'txt'; file: string }
    | { kind: 'coco'; file: string; rows: RawLabelRow[]; problems: Problem[]; width: number; height: number };
}

export function isImageFile(path: string): boolean {
  return SUFFIX_SET.has(extname(path).slice(1).toLowerCase());
}

/** Every image of a split, sorted by path. Throws a UserError for missing sources or no images. */
export function listSplit(config: DatasetConfig, split: SplitName): SplitItem[] {
  const sources = config.splits[split];
  if (!sources) {
    const have = Object.keys(config.splits).join(', ');
    throw new UserError(`${config.yamlFile}: no \`${split}\` split (the yaml has: ${have})`);
  }
  const items = new Map<string, SplitItem>();
  for (const src of sources) {
    const where = `${config.yamlFile}: \`${split}: ${src.spec}\``;
    if (src.kind === 'coco') {
      for (const c of readCocoJson(src.path, src.images, config.root, config.names)) {
        items.set(c.imFile, {
          imFile: c.imFile,
          label: { kind: 'coco', file: src.path, rows: c.rows, problems: c.problems, width: c.width, height: c.height },
        });
      }
      continue;
    }
    if (!existsSync(src.path)) {
      throw new UserError(`${where}: ${src.path} does not exist (resolved against the dataset root ${config.root})`);
    }
    const files = src.kind === 'dir' ? walkImages(src.path) : readList(src.path);
    for (const f of files) items.set(f, { imFile: f, label: { kind: 'txt', file: labelPathFor(f) } });
  }
  if (items.size === 0) {
    const where = sources.map((s) => s.path).join(', ');
    throw new UserError(`no images found for split \`${split}\` in ${where} (looked for ${IMAGE_SUFFIXES.map((s) => `*.${s}`).join(' ')})`);
  }
  return [...items.values()].sort((a, b) => (a.imFile < b.imFile ? -1 : a.imFile > b.imFile ? 1 : 0));
}

function walkImages(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return readList(dir);
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if ((e.isFile() || e.isSymbolicLink()) && isImageFile(e.name)) out.push(p);
    }
  }
  return out;
}

function readList(file: string): string[] {
  const base = dirname(file);
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => (isAbsolute(l) ? l : resolve(base, l)))
    .filter(isImageFile);
}
