import { UserError } from '../errors.js';
import { OutOfMemoryError } from './errors.js';

/** What an allocation is for; the arena keeps live and peak bytes per category. */
export const CATEGORIES = ['params', 'grads', 'optimizer', 'activations', 'workspace', 'input', 'other'] as const;
export type Category = (typeof CATEGORIES)[number];

export type CategoryBytes = Record<Category, number>;

export function zeroCategoryBytes(): CategoryBytes {
  return { params: 0, grads: 0, optimizer: 0, activations: 0, workspace: 0, input: 0, other: 0 };
}

/** A slice of one segment. `size` is the aligned size actually reserved. */
export interface Allocation {
  readonly id: number;
  readonly segment: number;
  readonly offset: number;
  readonly size: number;
  readonly requested: number;
  /** Changed only by `Arena.recategorize`. */
  category: Category;
  freed: boolean;
}

/** Creates and destroys the memory behind segments (GPUBuffers for real, nothing in meta mode). */
export interface SegmentBacking {
  create(segment: number, bytes: number): void;
  destroy(segment: number): void;
}

export interface ArenaOptions {
  /** Size of a new segment; larger allocations get a segment of their own size. */
  segmentBytes: number;
  /** The largest single allocation (the device's storage binding limit). */
  maxAllocationBytes: number;
  /** Offset alignment of every allocation (the device's storage offset alignment). */
  alignment: number;
  /** Optional cap on reserved bytes; exceeding it raises OutOfMemoryError before the GPU is asked. */
  budgetBytes?: number | null;
  backing?: SegmentBacking;
}

export interface ArenaStats {
  liveBytes: number;
  peakBytes: number;
  reservedBytes: number;
  live: CategoryBytes;
  /** The per-category breakdown at the moment live bytes last reached the peak. */
  atPeak: CategoryBytes;
  /** Each category's own peak since the last reset (they need not coincide in time). */
  peak: CategoryBytes;
  allocations: number;
  segments: number;
}

interface FreeBlock {
  offset: number;
  size: number;
}

interface Segment {
  size: number;
  /** Free blocks sorted by offset, never adjacent (always coalesced). */
  free: FreeBlock[];
  alive: boolean;
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/**
 * A deterministic best-fit allocator over a growable list of segments.
 * The same sequence of alloc/free calls gives the same offsets whether or not
 * memory stands behind it, which is what makes meta-mode planning exact.
 */
export class Arena {
  readonly options: Required<Omit<ArenaOptions, 'backing' | 'budgetBytes'>> & { budgetBytes: number | null };
  private readonly backing: SegmentBacking | undefined;
  private readonly segments: Segment[] = [];
  private nextId = 1;
  private liveCount = 0;
  private readonly live = zeroCategoryBytes();
  private atPeak = zeroCategoryBytes();
  private categoryPeak = zeroCategoryBytes();
  private liveTotal = 0;
  private peakTotal = 0;
  private reserved = 0;

  constructor(options: ArenaOptions) {
    this.options = {
      segmentBytes: options.segmentBytes,
      maxAllocationBytes: options.maxAllocationBytes,
      alignment: options.alignment,
      budgetBytes: options.budgetBytes ?? null,
    };
    this.backing = options.backing;
  }

  set budgetBytes(bytes: number | null) {
    this.options.budgetBytes = bytes;
  }

  alloc(bytes: number, category: Category): Allocation {
    if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`invalid allocation size ${bytes}`);
    const size = roundUp(Math.max(bytes, 1), this.options.alignment);
    if (size > this.options.maxAllocationBytes) {
      throw new UserError(
        `a single ${category} tensor of ${bytes} bytes exceeds the device's largest binding ` +
          `(${this.options.maxAllocationBytes} bytes); use a smaller batch or image size`,
      );
    }
    const place = this.bestFit(size) ?? this.grow(size, bytes, category);
    const segment = this.segments[place.segment];
    const block = segment.free[place.block];
    const offset = block.offset;
    if (block.size === size) segment.free.splice(place.block, 1);
    else {
      block.offset += size;
      block.size -= size;
    }
    this.live[category] += size;
    this.categoryPeak[category] = Math.max(this.categoryPeak[category], this.live[category]);
    this.liveTotal += size;
    this.liveCount++;
    if (this.liveTotal > this.peakTotal) {
      this.peakTotal = this.liveTotal;
      this.atPeak = { ...this.live };
    }
    return { id: this.nextId++, segment: place.segment, offset, size, requested: bytes, category, freed: false };
  }

  free(a: Allocation): void {
    if (a.freed) throw new Error(`allocation ${a.id} freed twice`);
    a.freed = true;
    this.live[a.category] -= a.size;
    this.liveTotal -= a.size;
    this.liveCount--;
    const free = this.segments[a.segment].free;
    let i = 0;
    while (i < free.length && free[i].offset < a.offset) i++;
    const prev = free[i - 1];
    const next = free[i];
    const joinsPrev = prev !== undefined && prev.offset + prev.size === a.offset;
    const joinsNext = next !== undefined && a.offset + a.size === next.offset;
    if (joinsPrev && joinsNext) {
      prev.size += a.size + next.size;
      free.splice(i, 1);
    } else if (joinsPrev) prev.size += a.size;
    else if (joinsNext) {
      next.offset = a.offset;
      next.size += a.size;
    } else free.splice(i, 0, { offset: a.offset, size: a.size });
  }

  /** Counts a live allocation under another category from now on (a gradient computed as a temporary that becomes `.grad`). */
  recategorize(a: Allocation, category: Category): void {
    if (a.freed) throw new Error(`recategorize: allocation ${a.id} was freed`);
    this.live[a.category] -= a.size;
    this.live[category] += a.size;
    this.categoryPeak[category] = Math.max(this.categoryPeak[category], this.live[category]);
    a.category = category;
  }

  /** Gives back every segment with nothing live in it (real memory returns to the driver). */
  releaseEmptySegments(): void {
    this.segments.forEach((s, index) => {
      if (s.alive && s.free.length === 1 && s.free[0].size === s.size) {
        s.alive = false;
        s.free = [];
        this.reserved -= s.size;
        this.backing?.destroy(index);
      }
    });
  }

  /** Starts a new peak measurement from the current live bytes. */
  resetPeak(): void {
    this.peakTotal = this.liveTotal;
    this.atPeak = { ...this.live };
    this.categoryPeak = { ...this.live };
  }

  stats(): ArenaStats {
    return {
      liveBytes: this.liveTotal,
      peakBytes: this.peakTotal,
      reservedBytes: this.reserved,
      live: { ...this.live },
      atPeak: { ...this.atPeak },
      peak: { ...this.categoryPeak },
      allocations: this.liveCount,
      segments: this.segments.filter((s) => s.alive).length,
    };
  }

  segmentSize(index: number): number {
    return this.segments[index].size;
  }

  /** Smallest free block that fits; ties go to the lowest segment, then the lowest offset. */
  private bestFit(size: number): { segment: number; block: number } | null {
    let best: { segment: number; block: number } | null = null;
    let bestSize = Infinity;
    for (let s = 0; s < this.segments.length; s++) {
      const free = this.segments[s].free;
      for (let b = 0; b < free.length; b++) {
        const blockSize = free[b].size;
        if (blockSize >= size && blockSize < bestSize) {
          best = { segment: s, block: b };
          bestSize = blockSize;
          if (blockSize === size) return best;
        }
      }
    }
    return best;
  }

  private grow(size: number, requested: number, category: Category): { segment: number; block: number } {
    let bytes = Math.max(this.options.segmentBytes, size);
    const budget = this.options.budgetBytes;
    if (budget !== null && this.reserved + bytes > budget) {
      // Use what is left of the budget when it still fits this allocation.
      bytes = Math.floor((budget - this.reserved) / this.options.alignment) * this.options.alignment;
      if (bytes < size) {
        throw new OutOfMemoryError(requested, category, this.liveTotal, budget, `${this.reserved} bytes reserved`);
      }
    }
    const index = this.segments.length;
    this.backing?.create(index, bytes);
    this.segments.push({ size: bytes, free: [{ offset: 0, size: bytes }], alive: true });
    this.reserved += bytes;
    return { segment: index, block: 0 };
  }
}
