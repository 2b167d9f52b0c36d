import type { DType } from '../gpu/dtype.js';
import { keep, type HoldsTensors } from '../gpu/scope.js';
import type { Tensor } from '../gpu/tensor.js';
import { copy } from '../kernels/copy.js';
import { Var } from './variable.js';

/**
 * A gradient that is zero outside one window of its input (along `axis`, from `start`), as a
 * view's backward (split) hands it back: the sweep adds it into that window of the input's
 * gradient, where a full zero-filled tensor would cost a fill, a copy and a full-size add.
 */
export class WindowGrad implements HoldsTensors {
  constructor(
    readonly grad: Tensor,
    readonly axis: number,
    readonly start: number,
  ) {}

  heldTensors(): Tensor[] {
    return [this.grad];
  }
}

/**
 * Computes the gradient of each input from the output's gradient (null where an input needs
 * none). The sweep owns `gradOutput`; a rule may dispose it as soon as it is done with it
 * (the sweep's own dispose is then a no-op), lowering the backward peak.
 */
export type BackwardRule = (gradOutput: Tensor, needs: readonly boolean[]) => (Tensor | WindowGrad | null)[];

/** One recorded op: its inputs, the tensors its backward needs, and its rule. */
export class Node {
  constructor(
    readonly name: string,
    readonly inputs: readonly Var[],
    private saved: Tensor[],
    readonly rule: BackwardRule,
  ) {
    for (const t of saved) keep(t);
  }

  /** Frees the saved tensors (right after the rule ran, or when the graph is dropped). */
  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording: no nodes, no saved tensors. */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

let savedActivationDtype: DType = 'f32';

/**
 * Runs `fn` with activations that ops save for backward stored as `dtype` (f16 halves the
 * saved-activation memory of an f32 network; the rules compute in f32 from the rounded copy).
 */
export function withSavedActivations<T>(dtype: 'f32' | 'f16', fn: () => T): T {
  const previous = savedActivationDtype;
  savedActivationDtype = dtype;
  try {
    return fn();
  } finally {
    savedActivationDtype = previous;
  }
}

/**
 * What an op keeps of `t` for its backward: a view (no copy), or an f16 copy of an f32
 * activation under `withSavedActivations('f16', ...)`. Nothing is kept when gradients are off.
 */
export function saveForBackward(t: Tensor): Tensor {
  if (gradEnabled && savedActivationDtype === 'f16' && t.dtype === 'f32' && t.storage.category === 'activations') return copy(t, 'activations', 'f16');
  return t.view(t.shape, t.strides, t.offset);
}

/**
 * Wraps an op's output: when gradients are on and any input requires them, records a
 * node that keeps `saved` (views the rule needs; the node owns them) until backward.
 * Otherwise `saved` is disposed at once.
 */
export function record(name: string, inputs: readonly Var[], output: Tensor, saved: Tensor[], rule: BackwardRule): Var {
  const needed = gradEnabled && inputs.some((v) => v.requiresGrad);
  if (!needed) {
    for (const t of saved) t.dispose();
    return new Var(output, false, null);
  }
  return new Var(output, true, new Node(name, inputs, saved, rule));
}

/** Nodes reachable from `root`, inputs before the ops that consume them. */
export function topologicalNodes(root: Var): Node[] {
  const order: Node[] = [];
  const visited = new Set<Node>();
  const stack: { node: Node; next: number }[] = [];
  if (root.node) stack.push({ node: root.node, next: 0 });
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === 0 && visited.has(top.node)) {
      stack.pop();
      continue;
    }
    visited.add(top.node);
    const input = top.node.inputs[top.next++];
    if (input === undefined) {
      stack.pop();
      order.push(top.node);
    } else if (input.node && !visited.has(input.node)) stack.push({ node: input.node, next: 0 });
  }
  return order;
}
