import type { Tensor } from './tensor.js';

/**
 * Tensors created inside `tidy(fn)` are disposed when it returns, except the ones it
 * returns and the ones passed to `keep`. This bounds the lifetime of temporaries
 * (views, intermediate results) without trusting JavaScript's garbage collector.
 */
const scopes: Set<Tensor>[] = [];

/** Called by the Tensor constructor: the innermost scope owns each new tensor. */
export function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Takes `t` out of every open scope: its owner disposes it explicitly. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Objects of other layers (autograd's variables) that hold tensors a scope must let survive. */
export interface HoldsTensors {
  heldTensors(): Tensor[];
}

const holdsTensors = (v: object): v is HoldsTensors => typeof (v as Partial<HoldsTensors>).heldTensors === 'function';

/** Collects the tensors reachable in a result (a tensor, an array, a plain object of them, or a HoldsTensors). */
function collect(value: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(value)) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collect(v, out, isTensor);
  else if (value && typeof value === 'object' && holdsTensors(value)) for (const t of value.heldTensors()) out.add(t);
  else if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, isTensor);
  }
}

let tensorCheck: (v: unknown) => v is Tensor = (v): v is Tensor => false;

export function registerTensorCheck(check: (v: unknown) => v is Tensor): void {
  tensorCheck = check;
}

export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collect(result, survivors, tensorCheck);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}
