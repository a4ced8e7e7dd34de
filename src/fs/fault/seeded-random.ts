/**
 * SeededRandom: the only source of randomness in FaultFileSystem
 * (src/fs/fault-file-system.ts), used by crash() to choose what survives.
 *
 * Invariants
 * - Deterministic: the same seed gives the same sequence, so a crash test run is
 *   reproducible from its seed. The instance is handed on to the rebooted file
 *   system, so successive crashes in one run draw different numbers.
 * - The state is a 32-bit unsigned integer; outputs are in [0, 1).
 */

/** mulberry32: a tiny seeded generator, good enough for choosing crash outcomes. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number {
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  nextBoolean(): boolean {
    return this.nextFloat() < 0.5;
  }
}
