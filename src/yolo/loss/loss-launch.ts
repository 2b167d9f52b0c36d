import type { Engine } from '../../gpu/engine.js';
import type { Tensor } from '../../gpu/tensor.js';
import { launch, storageWgsl, type Params } from '../../kernels/launch.js';
import type { LossGeometry } from './levels.js';
import { lossWgsl } from './loss-wgsl.js';

/** One assigner or loss kernel: the shared header (lossWgsl), its storage bindings, then its own WGSL. */
export interface LossKernel {
  /** Pipeline key; regMax is appended (it is compiled in). */
  key: string;
  name: string;
  workgroupSize: number;
  /** Storage bindings 1..n in order: the WGSL declaration (`NAME: type`) and the tensor bound to it. */
  bindings: readonly (readonly [decl: string, tensor: Tensor])[];
  /** Helpers and `main`, after the header and the bindings. */
  wgsl: () => string;
}

/** Records one dispatch of `kernel` with the loss uniform block `params`. */
export function launchLoss(engine: Engine, g: LossGeometry, kernel: LossKernel, params: Params, groups: readonly number[]): void {
  launch(
    engine,
    {
      key: `${kernel.key}:${g.regMax}`,
      name: kernel.name,
      build: () => `${lossWgsl(g.regMax, kernel.workgroupSize)}
${storageWgsl(kernel.bindings.map(([decl]) => decl))}
${kernel.wgsl()}`,
    },
    kernel.bindings.map(([, tensor]) => tensor),
    params,
    groups,
  );
}
