/**
 * What the manifest records about one run file, and what a reader needs to open it
 * and check that the file is the one the manifest meant (right address, right write).
 *
 * Shared by the run format (src/run/) and the manifest (src/manifest/): the manifest
 * stores descriptors, the run writer produces them, the run reader checks a file
 * against one.
 *
 * Keys here are internal byte strings (src/codec/keys.ts): one char 0..255 per key
 * byte, so string comparison is byte order.
 */

export interface RunDescriptor {
  /** Unique per store, never reused (the manifest hands them out). */
  runId: number;
  /** Random u32 chosen when the file was written: an older file left under the same name fails the checks. */
  generation: number;
  /** 0 for runs flushed from a memtable; compaction (a later issue) writes deeper levels. */
  level: number;
  /** File name inside `<store>/runs/`. */
  fileName: string;
  fileBytes: number;
  /** Entries (versions and tombstones) in the run. */
  entryCount: number;
  /** Distinct keys in the run. */
  keyCount: number;
  minVersion: number;
  maxVersion: number;
  /** Smallest and largest key in the run (internal byte strings). */
  smallestKey: string;
  largestKey: string;
  /**
   * Entries (versions and tombstones) whose key begins with the reserved prefix
   * "\u0000ladybug/" (src/lease/reserved-prefix.ts), counted by the run writer.
   * Absent in runs written before manifest format 3: unknown, the run may hold some.
   * A run that says 0 cannot contribute to a scan of a range inside the prefix (the
   * lease restart scan at open), so that scan skips it without opening it.
   * Tombstones count: a deleted record's tombstone must still hide older versions.
   */
  reservedEntryCount?: number;
  /** xxHash64 of the footer, 16 lowercase hex digits: the parent's copy of the footer's checksum. */
  footerChecksum: string;
}

/** One entry of a run: a key's version, with its msgpack-encoded value or undefined for a delete. */
export interface RunEntry {
  key: string;
  version: number;
  /** The encoded value (may be a view into a cached block: copy it to keep it), or undefined for a tombstone. */
  value: Uint8Array | undefined;
}
