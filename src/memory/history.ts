/**
 * A key's retained versions as callers see them: newest first, values decoded,
 * deletes marked. Shared by store.history() and snapshot.history(); the versions
 * come from the read view (memtables and runs merged, retention applied).
 */
import { readStored, type StoredValue } from '../codec/values.js';
import { TOMBSTONE } from './version-chain.js';

export interface HistoryEntry {
  version: number;
  value?: unknown;
  deleted: boolean;
}

/** Caller-facing entries of resolved versions (newest first). */
export function historyEntries(versions: ReadonlyArray<{ version: number; slot: StoredValue | typeof TOMBSTONE }>): HistoryEntry[] {
  return versions.map(({ version, slot }) =>
    slot === TOMBSTONE ? { version, deleted: true } : { version, value: readStored(slot), deleted: false });
}
