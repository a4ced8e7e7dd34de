/**
 * The reserved key prefix "\u0000ladybug/" as a fact about keys, with no dependency:
 * the run writer counts the entries under it (RunDescriptor.reservedEntryCount) and
 * a scan skips runs that hold none (src/engine/merged-scan.ts, runMayHoldRange).
 * What may be written there is lease-record.ts's and reserved-keys.ts's business.
 *
 * The prefix is ASCII, so it is its own internal byte string (src/codec/keys.ts):
 * these functions apply to internal keys and internal key ranges alike.
 *
 * Invariant: the keys that start with a prefix form one contiguous interval in byte
 * order, so a range whose lower and upper bounds both start with the prefix (or whose
 * upper bound is the first key past it) holds only keys that start with it.
 */
export const RESERVED_KEY_PREFIX = '\u0000ladybug/';

/** The smallest key greater than every key under RESERVED_KEY_PREFIX ("\u0000ladybug0"). */
const RESERVED_KEY_PREFIX_END = `${RESERVED_KEY_PREFIX.slice(0, -1)}${String.fromCharCode(RESERVED_KEY_PREFIX.charCodeAt(RESERVED_KEY_PREFIX.length - 1) + 1)}`;

/** True when `key` (internal) lies in the reserved key space. */
export function isReservedKey(key: string): boolean {
  return key.charCodeAt(0) === 0 && key.startsWith(RESERVED_KEY_PREFIX);
}

/** A key range's bounds, as in src/memory/memory-index.ts (KeyRange): internal keys. */
export interface RangeBounds {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
}

/** True when every key `range` can hold lies under RESERVED_KEY_PREFIX (an empty range included). */
export function rangeInsideReservedPrefix(range: RangeBounds): boolean {
  const lower = range.gte ?? range.gt;
  if (lower === undefined || !lower.startsWith(RESERVED_KEY_PREFIX)) return false;
  if (range.lt !== undefined) return range.lt.startsWith(RESERVED_KEY_PREFIX) || range.lt === RESERVED_KEY_PREFIX_END;
  return range.lte !== undefined && range.lte.startsWith(RESERVED_KEY_PREFIX);
}
