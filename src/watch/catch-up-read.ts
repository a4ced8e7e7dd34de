/**
 * The slots of one catch-up batch: changes an index pass found without their values
 * (catch-up.ts), read again at their exact versions from the sources that held them,
 * through the catch-up's one read view.
 *
 * Why this reads the slots the pass saw: a run never changes (the view holds it,
 * acquired, however compaction replaces it), and neither does a sealed memtable; the
 * active memtable only gains versions above the catch-up's (filtered out) and loses old
 * ones to per-key retention (a trim). A value is never reused while the view may read
 * it (slab-reuse.ts). So the entry at (version, key) is the one the pass saw, a delete
 * included (TOMBSTONE), or it is gone: a trimmed version is VersionNotRetainedError,
 * never a skipped change. Reads ask for exact versions, never "as of" one: a version
 * trimmed from a chain would otherwise resolve to an older entry.
 *
 * One run read per key and run in a batch: the batch's versions of a key in a run are
 * read together, from its largest (the read skips the key's blocks above it) down to
 * its smallest, and only they are kept. Every version of the key in the run between the
 * two is a change of the batch (the index holds every change after the cursor, in
 * order, and the batch is a prefix of it), so the values kept are the batch's own. A
 * read per change went through its key's whole block each time: 332 entries read per
 * change of a store of 10 keys with 20,000 versions each.
 *
 * Invariant: each change's slot is the one at exactly its version, or the read throws.
 */
import { storedFromEncoded } from '../codec/values.js';
import { VersionNotRetainedError } from '../errors.js';
import { isNotRetainedMarker } from '../engine/resolve.js';
import type { ReadView } from '../engine/read-view.js';
import { TOMBSTONE, type VersionChain, type VersionSlot } from '../memory/version-chain.js';
import type { RunEntry } from '../run/run-descriptor.js';
import { assert } from '../util/assert.js';

/** Where a change was found: a memtable of the view (its index), or a run (the memtables' count plus its index). */
export type ChangeSource = number;

/** A change of a batch, to read. */
export interface ChangeToRead {
  version: number;
  key: string;
  source: ChangeSource;
}

/** Counts history entries read; a promise to await when the event loop is due a turn (catch-up.ts's PassPace). */
export type CountReads = (entries: number) => Promise<void> | undefined;

/** The index of `version` in `chain` (oldest first), or -1 when the chain no longer holds it. */
function chainIndexOf(chain: VersionChain, version: number): number {
  let low = 0;
  let high = chain.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = chain.versionAt(middle);
    if (found === version) return middle;
    if (found < version) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

/**
 * The slot of `key` at exactly `version` in memtable `memtable`. `delivered`: the
 * version of the last change the feed delivered (the error's version).
 */
function memtableSlot(view: ReadView, memtable: number, key: string, version: number, delivered: number, nameKey: (key: string) => string | Uint8Array): VersionSlot {
  const chain = view.memtables[memtable]?.chain(key);
  assert(chain !== undefined, 'a memtable keeps every key it held');
  const index = chainIndexOf(chain, version);
  if (index >= 0) return chain.slotAt(index);
  // Only a trim takes a version out of a chain: commits made during the catch-up reclaimed it.
  const trimmedBelow = chain.trimmedBelow;
  assert(trimmedBelow > version, 'a version leaves a chain only by a trim');
  throw new VersionNotRetainedError(delivered, trimmedBelow, nameKey(key));
}

/** A key's changes of the batch in one run: the span of versions to read, then their slots. */
interface RunSpan {
  key: string;
  smallest: number;
  largest: number;
  slots: Map<number, VersionSlot>;
}

/** The spans of the batch's run changes, by run (source) and key. */
function runSpans(view: ReadView, batch: readonly ChangeToRead[]): Map<ChangeSource, Map<string, RunSpan>> {
  const spans = new Map<ChangeSource, Map<string, RunSpan>>();
  for (const { version, key, source } of batch) {
    if (source < view.memtables.length) continue;
    let byKey = spans.get(source);
    if (byKey === undefined) spans.set(source, byKey = new Map());
    const span = byKey.get(key);
    if (span === undefined) byKey.set(key, { key, smallest: version, largest: version, slots: new Map() });
    else span.largest = version; // the batch is in version order
  }
  return spans;
}

/** Keeps the slots of `entries` (the key's, newest first) inside the span; markers are skipped (the index pass refused those that mattered). */
function keepSpan(span: RunSpan, entries: readonly RunEntry[]): void {
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as RunEntry;
    if (entry.version > span.largest || entry.version < span.smallest || isNotRetainedMarker(entry.value)) continue;
    span.slots.set(entry.version, entry.value === undefined ? TOMBSTONE : storedFromEncoded(entry.value));
  }
}

/** Reads every span of the batch, in key order run by run (neighbouring keys share blocks). */
async function readSpans(view: ReadView, spans: Map<ChangeSource, Map<string, RunSpan>>, count: CountReads): Promise<void> {
  for (const [source, byKey] of spans) {
    const run = view.runs[source - view.memtables.length];
    assert(run !== undefined, 'a change found in a run of the view');
    const ordered = [...byKey.values()].sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
    for (const span of ordered) {
      const found = run.versionsOf(span.key, undefined, span.smallest, 1, span.largest);
      const entries = found instanceof Promise ? await found : found;
      keepSpan(span, entries);
      const turn = count(entries.length);
      if (turn !== undefined) await turn;
    }
  }
}

/**
 * The slots of `batch` (changes in (version, key) order), in its order. `delivered`: the
 * version of the last change the feed delivered, for VersionNotRetainedError.
 */
export async function readBatch(
  view: ReadView,
  batch: readonly ChangeToRead[],
  delivered: number,
  nameKey: (key: string) => string | Uint8Array,
  count: CountReads,
): Promise<VersionSlot[]> {
  const spans = runSpans(view, batch);
  await readSpans(view, spans, count);
  const slots: VersionSlot[] = [];
  for (const { version, key, source } of batch) {
    if (source < view.memtables.length) {
      slots.push(memtableSlot(view, source, key, version, delivered, nameKey));
      const turn = count(1);
      if (turn !== undefined) await turn;
      continue;
    }
    const slot = spans.get(source)?.get(key)?.slots.get(version);
    assert(slot !== undefined, 'a run holds every entry it held');
    slots.push(slot);
  }
  return slots;
}
