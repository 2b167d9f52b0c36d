import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { isImageFile } from '../data/sources.js';
import { decodeImage, letterbox } from '../data/image.js';
import { UserError } from '../errors.js';
import { Engine } from '../gpu/engine.js';
import { drawBoxes, writeImage } from '../io/draw-boxes.js';
import { imagesToTensor } from '../kernels/image-input.js';
import { disposeInference, infer, readDecoded } from '../yolo/infer.js';
import { detectionsFromDecoded, toOriginalImage, type Detections } from '../yolo/postprocess.js';
import { modelFromWeights } from '../yolo/weights.js';
import { fraction, positiveInt, precision, strideMultiple } from './options.js';
import { printJson } from './format.js';
import { claimRunDir } from './run-dir.js';

export interface PredictOptions {
  weights: string;
  source: string;
  imgsz: string;
  conf: string;
  iou: string;
  maxDet: string;
  half?: boolean;
  json?: boolean;
  save?: boolean;
  project: string;
  device?: string;
}

/** One image's result as `--json` prints it. */
export interface PredictResult {
  source: string;
  /** Original [h, w]. */
  shape: [number, number];
  detections: { xyxy: number[]; conf: number; cls: number; name: string }[];
}

/** The images of a source: one image file, or the image files of a folder (not recursive), sorted. */
export function listSources(source: string): string[] {
  const path = resolve(source);
  if (!existsSync(path)) throw new UserError(`--source ${source}: no such file or folder`);
  if (!statSync(path).isDirectory()) {
    if (!isImageFile(path)) throw new UserError(`--source ${source}: not an image file (expected .jpg, .png, .bmp, .webp, ...)`);
    return [path];
  }
  const files = readdirSync(path)
    .filter(isImageFile)
    .map((f) => join(path, f))
    .filter((f) => statSync(f).isFile())
    .sort();
  if (files.length === 0) throw new UserError(`--source ${source}: the folder has no image files`);
  return files;
}

/** The shortest decimal that reads back as the same float32: JSON without float noise. */
function f32Json(v: number): number {
  for (let p = 1; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}

/** The reference's summary of an image's detections: "2 persons, 1 bus" (classes by id). */
export function countsText(cls: ArrayLike<number>, names: readonly string[]): string {
  const counts = new Map<number, number>();
  for (const c of Array.from(cls).sort((a, b) => a - b)) counts.set(c, (counts.get(c) ?? 0) + 1);
  if (counts.size === 0) return '(no detections)';
  return [...counts].map(([c, n]) => `${n} ${names[c] ?? c}${n > 1 ? 's' : ''}`).join(', ');
}

/** The reference prints the input shape as PyTorch holds it: (N, C, H, W). */
const nchw = ([n, h, w, c]: number[]) => [n, c, h, w];

function toResult(file: string, shape: [number, number], d: Detections, names: readonly string[]): PredictResult {
  return {
    source: file,
    shape,
    detections: Array.from(d.cls, (c, i) => ({
      xyxy: Array.from(d.xyxy.subarray(4 * i, 4 * i + 4), f32Json),
      conf: f32Json(d.conf[i]),
      cls: c,
      name: names[c] ?? String(c),
    })),
  };
}

/**
 * `predict`: the reference's inference protocol, one image at a time: letterbox to a multiple of the
 * stride with minimal padding (gray 114), RGB / 255, forward, decode, class-aware NMS, boxes mapped back
 * to the original image. Returns the results (also printed).
 */
export async function runPredict(o: PredictOptions): Promise<PredictResult[]> {
  const conf = fraction(o.conf, '--conf');
  const iou = fraction(o.iou, '--iou');
  const maxDet = positiveInt(o.maxDet, '--max-det');
  const files = listSources(o.source);
  const log = (line: string) => (o.json ? process.stderr : process.stdout).write(`${line}\n`);
  const engine = await Engine.open({ device: o.device });
  const results: PredictResult[] = [];
  const ms = { preprocess: 0, inference: 0, postprocess: 0 };
  let inputShape: number[] = []; // NHWC, as uploaded
  let saveDir: string | null = null;
  try {
    const model = modelFromWeights(engine, o.weights).eval();
    const names = model.names ?? Array.from({ length: model.nc }, (_, i) => String(i));
    const stride = Math.max(...model.stride);
    const imgsz = strideMultiple(positiveInt(o.imgsz, '--imgsz'), stride, '--imgsz', (l) => process.stderr.write(`${l}\n`));
    const dtype = precision(engine, o.half, (l) => process.stderr.write(`${l}\n`));
    if (o.save) saveDir = claimRunDir(o.project, 'exp');
    for (const [i, file] of files.entries()) {
      const t = performance.now();
      const img = await decodeImage(file);
      const { image, geometry } = letterbox(img, imgsz, { auto: true, stride });
      inputShape = [1, ...geometry.shape, 3];
      const x = imagesToTensor(engine, image.data, inputShape, dtype);
      const t1 = performance.now();
      const run = infer(model, x);
      const decoded = await readDecoded(run).finally(() => {
        disposeInference(run);
        x.dispose();
      });
      const t2 = performance.now();
      const shape: [number, number] = [img.height, img.width];
      const [d] = detectionsFromDecoded(decoded.data, decoded.shape, { conf, iou, maxDet });
      toOriginalImage(d, geometry.shape, shape);
      results.push(toResult(file, shape, d, names));
      const t3 = performance.now();
      ms.preprocess += t1 - t;
      ms.inference += t2 - t1;
      ms.postprocess += t3 - t2;
      log(`image ${i + 1}/${files.length} ${file}: ${geometry.shape[0]}x${geometry.shape[1]} ${countsText(d.cls, names)}, ${(t2 - t1).toFixed(1)}ms`);
      if (saveDir) await writeImage(join(saveDir, basename(file)), await drawBoxes(img, { xyxy: d.xyxy, cls: d.cls, conf: d.conf }, { names }));
    }
  } finally {
    engine.destroy();
  }
  const per = (v: number) => (v / files.length).toFixed(1);
  log(`Speed: ${per(ms.preprocess)}ms preprocess, ${per(ms.inference)}ms inference, ${per(ms.postprocess)}ms postprocess per image at shape (${nchw(inputShape).join(', ')})`);
  if (saveDir) log(`Results saved to ${saveDir}`);
  if (o.json) printJson(results);
  return results;
}

export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('detect objects in an image or a folder of images')
    .requiredOption('--weights <file>', 'Ultralytics .pt or a yolo-wgpu checkpoint')
    .requiredOption('--source <path>', 'an image file or a folder of images')
    .option('--imgsz <px>', 'inference size (long side; rounded up to a multiple of the stride)', '640')
    .option('--conf <threshold>', 'confidence threshold', '0.25')
    .option('--iou <threshold>', 'NMS IoU threshold', '0.7')
    .option('--max-det <n>', 'maximum detections per image', '300')
    .option('--half', 'f16 activations (when the adapter has shader-f16)')
    .option('--json', 'print a JSON array (one entry per image) only')
    .option('--save', 'write the images with their boxes into <project>/exp, exp2, ...')
    .option('--project <dir>', 'where --save writes', 'runs/predict')
    .option('--device <name>', 'adapter name')
    .action(async (o: PredictOptions) => {
      await runPredict(o);
    });
}
