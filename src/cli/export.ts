import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { Engine } from '../gpu/engine.js';
import { writeOnnx } from '../io/onnx-proto.js';
import { packageRoot } from '../package-root.js';
import { exportOnnx, OPSETS } from '../yolo/export/onnx.js';
import { modelFromWeights, readWeights } from '../yolo/weights.js';
import { formatBytes, printJson } from './format.js';
import { positiveInt, strideMultiple } from './options.js';

export interface ExportOptions {
  weights: string;
  format: string;
  imgsz: string;
  batch: string;
  opset: string;
  half?: boolean;
  dynamic?: boolean;
  json?: boolean;
}

/** What `export --json` prints. */
export interface ExportReport {
  path: string;
  format: 'onnx';
  bytes: number;
  /** `images` shape: numbers, or names of the symbolic axes with --dynamic. */
  input: (number | string)[];
  output: (number | string)[];
  opset: number;
  dtype: 'f32' | 'f16';
}

const FORMATS = ['onnx'];

/** `best.pt` -> `best.onnx`, beside it. */
export function onnxPathFor(weights: string): string {
  return weights.replace(/(\.[^./\\]*)?$/, '.onnx');
}

/**
 * `export`: the model of a weights file (Ultralytics .pt or our checkpoint) as ONNX with the
 * reference's input and output contract, written next to the weights. Needs no GPU: the model
 * is laid out on a meta engine and the weights come from the file.
 */
export function runExport(o: ExportOptions): ExportReport {
  if (!FORMATS.includes(o.format)) throw new UserError(`--format ${JSON.stringify(o.format)} is not supported (supported: ${FORMATS.join(', ')})`);
  const opset = Number(o.opset);
  if (!Number.isInteger(opset) || opset < OPSETS.min || opset > OPSETS.max) {
    throw new UserError(`--opset must be an integer from ${OPSETS.min} to ${OPSETS.max}, got ${JSON.stringify(o.opset)}`);
  }
  const batch = positiveInt(o.batch, '--batch');
  const size = positiveInt(o.imgsz, '--imgsz');
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const model = modelFromWeights(Engine.meta(), o.weights);
  const imgsz = strideMultiple(size, Math.max(...model.stride), '--imgsz', warn);
  const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  const onnx = exportOnnx(model, readWeights(o.weights).stateDict, {
    imgsz: [imgsz, imgsz],
    batch,
    half: o.half,
    dynamic: o.dynamic,
    opset,
    description: `yolo-wgpu export of ${o.weights}`,
    producerVersion: version,
  });
  const path = onnxPathFor(o.weights);
  writeOnnx(path, onnx);
  const shape = (i: { shape?: readonly (number | string | null)[] }) => (i.shape ?? []).map((d) => d ?? '?');
  const report: ExportReport = {
    path,
    format: 'onnx',
    bytes: statSync(path).size,
    input: shape(onnx.graph.inputs[0]),
    output: shape(onnx.graph.outputs[0]),
    opset,
    dtype: o.half ? 'f16' : 'f32',
  };
  warn(`ONNX: opset ${opset}, ${report.dtype}, images [${report.input}] -> output0 [${report.output}], ${formatBytes(report.bytes)}`);
  if (o.json) printJson(report);
  else process.stdout.write(`${path}\n`);
  return report;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('export a model to ONNX (input images [B,3,H,W], output output0 [B,4+nc,anchors]), written next to the weights')
    .requiredOption('--weights <file>', 'Ultralytics .pt or a yolo-wgpu checkpoint')
    .option('--format <name>', `export format (${FORMATS.join(', ')})`, 'onnx')
    .option('--imgsz <px>', 'square input size (rounded up to a multiple of the stride)', '640')
    .option('--batch <n>', 'batch size of the input (ignored by --dynamic)', '1')
    .option('--half', 'f16 weights, input and output (for GPU runtimes)')
    .option('--dynamic', 'symbolic batch, height and width')
    .option('--opset <n>', `ONNX opset (${OPSETS.min} to ${OPSETS.max})`, String(OPSETS.default))
    .option('--json', 'print a JSON document only')
    .action((o: ExportOptions) => {
      runExport(o);
    });
}
