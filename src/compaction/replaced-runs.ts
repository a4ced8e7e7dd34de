/**
 * The runs a compaction replaced whose readers read views may still hold: each
 * reader is closed once no view holds it (RunHandle#retire), or at close.
 *
 * Invariants:
 * - A run is retired only after the manifest no longer lists it and RunSet#replace
 *   took it out, and only while its reader is open (asserted): its file is unlinked
 *   next, and the views that still hold it read through that reader, as POSIX keeps
 *   an unlinked file readable through an open descriptor.
 * - Readers are closed one after another, in the order their last holder let go;
 *   closeAll() waits for those closes, then closes what is still held, so no reader
 *   of a replaced run stays open after the compactor closed.
 */
import type { RunHandle } from '../engine/run-set.js';
import { assert } from '../util/assert.js';

export class ReplacedRuns {
  /** Retired runs whose readers are not closed yet. */
  readonly #held = new Set<RunHandle>();
  /** The chain of reader closes, in the order the runs' last holders let go. */
  #closes: Promise<void> = Promise.resolve();

  /** Closes the replaced input's reader once no read view holds it (at closeAll() otherwise). */
  retire(input: RunHandle): void {
    assert(input.opened, `replaced run ${input.descriptor.runId} is open (its file is unlinked next)`);
    this.#held.add(input);
    input.retire(() => {
      this.#closes = this.#closes.then(async () => {
        this.#held.delete(input);
        await input.close().catch(() => undefined);
      });
    });
  }

  /** Replaced runs whose readers are still open (stats: replacedRunsHeld). */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Their files' bytes: unlinked, still on disk while open (stats: replacedRunBytesHeld). */
  get heldBytes(): number {
    let total = 0;
    for (const run of this.#held) total += run.descriptor.fileBytes;
    return total;
  }

  /** Waits for the closes under way, then closes every reader still held. */
  async closeAll(): Promise<void> {
    await this.#closes.catch(() => undefined);
    for (const input of this.#held) await input.close().catch(() => undefined);
    this.#held.clear();
  }
}
