import { keep, tidy } from '../gpu/scope.js';
import { DTYPE_BYTES } from '../gpu/dtype.js';
import { Tensor } from '../gpu/tensor.js';
import { copy, copyInto, fill } from '../kernels/copy.js';
import { add } from '../kernels/elementwise.js';
import { topologicalNodes, WindowGrad, type Node } from './tape.js';
import type { Var } from './variable.js';

/** Adds `g` into `target` in place (target += g). */
function accumulate(target: Tensor, g: Tensor): void {
  add(target, g, { out: target });
}

/**
 * Reverse-mode sweep from `root`: gradients flow node by node in reverse topological
 * order; each node's saved tensors and its output gradient are freed as soon as its rule
 * has run, so the peak is the forward's saved activations, falling during the sweep.
 * Leaves that require gradients accumulate into `.grad` (category `grads`).
 * `seed` is d(loss)/d(root); for a scalar root it defaults to 1.
 */
export function backward(root: Var, seed?: Tensor, options: { takeSeed?: boolean } = {}): void {
  if (!root.requiresGrad) throw new Error('backward: the root does not require gradients');
  if (!seed && root.data.size !== 1) throw new Error(`backward: a non-scalar root [${root.shape}] needs a seed gradient`);
  const grads = new Map<Node, Tensor>();
  // An f32 seed is used through a view: nothing accumulates into the root's gradient, and a copy would double it.
  // With takeSeed, backward owns the seed and frees it as soon as the root's rule ran.
  let start: Tensor;
  if (!seed) start = Tensor.empty(root.data.engine, root.shape, 'f32', 'activations');
  else if (seed.dtype !== 'f32') start = copy(seed, 'activations', 'f32');
  else start = options.takeSeed ? seed : seed.view(seed.shape, seed.strides, seed.offset);
  if (!seed) fill(start, 1);
  if (!root.node) {
    deliver(root, keep(start), grads);
    return;
  }
  grads.set(root.node, keep(start));
  for (const node of topologicalNodes(root).reverse()) {
    const g = grads.get(node);
    grads.delete(node);
    if (!g) {
      node.release();
      continue;
    }
    const needs = node.inputs.map((v) => v.requiresGrad);
    const inputGrads = tidy(() => node.rule(g, needs));
    g.dispose();
    node.release();
    inputGrads.forEach((gi, i) => {
      if (!gi) return;
      const t = gi instanceof WindowGrad ? gi.grad : gi;
      keep(t);
      if (!needs[i]) t.dispose();
      else if (!(gi instanceof WindowGrad)) deliver(node.inputs[i], gi, grads);
      else {
        const first = widenOrAdd(node.inputs[i], gi, grads);
        if (first) deliver(node.inputs[i], first, grads);
      }
    });
  }
}

/**
 * A window gradient (owned) for input `v`: added into that window of v's gradient so far and
 * null, or, as v's first gradient, a zero tensor of v's shape and dtype holding it.
 */
function widenOrAdd(v: Var, w: WindowGrad, grads: Map<Node, Tensor>): Tensor | null {
  const size = w.grad.shape[w.axis];
  const expected = v.shape.map((d, i) => (i === w.axis ? size : d));
  if (w.grad.shape.join() !== expected.join() || w.start + size > v.shape[w.axis]) {
    throw new Error(`backward: gradient [${w.grad.shape}] at ${w.start} along axis ${w.axis} for a value of shape [${v.shape}]`);
  }
  const target = v.node ? grads.get(v.node) : v.grad;
  const full = target ?? Tensor.empty(w.grad.engine, v.shape, v.data.dtype, 'activations');
  const window = full.slice(w.axis, w.start, w.start + size);
  if (target) accumulate(window, w.grad);
  else {
    fill(full, 0);
    copyInto(w.grad, window);
  }
  window.dispose();
  w.grad.dispose();
  return target ? null : full;
}

/** Whether `t` is the only view of its storage and covers all of it, contiguously. */
function ownsWholeStorage(t: Tensor): boolean {
  return t.storage.soleView && t.offset === 0 && t.isContiguous() && t.size * DTYPE_BYTES[t.dtype] === t.storage.bytes;
}

/** Hands gradient `g` (owned) to input `v`: into its producer's pending gradient, or its `.grad` if a leaf. */
function deliver(v: Var, g: Tensor, grads: Map<Node, Tensor>): void {
  if (g.shape.join() !== v.shape.join()) throw new Error(`backward: gradient [${g.shape}] for a value of shape [${v.shape}]`);
  if (v.node) {
    const pending = grads.get(v.node);
    if (pending) {
      accumulate(pending, g);
      g.dispose();
    } else grads.set(v.node, g);
    return;
  }
  if (v.grad) {
    accumulate(v.grad, g);
    g.dispose();
  } else if (v.data.storage.category !== 'params') {
    v.grad = keep(g); // an input's gradient (e.g. a checkpointed segment's) stays an activation: no copy
  } else if (g.dtype === 'f32' && ownsWholeStorage(g)) {
    g.engine.recategorize(g.storage.allocation, 'grads'); // the temporary becomes the parameter's gradient: no copy
    v.grad = keep(g);
  } else {
    v.grad = keep(copy(g, 'grads', 'f32'));
    g.dispose();
  }
}
