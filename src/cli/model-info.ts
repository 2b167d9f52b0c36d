import { Engine } from '../gpu/engine.js';
import { buildModel } from '../yolo/build.js';
import { modelSummary } from '../yolo/model-summary.js';
import { printJson } from './format.js';

/** Python-like rendering of resolved arguments ([3, 16, 3, 2], True, None). */
function formatArg(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(formatArg).join(', ')}]`;
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (v === null || v === undefined) return 'None';
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/** The layer table and totals of a model yaml, built in meta mode (no GPU needed). */
export function printModelInfo(spec: string, o: { json?: boolean; imgsz?: number } = {}): void {
  const model = buildModel(Engine.meta(), spec);
  const s = modelSummary(model, o.imgsz ?? 640);
  if (o.json) {
    printJson({ model: spec, scale: model.yaml.scale ?? null, nc: model.nc, stride: model.stride, ...s });
    return;
  }
  const rows = [['', 'from', 'n', 'params', 'module', 'arguments'], ...s.layers.map((l) => [String(l.index), formatArg(l.from), String(l.repeats), l.params.toLocaleString('en-US'), l.module, formatArg(l.args)])];
  const width = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 4 ? cell.padStart(width[c]) : cell.padEnd(width[c]))).join('  ').trimEnd();
  const total = `${spec} summary: ${s.layers.length} layers, ${s.params.toLocaleString('en-US')} parameters, ${s.gradients.toLocaleString('en-US')} gradients, ${s.gflops.toFixed(1)} GFLOPs at ${s.imgsz}x${s.imgsz}`;
  process.stdout.write(`${rows.map(line).join('\n')}\n${total}\n`);
}
