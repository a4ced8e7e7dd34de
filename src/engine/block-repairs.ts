/**
 * The blocks and parity pages the engine's readers rebuilt from parity (RunSet's
 * onRepair): counted for stats().storage (repairedBlocks, repairedParityPages) and each
 * logged once, as a process warning naming run, block and stripe (LADYBUG_BLOCK_REPAIRED).
 */
import type { RepairEvent } from '../run/run-file.js';
import { BlockKind } from '../run/run-format.js';

export class BlockRepairs {
  #blocks = 0;
  #parityPages = 0;

  /** Blocks rebuilt (a footer included) since open. */
  get blocks(): number {
    return this.#blocks;
  }

  /** Parity pages rebuilt since open. */
  get parityPages(): number {
    return this.#parityPages;
  }

  /** A block rebuilt from parity: counted, and logged once (a process warning naming run, block and stripe). */
  record(event: RepairEvent): void {
    if (event.kind === 'parity') this.#parityPages++;
    else this.#blocks++;
    // The footer (in no stripe) is rebuilt by scrub from the open run's copy (run-scrub.ts), not from parity.
    const what = event.kind === BlockKind.footer
      ? `the footer of run ${event.runId} (${event.file}) at offset ${event.logicalOffset}, from the open run's copy`
      : `${event.kind === 'parity' ? 'a parity page' : 'a block'} of run ${event.runId} (${event.file}) at offset ${event.logicalOffset}, stripe ${event.stripes.join(',')}, from parity`;
    process.emitWarning(`ladybug-store repaired ${what}${event.rewritten ? ', rewritten in place' : ''}`, { code: 'LADYBUG_BLOCK_REPAIRED' });
  }
}
