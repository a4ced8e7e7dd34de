/**
 * One key's answer as of a version, from its histories in several sources.
 *
 * A key's versions may be spread over the active memtable, sealed memtables and
 * runs. Sources are given newest first, and their versions never overlap: every
 * version in a newer source is above every version in an older one (memtables are
 * sealed in version order and runs are installed in memtable order).
 *
 * Retention (`maxVersionsPerKey` = N) is decided here, the same way whatever source
 * holds the versions. An entry is retained when
 * - fewer than N entries of the key lie above it, up to the reader's reference
 *   version (the newest version when the reader started), or
 * - a pinned reader may still read it: it is the entry visible at the oldest pinned
 *   version (`pinFloor`), or newer. Physical trimming spares exactly these, so
 *   nothing a pinned reader may read has been dropped.
 * A read that lands on an entry that is not retained, or on a version dropped by
 * trimming, throws VersionNotRetainedError; a read below the key's first version
 * answers "absent".
 *
 * The store-wide retention floor F (src/compaction/retention-floor.ts; 0 = none)
 * retains nothing by itself: the store refuses reads below F before they get here,
 * and history stops at the entry visible at F (the newest at or below F; it lists no
 * tombstone at or below F). Compaction drops everything older than that entry, and
 * the entry itself when it is a tombstone nothing older can resurface under. That
 * entry answers only as the rules above say: one they had refused stays refused when
 * F rises to it (until 2026-12-03 it was "always retained", so a version refused
 * before, still on disk, answered again once F rose to it).
 *
 * A version dropped by memtable trimming leaves a NOT_RETAINED marker when its
 * memtable is flushed (at the chain's first version), so a run still knows that
 * versions existed below what it holds.
 */
import { VersionNotRetainedError } from '../errors.js';
import type { StoredValue } from '../codec/values.js';
import { storedFromEncoded } from '../codec/values.js';
import { EncodedValue } from '../codec/value-slabs.js';
import { TOMBSTONE, type VersionChain, type VersionSlot } from '../memory/version-chain.js';
import type { RunEntry } from '../run/run-descriptor.js';

/**
 * The value bytes of a run entry that stands for versions dropped by retention: a
 * lone 0xc1, the one byte msgpack never uses, so no stored value can encode to it.
 */
export const NOT_RETAINED_BYTE = 0xc1;

export function isNotRetainedMarker(value: Uint8Array | undefined): boolean {
  return value !== undefined && value.length === 1 && value[0] === NOT_RETAINED_BYTE;
}

/** A key's history in one source: a memtable chain, or a run's entries newest first. */
export type SourceHistory = { chain: VersionChain } | { entries: readonly RunEntry[] };

export interface ResolveRequest {
  /** Read as of this version. */
  version: number;
  /** Entries above this are invisible to the reader (and do not count against retention). */
  referenceVersion: number;
  /** The oldest version another reader has pinned (Infinity when none): what it sees is retained. */
  pinFloor: number;
  maxVersionsPerKey: number;
}

/**
 * The key's slot as of `request.version` (undefined: absent then), or throws
 * VersionNotRetainedError. A run entry's slot is made by `slotOf` (a copy by default).
 */
export function resolveSlot(histories: readonly SourceHistory[], request: ResolveRequest, slotOf: (entry: RunEntry) => VersionSlot = slotOfEntry): VersionSlot | undefined {
  const { version, referenceVersion, maxVersionsPerKey, pinFloor } = request;
  // Entries above the read version that count against retention, and the version of
  // the entry just above the current one (whatever the reference version).
  let newer = 0;
  let aboveVersion = Infinity;
  let oldestRetained = Infinity;
  const retained = (entryVersion: number): boolean =>
    newer < maxVersionsPerKey || aboveVersion > pinFloor || entryVersion > pinFloor;
  for (const history of histories) {
    if ('chain' in history) {
      const chain = history.chain;
      for (let index = chain.length - 1; index >= 0; index--) {
        const entryVersion = chain.versionAt(index);
        if (entryVersion <= version) {
          if (!retained(entryVersion)) throw new VersionNotRetainedError(version, oldestRetained);
          return chain.slotAt(index);
        }
        if (entryVersion <= referenceVersion) newer++;
        if (retained(entryVersion)) oldestRetained = entryVersion;
        aboveVersion = entryVersion;
      }
      // Nothing at or below `version` left in this chain: trimmed away, or the key began later.
      if (chain.trimmedBelow !== 0 && version >= chain.firstVersion) throw new VersionNotRetainedError(version, chain.trimmedBelow);
      continue;
    }
    for (const entry of history.entries) {
      if (entry.version <= version) {
        if (isNotRetainedMarker(entry.value) || !retained(entry.version)) {
          throw new VersionNotRetainedError(version, oldestRetained === Infinity ? entry.version + 1 : oldestRetained);
        }
        return slotOf(entry);
      }
      if (entry.version <= referenceVersion) newer++;
      if (retained(entry.version)) oldestRetained = entry.version;
      aboveVersion = entry.version;
    }
  }
  return undefined;
}

/** The memory form of a run entry (a tombstone, or the value decoded from a copy of its bytes). */
export function slotOfEntry(entry: RunEntry): VersionSlot {
  return entry.value === undefined ? TOMBSTONE : storedFromEncoded(entry.value);
}

/** msgpack's bin 8/16/32 first bytes: a byte-array value (a Buffer when read back). */
const MSGPACK_BIN_FIRST = 0xc4;
const MSGPACK_BIN_LAST = 0xc6;

/**
 * slotOfEntry for a slot the reader uses and drops (a get's answer, not cached):
 * a byte-array value is wrapped as it lies in the run's block, not copied first,
 * since reading it (readStored) copies it out anyway. REQUIRES: the caller keeps
 * the slot no longer than the read (or a transaction) lasts: the slot keeps the
 * block's memory reachable. Other values as slotOfEntry.
 */
export function transientSlotOfEntry(entry: RunEntry): VersionSlot {
  const value = entry.value;
  if (value === undefined) return TOMBSTONE;
  const first = value[0];
  if (first !== undefined && first >= MSGPACK_BIN_FIRST && first <= MSGPACK_BIN_LAST) return new EncodedValue(value);
  return storedFromEncoded(value);
}

/**
 * slotOfEntry for a slot that one readStored reads and then drops (a scan's chunk,
 * src/engine/merged-scan.ts): every value, whatever its kind, is wrapped as it lies
 * in the run's block, neither copied nor decoded; readStored decodes it, into a
 * fresh copy for a mutable value, as it would the copy slotOfEntry makes. A scan
 * copied each value twice (a 100 B value: an ArrayBuffer of its own, ~0.6 us, then
 * the caller's copy). REQUIRES: the slot is not kept beyond that read (it keeps the
 * block's memory reachable); run blocks are never written once decoded.
 */
export function readOnceSlotOfEntry(entry: RunEntry): VersionSlot {
  return entry.value === undefined ? TOMBSTONE : new EncodedValue(entry.value);
}

export interface ResolvedVersion {
  version: number;
  slot: StoredValue | typeof TOMBSTONE;
}

/**
 * The key's retained versions at or below `upToVersion`, newest first, at most
 * `limit`: the newest N up to the reference version, and what pinned readers may
 * read (see the module header).
 */
export function resolveHistory(
  histories: readonly SourceHistory[],
  upToVersion: number,
  referenceVersion: number,
  pinFloor: number,
  maxVersionsPerKey: number,
  limit: number,
  retentionFloor = 0,
): ResolvedVersion[] {
  const result: ResolvedVersion[] = [];
  if (limit <= 0) return result;
  let rank = 0;
  let aboveVersion = Infinity;
  // True while the entry at hand is retained; once false it stays false for older ones.
  const take = (entryVersion: number): boolean => {
    const counted = entryVersion <= referenceVersion;
    // Below the floor entry (the newest at or below the floor): nothing is listed.
    if (entryVersion <= retentionFloor && aboveVersion <= retentionFloor) return false;
    const keep = (counted && rank < maxVersionsPerKey) || aboveVersion > pinFloor || entryVersion > pinFloor;
    if (counted) rank++;
    aboveVersion = entryVersion;
    return keep;
  };
  for (const history of histories) {
    if ('chain' in history) {
      const chain = history.chain;
      for (let index = chain.length - 1; index >= 0; index--) {
        const entryVersion = chain.versionAt(index);
        if (entryVersion > referenceVersion) {
          aboveVersion = entryVersion;
          continue;
        }
        if (!take(entryVersion)) return result;
        if (entryVersion <= retentionFloor && chain.slotAt(index) === TOMBSTONE) return result;
        if (entryVersion > upToVersion) continue;
        result.push({ version: entryVersion, slot: chain.slotAt(index) });
        if (result.length >= limit) return result;
      }
      if (chain.trimmedBelow !== 0) return result;
      continue;
    }
    for (const entry of history.entries) {
      if (entry.version > referenceVersion) {
        aboveVersion = entry.version;
        continue;
      }
      if (isNotRetainedMarker(entry.value) || !take(entry.version)) return result;
      if (entry.version <= retentionFloor && entry.value === undefined) return result;
      if (entry.version > upToVersion) continue;
      result.push({ version: entry.version, slot: slotOfEntry(entry) });
      if (result.length >= limit) return result;
    }
  }
  return result;
}
