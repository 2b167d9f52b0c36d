/**
 * COCO JSON detection annotations (`instances_*.json`) as an alternative to YOLO label files.
 * Boxes are `[x, y, width, height]` in pixels from the top-left corner; they become normalized
 * xywh rows (one "line" per annotation, numbered by annotation id). `iscrowd` annotations are
 * skipped as the reference's COCO converter does. Categories map to `names` by name when the
 * names came from the yaml, else by their rank in the id-sorted category list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { RawLabelRow } from './labels.js';
import type { Problem } from './problems.js';

interface CocoDoc {
  images?: { id: number; file_name: string; width?: number; height?: number }[];
  annotations?: { id?: number; image_id: number; category_id: number; bbox: number[]; iscrowd?: number }[];
  categories?: { id: number; name: string }[];
}

export interface CocoItem {
  imFile: string;
  /** Image size recorded in the JSON (the annotations' pixel frame). */
  width: number;
  height: number;
  rows: RawLabelRow[];
  problems: Problem[];
}

/** Reads a COCO JSON file into per-image label rows. `imagesDir` null: searched (see dataset-yaml). */
export function readCocoJson(jsonFile: string, imagesDir: string | null, root: string, names: readonly string[]): CocoItem[] {
  if (!existsSync(jsonFile)) throw new UserError(`COCO annotations not found: ${jsonFile}`);
  let doc: CocoDoc;
  try {
    doc = JSON.parse(readFileSync(jsonFile, 'utf8')) as CocoDoc;
  } catch (err) {
    throw new UserError(`${jsonFile}: invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc.images) || !Array.isArray(doc.annotations)) {
    throw new UserError(`${jsonFile}: not COCO detection annotations (needs \`images\` and \`annotations\` arrays)`);
  }
  const categories = [...(doc.categories ?? [])].sort((a, b) => a.id - b.id);
  const nameIndex = new Map(names.map((n, i) => [n, i]));
  const catToClass = new Map<number, number>();
  categories.forEach((c, rank) => {
    const byName = nameIndex.get(String(c.name));
    catToClass.set(c.id, byName ?? (names.length === categories.length ? rank : -1));
  });

  const dir = imagesDir ?? findImagesDir(jsonFile, root, doc.images.map((i) => i.file_name));
  const byId = new Map<number, CocoItem>();
  const items: CocoItem[] = [];
  for (const im of doc.images) {
    const item: CocoItem = { imFile: resolve(dir, im.file_name), width: im.width ?? 0, height: im.height ?? 0, rows: [], problems: [] };
    byId.set(im.id, item);
    items.push(item);
  }
  for (const a of doc.annotations) {
    const item = byId.get(a.image_id);
    if (!item || a.iscrowd) continue;
    const line = a.id ?? item.rows.length + 1;
    const cls = catToClass.get(a.category_id);
    if (cls === undefined || cls < 0) {
      item.problems.push({
        file: jsonFile,
        annotation: line,
        kind: 'class-id',
        severity: 'error',
        message: `category ${a.category_id} has no entry in names`,
      });
      continue;
    }
    const [x, y, w, h] = a.bbox ?? [];
    if (![x, y, w, h].every((v) => typeof v === 'number' && Number.isFinite(v))) {
      item.problems.push({ file: jsonFile, annotation: line, kind: 'non-numeric', severity: 'error', message: `bbox ${JSON.stringify(a.bbox)} is not 4 numbers` });
      continue;
    }
    if (!(item.width > 0 && item.height > 0)) {
      item.problems.push({ file: jsonFile, annotation: line, kind: 'columns', severity: 'error', message: `image ${basename(item.imFile)} has no width/height in the JSON` });
      continue;
    }
    item.rows.push({ line, annotation: true, cls, box: [(x + w / 2) / item.width, (y + h / 2) / item.height, w / item.width, h / item.height] });
  }
  return items;
}

function findImagesDir(jsonFile: string, root: string, files: string[]): string {
  const stem = basename(jsonFile).replace(/\.json$/i, '').replace(/^instances_/, '');
  const candidates = [dirname(jsonFile), root, join(root, 'images', stem), join(root, stem), join(dirname(jsonFile), '..', 'images', stem)];
  const probe = files.slice(0, 5);
  if (probe.length === 0) return dirname(jsonFile);
  for (const c of candidates) if (probe.some((f) => existsSync(join(c, f)))) return resolve(c);
  throw new UserError(
    `${jsonFile}: images not found (e.g. ${probe[0]}); looked in ${candidates.map((c) => resolve(c)).join(', ')}. ` +
      'Give the folder as {annotations: file.json, images: dir} in the dataset yaml',
  );
}
