import { tidy } from '../gpu/scope.js';
import { isGradEnabled, Node, noGrad } from './tape.js';
import { backward } from './backward.js';
import { Var } from './variable.js';

let recomputing = 0;

/** True while a checkpointed segment is being re-run for its backward (BatchNorm must not update its running statistics again). */
export function isRecomputing(): boolean {
  return recomputing > 0;
}

/**
 * Runs `fn` without keeping its intermediate values; only the inputs are saved. During
 * backward the segment is re-run with gradients on and differentiated on its own, so the
 * activation memory of the segment is paid once, briefly, instead of for the whole pass.
 * Parameters captured by `fn` receive their gradients from the inner sweep.
 */
export function checkpoint(fn: (...xs: Var[]) => Var, ...inputs: Var[]): Var {
  const out = noGrad(() => tidy(() => fn(...inputs.map((v) => new Var(v.data, false))).data));
  const saved = inputs.map((v) => v.data.view(v.data.shape, v.data.strides, v.data.offset));
  // Recorded whenever gradients are on: parameters captured by fn need the node even when no input requires gradients.
  if (!isGradEnabled()) {
    for (const t of saved) t.dispose();
    return new Var(out);
  }
  return new Var(out, true, new Node('checkpoint', inputs, saved, (g, needs) => {
    const detached = saved.map((t, i) => new Var(t, needs[i]));
    recomputing++;
    let y: Var;
    try {
      y = fn(...detached);
    } finally {
      recomputing--;
    }
    // backward needs y's node only: free the recomputed output, and hand it g (whose other
    // reference, the outer sweep's, is dropped here: disposing again later is a no-op).
    y.data.dispose();
    const seed = g.view(g.shape, g.strides, g.offset);
    g.dispose();
    backward(y, seed, { takeSeed: true });
    return detached.map((d) => {
      const grad = d.grad;
      d.grad = null;
      return grad;
    });
  }));
}
