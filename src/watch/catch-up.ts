/**
 * Watch catch-up: every change with a version in (afterVersion, upToVersion] inside
 * a key range, read from the store's retained history through one read view: a
 * version-filtered merged scan of the memtables (every chain, deleted keys too) and
 * of the runs (immutable sorted files, read through cursors over the range).
 *
 * Why this and not the WAL: the WAL is deleted up to each checkpoint (and a clean
 * close checkpoints), so it cannot answer "since version N" after a reopen; the
 * memtables and runs hold every version retention keeps, which is exactly what the
 * store promises to return, so "retained" means the same here as for history().
 *
 * Invariants:
 * - The caller pins upToVersion for the duration (retention then spares every
 *   version the scan must see) and takes the view in the same synchronous step.
 * - The result is in (version, key) order with no duplicates (a version present in
 *   a sealed memtable and in the run it was flushed to is reported once).
 * - A trimmed history that may have held a version above afterVersion is
 *   VersionNotRetainedError, never a silent gap.
 */
import { storedFromEncoded, type StoredValue } from '../codec/values.js';
import { VersionNotRetainedError, WatchOverflowError } from '../errors.js';
import type { ReadView } from '../engine/read-view.js';
import { WATCH_CATCH_UP_CHANGES_MAX } from '../limits.js';
import type { KeyRange } from '../memory/memory-index.js';
import { TOMBSTONE } from '../memory/version-chain.js';
import { assert } from '../util/assert.js';

/** One change in internal form: the key as a byte string, the slot (TOMBSTONE for a delete). */
export interface RawChange {
  version: number;
  key: string;
  slot: StoredValue | typeof TOMBSTONE;
}

const CHUNK_KEYS = 256;

export function compareChanges(left: RawChange, right: RawChange): number {
  if (left.version !== right.version) return left.version - right.version;
  return left.key < right.key ? -1 : left.key > right.key ? 1 : 0;
}

export async function collectChanges(view: ReadView, range: KeyRange, afterVersion: number, upToVersion: number): Promise<RawChange[]> {
  assert(afterVersion <= upToVersion, 'catch-up runs forward');
  const found = new Map<string, RawChange>();
  const add = (change: RawChange): void => {
    if (change.version <= afterVersion || change.version > upToVersion) return;
    found.set(`${change.version}\u0000${change.key}`, change);
    if (found.size > WATCH_CATCH_UP_CHANGES_MAX) throw new WatchOverflowError(found.size, afterVersion);
  };
  for (const memtable of view.memtables) {
    let cursor: string | undefined;
    for (;;) {
      const chunk = memtable.chainsChunk(range, cursor, false, CHUNK_KEYS);
      for (const [key, chain] of chunk) {
        if (chain.trimmedBelow > afterVersion + 1) throw new VersionNotRetainedError(afterVersion, chain.trimmedBelow);
        for (let index = 0; index < chain.length; index++) add({ version: chain.versionAt(index), key, slot: chain.slotAt(index) });
      }
      if (chunk.length < CHUNK_KEYS) break;
      cursor = chunk.at(-1)![0];
    }
  }
  for (const run of view.runs) {
    if (run.descriptor.maxVersion <= afterVersion || run.descriptor.minVersion > upToVersion) continue;
    await collectRun(await run.cursor(range, false), add, view.maxVersionsPerKey, afterVersion);
  }
  return [...found.values()].sort(compareChanges);
}

async function collectRun(
  cursor: Awaited<ReturnType<ReadView['runs'][number]['cursor']>>,
  add: (change: RawChange) => void,
  maxVersionsPerKey: number,
  afterVersion: number,
): Promise<void> {
  try {
    let key: string | undefined;
    let versionsOfKey = 0;
    while (cursor.current !== undefined) {
      const entry = cursor.current;
      versionsOfKey = entry.key === key ? versionsOfKey + 1 : 1;
      key = entry.key;
      // With bounded retention a key holding the maximum count may have lost older versions.
      if (versionsOfKey >= maxVersionsPerKey && entry.version > afterVersion + 1) throw new VersionNotRetainedError(afterVersion, entry.version);
      add({ version: entry.version, key: entry.key, slot: entry.value === undefined ? TOMBSTONE : storedFromEncoded(entry.value) });
      const pending = cursor.advance();
      if (pending !== undefined) await pending;
    }
  } finally {
    cursor.close();
  }
}
