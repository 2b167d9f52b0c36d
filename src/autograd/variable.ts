import type { HoldsTensors } from '../gpu/scope.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Node } from './tape.js';

/**
 * A tensor in the autograd graph: its value, whether gradients flow to it, the node
 * that produced it (null for leaves such as parameters and inputs), and, for leaves
 * that require gradients, the accumulated gradient (category `grads`).
 */
export class Var implements HoldsTensors {
  grad: Tensor | null = null;

  constructor(
    readonly data: Tensor,
    /** Settable so that a trainer can freeze a parameter (`freeze=`) before any graph is recorded. */
    public requiresGrad: boolean = false,
    readonly node: Node | null = null,
  ) {}

  get shape(): readonly number[] {
    return this.data.shape;
  }

  /** A Var returned from `tidy` keeps its value alive. */
  heldTensors(): Tensor[] {
    return [this.data];
  }

  get isLeaf(): boolean {
    return this.node === null;
  }

  /** Frees the value and the gradient. */
  dispose(): void {
    this.data.dispose();
    this.grad?.dispose();
    this.grad = null;
  }

  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
}
