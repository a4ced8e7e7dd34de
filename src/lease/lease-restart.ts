/**
 * The lease restart rule, applied at open: openStore calls expireLeasesAtOpen once
 * the store is built, before it returns the store to the caller.
 *
 * Rule (docs/ARCHITECTURE.md "Leases"): every lease held when the store was last
 * closed or crashed is expired at the next open, because its holder lived in that
 * process. Its record and its bound keys are deleted by commits of this open, so a
 * reader of the opened store never sees a key bound to a lease of an earlier open.
 *
 * Invariant: when this resolves, no record of an earlier open is left. If the
 * deletions fail, the store is closed and the open fails (a store whose dead
 * leases could still be seen is not handed out). Except in a store whose last version
 * is handed out (VersionSpaceExhaustedError): nothing can commit there, so the records
 * stay, and the store opens to be read and copied (README, LADYBUG_VERSION_SPACE_EXHAUSTED).
 */
import type { Store } from '../store/store.js';

export async function expireLeasesAtOpen(store: Store): Promise<void> {
  try {
    await store.leases.restartApplied();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
}
