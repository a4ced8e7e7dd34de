/**
 * A key's retained versions as callers see them: newest first, values decoded,
 * deletes marked. Shared by store.history() and snapshot.history().
 */
import { readStored } from '../codec/values.js';
import { TOMBSTONE, type VersionChain } from './version-chain.js';

export interface HistoryEntry {
  version: number;
  value?: unknown;
  deleted: boolean;
}

/** Up to `limit` retained versions of `chain` at or below `upToVersion`, newest first. */
export function historyOf(chain: VersionChain | undefined, upToVersion: number, limit: number): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  if (chain === undefined) return entries;
  for (let index = chain.length - 1; index >= 0 && entries.length < limit; index--) {
    const version = chain.versionAt(index);
    if (version > upToVersion) continue;
    const slot = chain.slotAt(index);
    entries.push(slot === TOMBSTONE ? { version, deleted: true } : { version, value: readStored(slot), deleted: false });
  }
  return entries;
}
