import { describe, expect, it } from 'vitest';
import { EarlyStopping } from '../../src/train/early-stopping.js';

describe('early stopping', () => {
  it('stops after `patience` epochs without improvement, flags the epoch before, and marks best epochs', () => {
    const s = new EarlyStopping(3);
    const fitness = [0.1, 0.3, 0.3, 0.25, 0.2, 0.28, 0.29];
    const verdicts = fitness.map((f, i) => s.update(i + 1, f));
    expect(verdicts.map((v) => v.isBest)).toEqual([true, true, true, false, false, false, false]); // equal to the best rewrites best
    // the best stays epoch 2 (0.3 at epoch 3 is no improvement): possible stop at epoch 4, stop at 5
    expect(verdicts.map((v) => v.possibleStop)).toEqual([false, false, false, true, true, true, true]);
    expect(verdicts.map((v) => v.stop)).toEqual([false, false, false, false, true, true, true]);
    expect(s.bestEpoch).toBe(2);
    expect(s.stopMessage()).toContain('no improvement observed in last 3 epochs. Best results observed at epoch 2');
  });

  it('zero fitness counts as the early stage: any later fitness becomes the best', () => {
    const s = new EarlyStopping(2);
    expect(s.update(1, 0).stop).toBe(false);
    expect(s.update(2, 0).stop).toBe(false);
    expect(s.update(3, 0).stop).toBe(false);
    expect(s.bestEpoch).toBe(3);
    s.update(4, -0.5); // -loss fitness while bestFitness is still 0
    expect(s.bestEpoch).toBe(4);
  });

  it('patience 0 never stops; unvalidated epochs change nothing; state round-trips', () => {
    const never = new EarlyStopping(0);
    never.update(1, 0.5);
    expect(never.update(500, 0.1)).toEqual({ isBest: false, stop: false, possibleStop: false });
    const s = new EarlyStopping(2);
    s.update(1, 0.4);
    expect(s.update(2, null)).toEqual({ isBest: false, stop: false, possibleStop: false });
    s.update(2, 0.3);
    const copy = new EarlyStopping(2);
    copy.loadState(JSON.parse(JSON.stringify(s.state())));
    expect(copy.possibleStop).toBe(true);
    expect(copy.update(3, 0.35)).toEqual(s.update(3, 0.35));
    expect(copy.state()).toEqual(s.state());
  });
});
