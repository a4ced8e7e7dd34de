/**
 * Review of a1c6718 (a get's uncached answer wraps a byte value where the run's block
 * holds it, resolve.ts transientSlotOfEntry) beside the block cache's hit credit
 * (d03016e, fed568b) and the memtable charge's cache resizes (865a645).
 *
 * A block read into the read scratch (run-file.ts) or inflated into the inflate scratch
 * (block-inflater.ts) is reused by the next read, and a cached block's bytes are
 * shared by every reader. Whatever a caller receives must be its own and stay exact:
 * every value returned (get, as-of get, history, scan, snapshot, optimistic and serial
 * transactions) is held, mutated by the caller at once (bytes filled, nested Buffers
 * filled, properties changed), and compared with a fresh model copy after every later
 * read, with gets in flight together (the promise path: several scratch buffers at
 * once), writes and checkpoints (flushes, cache resizes) and a compaction running
 * between them, and every kind of value (Buffer of 0..5000 bytes, Uint8Array, nested
 * objects holding Buffers, strings, numbers, empty string).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { FileSystem } from '../src/fs/file-system.js';
import { openStore } from '../src/index.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { ForwardingFileSystem, NoReadSyncFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import type { FileHandle } from '../src/fs/file-system.js';

/**
 * Reads on the promise path that complete out of order: each waits a seeded number of
 * event-loop turns (0-3) before and after the bytes land in the caller's buffer, so reads in
 * flight together hold several scratch buffers and finish in any order.
 */
class ShuffledReadFileSystem extends ForwardingFileSystem {
  readonly #random = new SeededRandom(23);
  async #turns(): Promise<void> {
    for (let turns = this.#random.nextIntInclusive(0, 3); turns > 0; turns--) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  protected wrapHandle(handle: FileHandle): FileHandle {
    return replaceMethods(handle, {
      read: async (buffer, offset, length, position) => {
        await this.#turns();
        const readBytes = await handle.read(buffer, offset, length, position);
        await this.#turns(); // the bytes are in the buffer; other reads run before the caller sees them
        return readBytes;
      },
    });
  }
}

const KEY_COUNT = 300;
const keyOf = (index: number): string => `k${String(index).padStart(5, '0')}`;

/** The value of key `index` at `generation` (a fresh object each call: the model). */
function valueOf(index: number, generation: number): unknown {
  const fill = (index * 7 + generation) % 251;
  switch (index % 9) {
    case 0: return Buffer.alloc([0, 1, 100, 300, 5000][(index / 9) % 5 | 0]!, fill);
    case 1: return new Uint8Array(64).fill(fill);
    case 2: return { bytes: Buffer.alloc(40, fill), list: [Buffer.alloc(3, fill), 'x'], generation };
    case 3: return `text-${index}-${generation}`;
    case 4: return index * 1000 + generation;
    case 5: return '';
    case 6: return Buffer.alloc(4096 + (index % 13), fill); // about a block of its own
    case 7: return [new Uint8Array(5).fill(fill), { nested: Buffer.alloc(9, fill) }];
    default: return { generation, empty: Buffer.alloc(0) };
  }
}

/** What a careless caller does with what it read: changes every byte and property it can reach. */
function mutate(value: unknown): void {
  if (value instanceof Uint8Array) {
    value.fill(0xee);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) mutate(item);
    value.push('added');
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) mutate(item);
    (value as Record<string, unknown>).added = true;
  }
}

/** A deep copy keeping each byte array's type (structuredClone makes a Buffer a Uint8Array). */
function clone(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(clone);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, clone(item)]));
  return value;
}

interface Held {
  what: string;
  value: unknown;
  expected: unknown;
  snapshot: unknown;
}

/** Returned values are mutated at once; `snapshot` is what the held value must stay (its mutated form). */
function hold(held: Held[], what: string, value: unknown, expected: unknown): void {
  expect(value, what).toEqual(expected);
  mutate(value);
  held.push({ what, value, expected, snapshot: clone(value) });
}

function checkHeld(held: readonly Held[]): void {
  for (const { what, value, snapshot } of held) expect(value, `${what} changed after later reads`).toEqual(snapshot);
}

async function scenario(fileSystem: FileSystem): Promise<void> {
  const store = await openStore('/store', { fileSystem, memoryBudgetBytes: 512 * 1024, checkpointOnClose: false });
  const held: Held[] = [];
  try {
    const generations: number[] = [];
    const firstVersion: number[] = [];
    for (let index = 0; index < KEY_COUNT; index++) {
      const { version } = await store.put(keyOf(index), valueOf(index, 0));
      firstVersion[index] = version;
      generations[index] = 0;
    }
    await store.checkpoint();
    for (let index = 0; index < KEY_COUNT; index += 3) {
      await store.put(keyOf(index), valueOf(index, 1));
      generations[index] = 1;
    }
    await store.checkpoint(); // two runs, nothing in memory
    const current = (index: number): unknown => valueOf(index, generations[index]!);

    for (let round = 0; round < 3; round++) {
      // Gets in flight together, each key twice (the point cache's second miss admits it).
      const indexes = Array.from({ length: KEY_COUNT }, (_, index) => index).filter((index) => (index + round) % 2 === 0);
      const reads = await Promise.all([...indexes, ...indexes].map(async (index) => ({ index, value: await store.get(keyOf(index)) })));
      for (const { index, value } of reads) hold(held, `get ${keyOf(index)} round ${round}`, value, current(index));
      // Writes, a flush and cache resizes between reads.
      const writer = (async () => {
        for (let index = round; index < KEY_COUNT; index += 11) {
          await store.put(keyOf(index), valueOf(index, 2 + round));
          generations[index] = 2 + round;
        }
        await store.checkpoint();
      })();
      const during = await Promise.all(indexes.slice(0, 120).map(async (index) => ({ index, before: generations[index]!, value: await store.get(keyOf(index)) })));
      await writer;
      for (const { index, before, value } of during) {
        // Read while the writer ran: the generation before or after its write.
        const candidates = [valueOf(index, before), current(index)];
        expect(candidates, `get ${keyOf(index)} during writes`).toContainEqual(value);
        mutate(value);
        held.push({ what: `get during writes ${keyOf(index)}`, value, expected: undefined, snapshot: clone(value) });
      }
      // As-of reads of the first generation, history, a snapshot and a scan.
      for (let index = round; index < KEY_COUNT; index += 17) {
        hold(held, `asOf ${keyOf(index)}`, await store.get(keyOf(index), { asOf: firstVersion[index]! }), valueOf(index, 0));
        const history = await store.history(keyOf(index));
        expect(history[0]?.value, `history ${keyOf(index)}`).toEqual(current(index));
        for (const entry of history) mutate(entry.value);
        held.push({ what: `history ${keyOf(index)}`, value: history, expected: undefined, snapshot: clone(history) });
      }
      const snapshot = await store.snapshot();
      try {
        for (let index = round; index < KEY_COUNT; index += 13) hold(held, `snapshot ${keyOf(index)}`, await snapshot.get(keyOf(index)), current(index));
      } finally {
        snapshot.release();
      }
      let scanned = 0;
      for await (const [key, value] of store.scan({ gte: keyOf(round * 50), lt: keyOf(round * 50 + 40) })) {
        hold(held, `scan ${String(key)}`, value, current(Number(String(key).slice(1))));
        scanned++;
      }
      expect(scanned).toBe(40);
      // Transactions: a value read, mutated, read again in the same transaction.
      for (let index = round; index < KEY_COUNT; index += 29) {
        await store.transaction(async (tx) => {
          const first = await tx.get(keyOf(index));
          expect(first).toEqual(current(index));
          mutate(first);
          expect(await tx.get(keyOf(index)), `transaction ${keyOf(index)} second read`).toEqual(current(index));
        });
        await store.transactionSync((tx) => {
          const first = tx.get(keyOf(index));
          expect(first).toEqual(current(index));
          mutate(first);
          expect(tx.get(keyOf(index)), `serial transaction ${keyOf(index)} second read`).toEqual(current(index));
        });
      }
      checkHeld(held);
    }
    // Gets while a compaction replaces the runs (its blocks retired, then dropped).
    const compaction = store.compact();
    for (let index = 0; index < KEY_COUNT; index += 2) hold(held, `get during compaction ${keyOf(index)}`, await store.get(keyOf(index)), current(index));
    await compaction;
    for (let index = 0; index < KEY_COUNT; index++) expect(await store.get(keyOf(index)), `after compaction ${keyOf(index)}`).toEqual(current(index));
    checkHeld(held);
    const storage = store.stats().storage;
    expect(storage.blockCacheHits).toBeGreaterThan(0); // cached blocks were read...
    expect(storage.blockCacheMisses).toBeGreaterThan(0); // ...and blocks outside the cache
    // Nothing on this file system is damaged: a repair would mean a read saw another read's bytes (and parity hid it).
    expect(storage.repairedBlocks).toBe(0);
  } finally {
    await store.close();
  }
}

describe('review read16: returned values never alias scratch or cached blocks', () => {
  it('readSync path', async () => {
    await scenario(new FaultFileSystem(16));
  }, 120_000);

  it('promise path (reads in flight together)', async () => {
    await scenario(new NoReadSyncFileSystem(new FaultFileSystem(17)));
  }, 120_000);

  it('promise path, reads completing out of order', async () => {
    await scenario(new ShuffledReadFileSystem(new FaultFileSystem(18)));
  }, 120_000);
});
