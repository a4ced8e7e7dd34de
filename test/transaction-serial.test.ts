/**
 * store.transactionSync(): serial transactions run inside the commit critical
 * section against the latest ordered state (src/transaction/serial-transaction.ts).
 *
 * The interleavings are forced, not hoped for: a WAL datasync or a WAL write is held
 * open by the test, so commits are ordered but not durable while later transactions
 * run. Covered: reads of ordered-but-unsynced commits (the overlay) and that no
 * other reader sees them early; pipelining many transactions into shared groups
 * without conflicts; fail-stop when an earlier group's fdatasync fails or its write
 * hits a full disk; bodies that throw, return a promise, or catch the internal miss;
 * keys that must come from disk (after a checkpoint and reopen) and the locked
 * fallback past the prefetch rounds; and serializability against concurrent
 * optimistic transactions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  DiskFullError,
  InvalidOptionError,
  openStore,
  StoreFailedError,
  type Store,
} from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle, type FileSystem } from '../src/fs/file-system.js';
import { SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX } from '../src/limits.js';
import { ForwardingFileSystem, NoReadSyncFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { gatedStore, settle, settleUntil, track } from './transaction-support.js';

const openStores: Store[] = [];

afterEach(async () => {
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

const WAL_SEGMENT = /wal-\d+\.log$/;

/** While armed, a WAL segment's write waits until the test releases it or fails it (then nothing is written). */
class WriteGatedFileSystem extends ForwardingFileSystem {
  armed = false;
  readonly #held: Array<{ release: () => void; fail: (error: Error) => void }> = [];

  heldCount(): number {
    return this.#held.length;
  }

  takeHeld(): { release: () => void; fail: (error: Error) => void } {
    const held = this.#held.shift();
    if (held === undefined) throw new Error('no WAL write is held');
    return held;
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      write: async (data, position) => {
        if (!this.armed || !WAL_SEGMENT.test(path)) return handle.write(data, position);
        await new Promise<void>((release, fail) => this.#held.push({ release, fail }));
        return handle.write(data, position);
      },
    });
  }
}

async function tracked(options: Parameters<typeof gatedStore>[0] = {}) {
  const opened = await gatedStore(options);
  openStores.push(opened.store);
  return opened;
}

describe('store.transactionSync', () => {
  it('reads, writes and resolves with the body result once durable and visible', async () => {
    const { store } = await tracked();
    await store.put('a', 10);
    const result = await store.transactionSync((tx) => {
      const a = tx.get('a') as number;
      tx.put('a', a - 3);
      tx.put('b', 3);
      expect(tx.get('a')).toBe(7); // its own write
      return a;
    });
    expect(result).toBe(10);
    expect(await store.get('a')).toBe(7);
    expect(await store.get('b')).toBe(3);
    // Read-only: nothing to commit, resolves with the result.
    expect(await store.transactionSync((tx) => tx.get('missing') ?? 'none')).toBe('none');
  });

  it('reads commits that are ordered but not yet durable, which no other reader sees', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const first = track(store.transactionSync((tx) => tx.put('x', (tx.get('x') as number) + 1)));
    const held = await gated.nextHeld(); // first's group is written, its datasync held
    const second = track(store.transactionSync((tx) => {
      const x = tx.get('x') as number;
      tx.put('x', x + 1);
      return x;
    }));
    await settle();
    // Ordered behind the held group: its body already ran and saw first's unsynced write.
    expect(second.settled).toBe(false);
    expect(await store.get('x')).toBe(1);
    const snapshot = await store.snapshot();
    expect(await snapshot.get('x')).toBe(1);
    await snapshot.release();
    const optimisticRead = await store.transaction(async (tx) => tx.get('x'));
    expect(optimisticRead).toBe(1);
    gated.armed = false;
    held.release();
    gated.releaseAll();
    await first.promise;
    expect(await second.promise).toBe(2);
    expect(await store.get('x')).toBe(3);
  });

  it('pipelines contending transfers into shared groups, with no conflict and the total conserved', async () => {
    const { store } = await tracked();
    const accounts = 4;
    for (let account = 0; account < accounts; account++) await store.put(`acct/${account}`, 1000);
    const before = store.stats().commits;
    const beforeGroups = store.stats().groupCommits;
    const transfers = 64;
    await Promise.all(Array.from({ length: transfers }, (_unused, index) => store.transactionSync((tx) => {
      const from = `acct/${index % accounts}`;
      const to = `acct/${(index + 1) % accounts}`;
      tx.put(from, (tx.get(from) as number) - index);
      tx.put(to, (tx.get(to) as number) + index);
    })));
    let total = 0;
    for (let account = 0; account < accounts; account++) total += (await store.get(`acct/${account}`)) as number;
    expect(total).toBe(accounts * 1000);
    const stats = store.stats();
    expect(stats.commits - before).toBe(transfers);
    // Ordered one after another without waiting for each other's fdatasync: fewer groups than commits.
    expect(stats.groupCommits - beforeGroups).toBeLessThan(transfers);
  });

  it('fails every later dependent transaction when an earlier group\'s fdatasync fails (fail-stop)', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const first = track(store.transactionSync((tx) => tx.put('x', 2)));
    const held = await gated.nextHeld();
    const dependent = track(store.transactionSync((tx) => {
      tx.put('y', tx.get('x'));
    }));
    await settle();
    held.fail(Object.assign(new Error('EIO: fdatasync'), { code: 'EIO' }));
    await settleUntil(() => first.settled && dependent.settled);
    expect(first.error).toBeInstanceOf(Error);
    expect(dependent.error).toBeInstanceOf(StoreFailedError);
    expect(store.stats().failed).toBe(true);
    await expect(store.put('z', 1)).rejects.toBeInstanceOf(StoreFailedError);
  });

  it('answers a read-only transaction that read an unsynced commit only once that commit is durable', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const writer = track(store.transactionSync((tx) => tx.put('x', 2)));
    const held = await gated.nextHeld();
    const reader = track(store.transactionSync((tx) => tx.get('x')));
    await settle();
    await settle();
    expect(reader.settled).toBe(false);
    gated.armed = false;
    held.release();
    expect(await reader.promise).toBe(2);
    await writer.promise;
    // After it answered, every reader sees what it saw (process order).
    expect(await store.get('x')).toBe(2);
  });

  it('rejects a read-only transaction that read a commit whose fdatasync failed', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const writer = track(store.transactionSync((tx) => tx.put('x', 2)));
    const held = await gated.nextHeld();
    const reader = track(store.transactionSync((tx) => tx.get('x')));
    await settle();
    held.fail(Object.assign(new Error('EIO: fdatasync'), { code: 'EIO' }));
    await settleUntil(() => writer.settled && reader.settled);
    expect(writer.error).toBeInstanceOf(Error);
    expect(reader.error).toBeInstanceOf(Error);
    expect(reader.value).toBeUndefined();
  });

  it('refuses a queued transaction that read a commit refused for a full disk', async () => {
    const fault = new FaultFileSystem(7);
    const gated = new WriteGatedFileSystem(fault);
    const store = await openStore('/db', { fileSystem: gated, segmentSizeBytes: 256 * 1024 });
    openStores.push(store);
    await store.put('x', 1);
    gated.armed = true;
    const first = track(store.transactionSync((tx) => tx.put('x', 2)));
    await settleUntil(() => gated.heldCount() === 1); // first's group is being written
    const dependent = track(store.transactionSync((tx) => {
      const x = tx.get('x') as number;
      tx.put('y', x * 10);
      return x;
    }));
    await settle();
    expect(dependent.settled).toBe(false);
    gated.armed = false;
    gated.takeHeld().fail(fileSystemError('ENOSPC', 'write', 'wal'));
    await settleUntil(() => first.settled && dependent.settled);
    expect(first.error).toBeInstanceOf(DiskFullError);
    // It read x = 2, which never happened: it must not commit y = 20.
    expect(dependent.error).toBeInstanceOf(DiskFullError);
    expect(await store.get('x')).toBe(1);
    expect(await store.get('y')).toBeUndefined();
    // The store goes on (disk full is not fatal), and the refused version is no phantom.
    await store.transactionSync((tx) => tx.put('y', (tx.get('x') as number) * 10));
    expect(await store.get('y')).toBe(10);
  });

  it('writes nothing when the body throws, returns a promise, or catches a refused read', async () => {
    const { store } = await tracked();
    await store.put('a', 1);
    await expect(store.transactionSync((tx) => {
      tx.put('a', 2);
      throw new RangeError('abort');
    })).rejects.toThrow(RangeError);
    await expect(store.transactionSync((async (tx: { put(key: string, value: unknown): void }) => {
      tx.put('a', 3);
    }) as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(store.transactionSync(42 as never)).rejects.toBeInstanceOf(InvalidOptionError);
    expect(await store.get('a')).toBe(1);
    let escaped: { get(key: string): unknown } | undefined;
    await store.transactionSync((tx) => {
      escaped = tx;
    });
    expect(() => escaped!.get('a')).toThrow(expect.objectContaining({ code: 'LADYBUG_TRANSACTION_CLOSED' }));
  });

  async function coldStore(fileSystem: FileSystem): Promise<Store> {
    const first = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024 });
    // 500-byte values: a 4 KiB block holds a handful of keys, so keys 17 apart never share one.
    const pad = 'v'.repeat(500);
    const value = (index: number): string => `${index}:${pad}`;
    for (let start = 0; start < 200; start += 50) {
      await first.batch(Array.from({ length: 50 }, (_unused, offset) => ({ type: 'put' as const, key: `k${String(start + offset).padStart(3, '0')}`, value: value(start + offset) })));
    }
    await first.checkpoint();
    await first.close();
    const store = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024 });
    openStores.push(store);
    return store;
  }
  const number = (read: unknown): number => Number(String(read).split(':')[0]);
  /** Keys in distinct blocks (500-byte values: keys 17 apart never share a 4 KiB block). */
  const coldKeys = Array.from({ length: SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 3 }, (_unused, index) => `k${String(10 + index * 17).padStart(3, '0')}`);

  it('reads keys that only the disk holds, without synchronous reads: prefetch rounds, then the locked fallback', async () => {
    // Without readSync a block read is a promise, which a synchronous body cannot wait for.
    const store = await coldStore(new NoReadSyncFileSystem(new FaultFileSystem(3)));
    // Cold caches: each read misses once, then the prefetch makes it a memory hit.
    let runs = 0;
    const sum = await store.transactionSync((tx) => {
      runs++;
      const total = number(tx.get('k001')) + number(tx.get('k150'));
      tx.put('sum', total);
      return total;
    });
    expect(sum).toBe(151);
    expect(runs).toBeGreaterThan(1);
    expect(await store.get('sum')).toBe(151);
    // A body that reads more cold keys (each in a block not yet read) than there are
    // prefetch rounds reaches the locked fallback.
    const keys = coldKeys;
    let attempts = 0;
    const values = await store.transactionSync((tx) => {
      attempts++;
      const read = keys.map((key) => number(tx.get(key)));
      tx.put('many', read.reduce((left, right) => left + right, 0));
      return read;
    });
    expect(values).toEqual(keys.map((key) => Number(key.slice(1))));
    expect(attempts).toBeGreaterThan(SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX);
    expect(await store.get('many')).toBe(values.reduce((left, right) => left + right, 0));
  });

  it('reads keys that only the disk holds, with synchronous reads: a cold block is read inside the body, no prefetch round', async () => {
    const store = await coldStore(new FaultFileSystem(3));
    await store.get('k000'); // opens the run (its footer, index and filter are read by promise)
    let attempts = 0;
    const values = await store.transactionSync((tx) => {
      attempts++;
      const read = coldKeys.map((key) => number(tx.get(key)));
      tx.put('many', read.reduce((left, right) => left + right, 0));
      return read;
    });
    expect(values).toEqual(coldKeys.map((key) => Number(key.slice(1))));
    expect(attempts).toBe(1);
    expect(await store.get('many')).toBe(values.reduce((left, right) => left + right, 0));
  });

  it('discards an attempt whose body caught the refused disk read and went on', async () => {
    const fileSystem = new FaultFileSystem(5);
    const first = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024 });
    await first.put('cold', 40);
    await first.checkpoint();
    await first.close();
    const store = await openStore('/db', { fileSystem, segmentSizeBytes: 64 * 1024 });
    openStores.push(store);
    const seen: unknown[] = [];
    // A body that swallows every error must not commit, or answer, from a read it never got.
    const result = await store.transactionSync((tx) => {
      let value: number;
      try {
        value = tx.get('cold') as number;
      } catch {
        value = 0;
      }
      seen.push(value);
      try {
        tx.put('cold', value + 2);
      } catch {
        // swallowed too
      }
      return value;
    });
    expect(result).toBe(40);
    // Every attempt before the last missed, swallowed the miss, and was discarded.
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.slice(0, -1).every((value) => value === 0)).toBe(true);
    expect(seen.at(-1)).toBe(40);
    expect(await store.get('cold')).toBe(42);
  });

  it('makes a concurrent optimistic transaction that read a key it writes conflict and retry', async () => {
    const { store } = await tracked();
    await store.put('c', 0);
    let attempts = 0;
    const optimistic = store.transaction(async (tx) => {
      attempts++;
      const value = (await tx.get('c')) as number;
      // Let the serial transaction order its write after this read.
      if (attempts === 1) await store.transactionSync((serial) => serial.put('c', (serial.get('c') as number) + 100));
      tx.put('c', value + 1);
    });
    await optimistic;
    expect(attempts).toBe(2);
    expect(await store.get('c')).toBe(101);
  });
});
