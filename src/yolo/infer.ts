/**
 * One inference pass as predict and the validator run it: the network forward on an image batch
 * (NHWC in [0, 1], from `imagesToTensor`) without gradients (the model's own train/eval mode decides
 * BatchNorm), then the GPU decode to `[N, A, 4 + nc]`.
 */
import { noGrad } from '../autograd/tape.js';
import { Var } from '../autograd/variable.js';
import { keep, tidy } from '../gpu/scope.js';
import type { Tensor } from '../gpu/tensor.js';
import { decode } from './decode.js';
import type { DetectionModel } from './detection-model.js';
import type { DetectOutput } from './modules/detect.js';

export interface Inference {
  /** [N, A, 4 + nc]: centre xywh in input pixels, then sigmoid class scores. */
  decoded: Tensor;
  /** The head's raw per-level maps, when asked for (val losses); the caller disposes them. */
  raw: DetectOutput | null;
}

/** Forward + decode of images `[N, H, W, 3]` (their dtype is the activations' precision); the caller keeps `x`. */
export function infer(model: DetectionModel, x: Tensor, o: { keepRaw?: boolean } = {}): Inference {
  return noGrad(() =>
    tidy(() => {
      const out = model.forward(new Var(x));
      const decoded = keep(decode(out, model.stride));
      if (o.keepRaw) {
        for (const v of [...out.box, ...out.cls]) keep(v.data);
        return { decoded, raw: out };
      }
      return { decoded, raw: null };
    }),
  );
}

/** The decoded rows on the host, with their shape [N, A, 4 + nc] (waits for the GPU). */
export async function readDecoded(r: Inference): Promise<{ data: Float32Array; shape: [number, number, number] }> {
  const [n, anchors, channels] = r.decoded.shape;
  return { data: (await r.decoded.read()) as Float32Array, shape: [n, anchors, channels] };
}

/** Frees what {@link infer} returned. */
export function disposeInference(r: Inference): void {
  r.decoded.dispose();
  for (const v of r.raw ? [...r.raw.box, ...r.raw.cls] : []) v.data.dispose();
}
