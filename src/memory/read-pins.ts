/**
 * Versions that running reads (scans) still read as of. Retention trimming asks
 * `oldest()` and spares whatever that version sees, so a long scan never finds a
 * version it needs reclaimed underneath it. Next issue's snapshots and
 * transactions pin through the same structure (the epoch guard).
 *
 * Invariant: `oldest()` is the smallest pinned version, or Infinity when none.
 */
import { assert } from '../util/assert.js';

export class ReadPins {
  readonly #counts = new Map<number, number>();
  /** When each pinned version was first pinned (performance.now() ms). */
  readonly #pinnedAtMs = new Map<number, number>();
  #oldest = Infinity;
  #total = 0;

  pin(version: number): void {
    this.#total++;
    this.#counts.set(version, (this.#counts.get(version) ?? 0) + 1);
    if (!this.#pinnedAtMs.has(version)) this.#pinnedAtMs.set(version, performance.now());
    if (version < this.#oldest) this.#oldest = version;
  }

  unpin(version: number): void {
    const count = this.#counts.get(version);
    assert(count !== undefined && count > 0, `unpin of version ${version} that is not pinned`);
    this.#total--;
    if (count > 1) {
      this.#counts.set(version, count - 1);
      return;
    }
    this.#counts.delete(version);
    this.#pinnedAtMs.delete(version);
    if (version === this.#oldest) this.#oldest = Math.min(Infinity, ...this.#counts.keys());
  }

  oldest(): number {
    return this.#oldest;
  }

  /** How long the oldest pinned version has been pinned, in ms (0 when none). */
  oldestAgeMs(): number {
    const pinnedAt = this.#pinnedAtMs.get(this.#oldest);
    return pinnedAt === undefined ? 0 : performance.now() - pinnedAt;
  }

  /** Number of pins held (two scans at one version count twice). */
  get count(): number {
    return this.#total;
  }
}
