/**
 * The write stall's view of the commit pipeline: the bytes (framed sizes) of the
 * commits admitted (queued or in flight) and not yet applied or refused. A large
 * batch waiting for its fdatasync counts here, so the stall holds later writers back
 * before memory grows (src/engine/storage-engine.ts reads it through CommitTarget).
 *
 * Invariants:
 * - Every commit is counted once when enqueued and leaves once: applied, refused, or
 *   rejected with an unknown outcome. The count never goes negative (asserted).
 * - The target hears `unappliedFell` after commits left, at a record's end or after a
 *   refusal, never in the middle of a record's acknowledgements, and `unappliedRose`
 *   after each commit is counted (the write stall lets its next waiter re-check then).
 */
import { assert } from '../util/assert.js';
import type { CommitTarget } from './commit-target.js';

export class UnappliedCommits {
  readonly #target: CommitTarget;
  #bytes = 0;

  constructor(target: CommitTarget) {
    this.#target = target;
    target.watchUnapplied?.(this.#read);
  }

  /** Bytes of the commits admitted and not yet applied or refused. */
  get bytes(): number {
    return this.#bytes;
  }

  readonly #read = (): number => this.#bytes;

  /** A commit was enqueued: counted, then the target hears it (a writer let through the stall has enqueued). */
  admitted(sizeBytes: number): void {
    assert(sizeBytes > 0, 'a commit has a framed size');
    this.#bytes += sizeBytes;
    this.#target.unappliedRose?.();
  }

  /** A commit left (applied or refused); call `fell` once the batch of departures ends. */
  left(sizeBytes: number): void {
    this.#bytes -= sizeBytes;
  }

  /** Ends a batch of departures: checks the count and tells the target. */
  fell(): void {
    assert(this.#bytes >= 0, 'unapplied bytes count only enqueued commits');
    this.#target.unappliedFell?.();
  }
}
