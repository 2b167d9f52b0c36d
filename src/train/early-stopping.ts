/**
 * Fitness bookkeeping across epochs: the reference's `EarlyStopping` (stop once `patience` epochs
 * pass without a better fitness; patience 0 never stops) and the trainer's best-checkpoint rule
 * (`best` is written whenever the epoch's fitness equals the best so far).
 */

export interface EarlyStoppingState {
  bestFitness: number;
  /** 1-based epoch of the best fitness (0: none yet). */
  bestEpoch: number;
  /** The trainer's best fitness (null before the first validation). */
  best: number | null;
  /** The last verdict's possibleStop. */
  possibleStop: boolean;
}

export interface FitnessVerdict {
  /** This epoch's weights are the best so far: write the `best` checkpoint. */
  isBest: boolean;
  /** No improvement for `patience` epochs. */
  stop: boolean;
  /** One epoch before `stop` could happen: the reference validates and plots then. */
  possibleStop: boolean;
}

export class EarlyStopping {
  readonly patience: number;
  private s: EarlyStoppingState = { bestFitness: 0, bestEpoch: 0, best: null, possibleStop: false };

  constructor(patience: number) {
    this.patience = patience > 0 ? patience : Infinity;
  }

  /** Records epoch `epoch` (1-based); `fitness` null when the epoch was not validated. */
  update(epoch: number, fitness: number | null): FitnessVerdict {
    if (fitness === null) return { isBest: false, stop: false, possibleStop: this.s.possibleStop };
    const s = this.s;
    if (s.best === null || s.best < fitness) s.best = fitness;
    // Fitness 0 is the early stage of training: any result then counts as the best.
    if (fitness > s.bestFitness || s.bestFitness === 0) {
      s.bestEpoch = epoch;
      s.bestFitness = fitness;
    }
    const delta = epoch - s.bestEpoch;
    s.possibleStop = delta >= this.patience - 1;
    return { isBest: s.best === fitness, stop: delta >= this.patience, possibleStop: s.possibleStop };
  }

  get bestEpoch(): number {
    return this.s.bestEpoch;
  }

  /** Validate the coming epoch even when val=False (the reference does, one epoch before a possible stop). */
  get possibleStop(): boolean {
    return this.s.possibleStop;
  }

  /** The reference's message when training stops early. */
  stopMessage(): string {
    return (
      `Training stopped early as no improvement observed in last ${this.patience} epochs. ` +
      `Best results observed at epoch ${this.s.bestEpoch}, best model saved as best.\n` +
      `To update EarlyStopping(patience=${this.patience}) pass a new patience value, i.e. \`patience=300\` or use \`patience=0\` to disable EarlyStopping.`
    );
  }

  state(): EarlyStoppingState {
    return { ...this.s };
  }

  loadState(s: EarlyStoppingState): void {
    this.s = { ...s };
  }
}
