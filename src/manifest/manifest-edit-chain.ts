/**
 * The manifest's edit chain (manifest.ts): the records after the last full-state
 * record of the current generation, their sequence numbers, and the decision for each
 * edit to append it as a record or to rewrite the whole state as a new generation
 * (manifest-files.ts moves the bytes). Rewrites happen when the chain reaches
 * `editsMax` edits or MANIFEST_EDIT_CHAIN_BYTES_MAX bytes, and when the edit needs a
 * newer chain format than the state record says (manifest-format.ts,
 * stateFormatVersion); close() asks for one past CLOSE_REWRITE_EDITS_MIN edits.
 *
 * Invariants
 * - plan() is one synchronous step under the manifest lock (the owner's
 *   `assertLocked` is called first): it checks the edit, checks the chain against its
 *   bounds and increments it, and reserves the sequence number (seed race 9: no
 *   check-then-increment across an await). It throws before changing anything.
 * - Sequence numbers only grow: every record planned or generation started gets one
 *   above the last.
 * - withdraw() undoes the last plan, whose edit nothing of is durable (ENOSPC before
 *   its first byte: manifest.ts), so the next plan takes its sequence number again:
 *   a chain's sequence numbers are consecutive (manifest-reader.ts).
 * - A plan that finds `editsMax` or more edits in the chain, or no room for its
 *   record under MANIFEST_EDIT_CHAIN_BYTES_MAX, rewrites: the chain a handle appends
 *   to stays within both bounds (one adopted at open may be longer until then).
 */
import type { Buffer } from 'node:buffer';
import { MANIFEST_EDIT_CHAIN_BYTES_MAX } from '../limits.js';
import { assert } from '../util/assert.js';
import type { Hash64 } from '../wal/wal-format.js';
import { encodeRecord, stateFormatVersion } from './manifest-format.js';
import { applyEdit, copyDescriptor, type ManifestEdit, type ManifestState } from './manifest-state.js';

/** close() rewrites the manifest as one full state when at least this many edits follow the last one. */
export const CLOSE_REWRITE_EDITS_MIN = 16;

/** One edit as planned: the state after it, its sequence number and what to write. */
export interface AppendPlan {
  next: ManifestState;
  sequence: number;
  /** The edit record to append, or undefined when this edit rewrites the whole manifest. */
  record: Buffer | undefined;
}

export interface ManifestEditChainOptions {
  hash: Hash64;
  /** Edits appended before the next edit rewrites the whole manifest. */
  editsMax: number;
  /** Asserts the manifest lock is held (OrderedMutex.assertHeld). */
  assertLocked: () => void;
}

export class ManifestEditChain {
  readonly #hash: Hash64;
  readonly #editsMax: number;
  readonly #assertLocked: () => void;
  #lastSequence = 0;
  #editsSinceRewrite = 0;
  #editBytesSinceRewrite = 0;
  /** The counters before the last plan (withdraw), until the next plan or start over. */
  #beforePlan: { sequence: number; edits: number; editBytes: number } | undefined;

  constructor(options: ManifestEditChainOptions) {
    assert(Number.isSafeInteger(options.editsMax) && options.editsMax >= 1, 'editsMax is a positive integer');
    this.#hash = options.hash;
    this.#editsMax = options.editsMax;
    this.#assertLocked = options.assertLocked;
  }

  /** The sequence number of the last record planned or written. */
  get lastSequence(): number {
    return this.#lastSequence;
  }

  /** The sequence number a new generation written now starts at. */
  get nextSequence(): number {
    return this.#lastSequence + 1;
  }

  /** Edit records after the current generation's full-state record. */
  get editsSinceRewrite(): number {
    return this.#editsSinceRewrite;
  }

  /** Whether close() should rewrite the chain as one full state (see manifest.ts). */
  get wantsRewriteAtClose(): boolean {
    return this.#editsSinceRewrite >= CLOSE_REWRITE_EDITS_MIN;
  }

  /** At open: the chain read from disk ends at `sequence` (before anything is written). */
  resumeAt(sequence: number): void {
    assert(Number.isSafeInteger(sequence) && sequence >= this.#lastSequence, 'a resumed chain does not go back');
    this.#lastSequence = sequence;
  }

  /** At open: the generation on disk is kept as it is, with `edits` records of `editBytes` after its state record. */
  adoptTail(edits: number, editBytes: number): void {
    assert(Number.isSafeInteger(edits) && edits >= 0 && Number.isSafeInteger(editBytes) && editBytes >= 0, 'an adopted chain has a non-negative length');
    this.#editsSinceRewrite = edits;
    this.#editBytesSinceRewrite = editBytes;
  }

  /** A new generation holding the whole state was written at `sequence`: the chain starts over. */
  startedOver(sequence: number): void {
    this.#assertLocked();
    assert(sequence > 0 && sequence >= this.#lastSequence, 'a new generation does not go back');
    this.#lastSequence = sequence;
    this.#editsSinceRewrite = 0;
    this.#editBytesSinceRewrite = 0;
    this.#beforePlan = undefined;
  }

  /** Undoes the last plan (sequence `sequence`): nothing of its edit was written (see the header). */
  withdraw(sequence: number): void {
    this.#assertLocked();
    const before = this.#beforePlan;
    assert(before !== undefined && this.#lastSequence === sequence && before.sequence === sequence - 1, 'only the last plan is withdrawn');
    this.#lastSequence = before.sequence;
    this.#editsSinceRewrite = before.edits;
    this.#editBytesSinceRewrite = before.editBytes;
    this.#beforePlan = undefined;
  }

  /**
   * The one synchronous step of an apply(): the new state from `state` and the run id
   * counter `nextRunId`, then the chain-length (and bytes) check and its increment
   * together, then the sequence number. Throws RangeError (before changing anything)
   * when the edit does not apply.
   */
  plan(state: ManifestState, nextRunIdCounter: number, edit: ManifestEdit): AppendPlan {
    this.#assertLocked();
    const addedIdsMax = Math.max(-1, ...(edit.addRuns ?? []).map((run) => run.runId));
    const nextRunId = Math.max(nextRunIdCounter, edit.nextRunId ?? 0, addedIdsMax + 1);
    const written: ManifestEdit & { nextRunId: number } = { ...edit, nextRunId };
    if (edit.addRuns !== undefined) written.addRuns = edit.addRuns.map(copyDescriptor);
    if (edit.removeRunIds !== undefined) written.removeRunIds = [...edit.removeRunIds];
    const next = applyEdit(state, written);
    if (typeof next === 'string') throw new RangeError(`manifest edit refused: ${next}`);
    const sequence = this.#lastSequence + 1;
    const record = encodeRecord(sequence, { kind: 'edit', edit: written }, this.#hash);
    // The first floor above 0 rewrites: the chain's state record must say format 2
    // (manifest-format.ts, stateFormatVersion), or earlier code would read the floor's
    // edit and ignore it.
    const raisesFirstFloor = (edit.retentionFloor ?? 0) > 0 && (state.retentionFloor ?? 0) === 0;
    // Likewise the first run with a reserved entry count in a store of an earlier release
    // (format 1 or 2 chain): the chain must say format 3, which earlier code refuses.
    const needsNewerFormat = stateFormatVersion(next) > stateFormatVersion(state);
    const rewrite =
      raisesFirstFloor ||
      needsNewerFormat ||
      this.#editsSinceRewrite >= this.#editsMax ||
      this.#editBytesSinceRewrite + record.length > MANIFEST_EDIT_CHAIN_BYTES_MAX;
    this.#beforePlan = { sequence: this.#lastSequence, edits: this.#editsSinceRewrite, editBytes: this.#editBytesSinceRewrite };
    if (rewrite) {
      this.#editsSinceRewrite = 0;
      this.#editBytesSinceRewrite = 0;
    } else {
      this.#editsSinceRewrite += 1;
      this.#editBytesSinceRewrite += record.length;
    }
    this.#lastSequence = sequence;
    return { next, sequence, record: rewrite ? undefined : record };
  }
}
