import { record, saveForBackward } from '../../autograd/tape.js';
import type { Var } from '../../autograd/variable.js';
import { UserError } from '../../errors.js';
import type { Engine } from '../../gpu/engine.js';
import { Tensor } from '../../gpu/tensor.js';
import { copy } from '../../kernels/copy.js';
import type { DetectOutput } from '../modules/detect.js';
import { assignChunk, TOPK, type AssignerBuffers } from './assigner.js';
import { chunksOf, gatherLevels, lossGeometry, lossParams, scatterLevels, type Chunk, type Gains, type LossGeometry } from './levels.js';
import { boxGradient, chunkLoss, clsGradient, finishLoss } from './loss-kernels.js';
import { prepareTargets, uploadTargets, type DetectionTargets } from './targets.js';

export interface DetectionLossOptions {
  /** Network input [h, w] in pixels (normalized boxes are scaled by it; level strides follow from it). */
  imgSize: readonly [number, number];
  nc: number;
  /** Gains of the box (CIoU), class (BCE) and DFL terms: 7.5, 0.5, 1.5 by default, as the reference. */
  box?: number;
  cls?: number;
  dfl?: number;
  regMax?: number;
  /** Images the assigner and the gradient kernels handle at once (default: as many as fit ASSIGNER_WORKSPACE_BYTES). */
  imagesPerChunk?: number;
}

export interface DetectionLoss {
  /** (box + cls + dfl) x batch size: what the reference's trainer backpropagates. */
  loss: Var;
  /** [3]: the box, cls and dfl items (gains applied, not scaled by the batch). */
  items: Tensor;
}

/** Working memory the default chunk size aims at: the assigner's bytes do not grow with the batch. */
export const ASSIGNER_WORKSPACE_BYTES = 32 * 2 ** 20;

/** Workspace bytes per image of a chunk: gathered logits, predicted boxes, claims, assignment and loss terms. */
function bytesPerImage(g: LossGeometry): number {
  return g.anchors * 4 * (4 * g.regMax + g.nc + 4 + 2 + 4 + 4);
}

/**
 * The reference's v8DetectionLoss on the GPU: the task-aligned assigner, BCE-with-logits over
 * the soft class targets, CIoU and DFL losses of the foreground anchors weighted by their
 * targets, all over max(target sum, 1). Images go through the assigner in chunks, so its
 * working memory is bounded whatever the batch and the number of boxes. The backward gives
 * d/d(box logits) and d/d(class logits) of every level directly (one autograd node).
 */
export function detectionLoss(out: DetectOutput, targets: DetectionTargets, o: DetectionLossOptions): DetectionLoss {
  const engine = out.box[0].data.engine;
  const g = lossGeometry(out.box.map((v) => v.data), out.cls.map((v) => v.data), o.imgSize, o.nc, o.regMax ?? 16);
  const gains: Gains = { box: o.box ?? 7.5, cls: o.cls ?? 0.5, dfl: o.dfl ?? 1.5 };
  const perChunk = o.imagesPerChunk ?? Math.max(1, Math.floor(ASSIGNER_WORKSPACE_BYTES / bytesPerImage(g)));
  if (!Number.isInteger(perChunk) || perChunk < 1) throw new UserError(`detection loss: imagesPerChunk must be a positive integer, got ${perChunk}`);
  const prepared = prepareTargets(targets, g.batch, g.nc, o.imgSize);
  const chunks = chunksOf(g.batch, Math.min(perChunk, g.batch), prepared.start);
  const { gts, start } = uploadTargets(engine, prepared);

  const saved = Tensor.empty(engine, [g.batch * g.anchors, 2], 'u32', 'activations');
  const stats = Tensor.empty(engine, [5], 'f32', 'activations');
  const sums = Tensor.empty(engine, [g.batch, 4], 'f32', 'workspace');
  const buffers = assignerBuffers(engine, g, chunks);
  const terms = Tensor.empty(engine, [chunks[0].images * g.anchors, 4], 'f32', 'workspace');
  for (const chunk of chunks) {
    const params = lossParams(g, chunk, gains);
    gatherLevels(g, out.box.map((v) => v.data), chunk, buffers.box);
    gatherLevels(g, out.cls.map((v) => v.data), chunk, buffers.cls);
    assignChunk(engine, g, chunk, buffers, gts, start, params);
    chunkLoss(engine, g, chunk, buffers, terms, gts, saved, sums, params);
  }
  for (const t of [...Object.values(buffers), terms, start]) t.dispose();
  finishLoss(engine, g, sums, stats, lossParams(g, chunks[0], gains));
  sums.dispose();

  const items = stats.slice(0, 0, 3);
  const lossValue = stats.slice(0, 3, 4);
  const inputs = [...out.box, ...out.cls];
  const levels = inputs.map((v) => saveForBackward(v.data));
  const nl = out.box.length;
  // The node owns saved, gts and stats (the target sum) until its backward has run.
  const loss = record('detectionLoss', inputs, lossValue, [...levels, saved, gts, stats], (gradLoss, needs) => {
    const seed = copy(gradLoss, 'workspace', 'f32'); // the kernels read element 0 of an offset-free buffer
    const gradients = (first: number, channels: number, kernel: typeof boxGradient): (Tensor | null)[] => {
      if (!needs.slice(first, first + nl).some(Boolean)) return new Array<null>(nl).fill(null);
      const grads = levels.slice(first, first + nl).map((t) => Tensor.empty(engine, t.shape, 'f32', 'activations'));
      const rows = Tensor.empty(engine, [chunks[0].images * g.anchors, channels], 'f32', 'workspace');
      for (const chunk of chunks) {
        gatherLevels(g, levels.slice(first, first + nl), chunk, rows);
        kernel(engine, g, chunk, rows, saved, gts, stats, seed, lossParams(g, chunk, gains));
        scatterLevels(g, rows, chunk, grads);
      }
      rows.dispose();
      return grads;
    };
    const grads = [...gradients(0, 4 * g.regMax, boxGradient), ...gradients(nl, g.nc, clsGradient)];
    seed.dispose();
    return grads;
  });
  return { loss, items };
}

/** The assigner's buffers (workspace), sized for the largest chunk. */
function assignerBuffers(engine: Engine, g: LossGeometry, chunks: readonly Chunk[]): AssignerBuffers {
  const rows = chunks[0].images * g.anchors;
  const boxes = Math.max(1, ...chunks.map((c) => c.gtCount));
  const ws = (shape: number[], dtype: 'f32' | 'i32' | 'u32') => Tensor.empty(engine, shape, dtype, 'workspace');
  return {
    box: ws([rows, 4 * g.regMax], 'f32'),
    cls: ws([rows, g.nc], 'f32'),
    pred: ws([rows, 4], 'f32'),
    claim: ws([rows, 2], 'i32'),
    topk: ws([boxes, TOPK], 'i32'),
    assigned: ws([rows, 4], 'u32'),
    boxMax: ws([boxes, 2], 'f32'),
  };
}
