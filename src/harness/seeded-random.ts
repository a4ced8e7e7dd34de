/**
 * SeededRandom: the crash harness's only source of randomness (mulberry32), so a
 * run is reproducible from its seed: the parent draws kill delays, worker seeds and
 * crash modes from one generator; each worker writer draws from its own.
 *
 * (The fault-injecting file system has its own private generator; this one is
 * the harness's, kept apart so neither changes the other's sequence.)
 */

const UINT32_RANGE = 4294967296;

export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / UINT32_RANGE;
  }

  /** An integer in [minimum, maximum], both inclusive. */
  nextIntInclusive(minimum: number, maximum: number): number {
    return minimum + Math.floor(this.nextFloat() * (maximum - minimum + 1));
  }

  /** An unsigned 32-bit integer: a seed for another generator. */
  nextSeed(): number {
    return Math.floor(this.nextFloat() * UINT32_RANGE);
  }

  /** True with probability `probability`. */
  chance(probability: number): boolean {
    return this.nextFloat() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[Math.floor(this.nextFloat() * items.length)]!;
  }

  /** `count` distinct integers from [0, size), in random order. */
  distinctIndexes(count: number, size: number): number[] {
    if (count > size) throw new RangeError(`cannot pick ${count} distinct indexes from ${size}`);
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(Math.floor(this.nextFloat() * size));
    return [...chosen];
  }
}
