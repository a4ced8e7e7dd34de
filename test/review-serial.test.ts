/**
 * Adversarial review of store.transactionSync (src/transaction/serial-transaction.ts):
 * interleavings forced with a held WAL datasync or a held WAL write, looking for a
 * serial transaction's answer (result or error) that depends on a commit that is not
 * yet durable, or that a full disk then refuses.
 *
 * Covered: a body that throws after reading an unapplied commit (its error is an
 * answer too: it must not reach the caller before what it read is durable, nor
 * survive that commit's refusal); reads of keys an unapplied commit deleted, or a
 * batch wrote twice; that no other reader (get, scan, history, snapshot, watch,
 * optimistic transaction) sees a serial write before its fdatasync.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, DiskFullError, openStore, type Store } from '../src/index.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { checkHistory, describeAnomalies, type Operation, type Outcome, type Transaction } from './support/elle/checker.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';
import { gatedStore, scanAll, settle, settleUntil, track } from './transaction-support.js';
import { SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX } from '../src/limits.js';

const openStores: Store[] = [];
/** Releases whatever a failed test left held, so close() can finish. */
const releases: Array<() => void> = [];

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  for (const store of openStores.splice(0)) await store.close().catch(() => undefined);
});

const WAL_SEGMENT = /wal-\d+\.log$/;

/** While armed, a WAL segment's write waits until the test releases or fails it. */
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

class BodyError extends Error {
  constructor(readonly seen: unknown) {
    super(`body saw ${String(seen)}`);
  }
}

async function tracked() {
  const opened = await gatedStore();
  openStores.push(opened.store);
  releases.push(() => opened.gated.releaseAll());
  return opened;
}

describe('review: serial transaction answers wait for what they read', () => {
  it('a body that throws after reading an unsynced commit rejects only once that commit is visible (process order)', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const writer = track(store.put('x', 2));
    const held = await gated.nextHeld(); // x = 2 is ordered, its datasync held
    releases.push(() => held.release());
    const failing = track(store.transactionSync((tx) => {
      throw new BodyError(tx.get('x'));
    }));
    await settle();
    await settle();
    // The body saw x = 2, which no reader can see yet: its error must wait like a result would.
    expect(failing.settled).toBe(false);
    gated.armed = false;
    held.release();
    await settleUntil(() => failing.settled);
    expect(failing.error).toBeInstanceOf(BodyError);
    expect((failing.error as BodyError).seen).toBe(2);
    // After the caller got the error, every reader sees the state the body saw.
    expect(await store.get('x')).toBe(2);
    await writer.promise;
  });

  it('a body that throws after reading a commit refused for a full disk gets the refusal, not its own error', async () => {
    const fault = new FaultFileSystem(11);
    const gated = new WriteGatedFileSystem(fault);
    const store = await openStore('/db', { fileSystem: gated, segmentSizeBytes: 256 * 1024 });
    openStores.push(store);
    releases.push(() => {
      gated.armed = false;
      while (gated.heldCount() > 0) gated.takeHeld().release();
    });
    await store.put('balance', 100);
    gated.armed = true;
    const withdrawal = track(store.put('balance', 0));
    await settleUntil(() => gated.heldCount() === 1);
    const transfer = track(store.transactionSync((tx) => {
      const balance = tx.get('balance') as number;
      if (balance < 50) throw new BodyError(balance); // "insufficient funds", from a write that never happens
      tx.put('balance', balance - 50);
    }));
    await settle();
    gated.armed = false;
    gated.takeHeld().fail(fileSystemError('ENOSPC', 'write', 'wal'));
    await settleUntil(() => withdrawal.settled && transfer.settled);
    expect(withdrawal.error).toBeInstanceOf(DiskFullError);
    expect(await store.get('balance')).toBe(100);
    // The body's answer rested on balance = 0, which never became real.
    expect(transfer.error).toBeInstanceOf(DiskFullError);
  });
});

describe('review: what a serial body reads from unapplied commits', () => {
  it('reads undefined for a key an unsynced commit deleted, and the last write of a batch that names a key twice', async () => {
    const { store, gated } = await tracked();
    await store.batch([{ type: 'put', key: 'gone', value: 1 }, { type: 'put', key: 'twice', value: 1 }]);
    gated.armed = true;
    const deleting = track(store.delete('gone'));
    const held = await gated.nextHeld();
    const batch = track(store.batch([
      { type: 'put', key: 'twice', value: 'first' },
      { type: 'del', key: 'twice' },
      { type: 'put', key: 'late', value: 'a' },
      { type: 'put', key: 'late', value: 'b' },
    ]));
    await settle();
    const seen = track(store.transactionSync((tx) => [tx.get('gone'), tx.get('twice'), tx.get('late')]));
    await settle();
    gated.releaseAll();
    held.release();
    await settleUntil(() => deleting.settled && batch.settled && seen.settled);
    expect(seen.value).toEqual([undefined, undefined, 'b']);
    expect([await store.get('gone'), await store.get('twice'), await store.get('late')]).toEqual([undefined, undefined, 'b']);
  });

  it('no other reader sees a serial write before its fdatasync: get, scan, history, snapshot, watch, optimistic transaction', async () => {
    const { store, gated } = await tracked();
    await store.put('k', 'old');
    const feed = store.watch({ gte: 'k', lt: 'l' });
    const firstChange = feed.next();
    gated.armed = true;
    const serial = track(store.transactionSync((tx) => tx.put('k', 'new')));
    const held = await gated.nextHeld();
    await settle();
    expect(await store.get('k')).toBe('old');
    expect(await scanAll(store)).toEqual([['k', 'old']]);
    expect((await store.history('k')).map((entry) => entry.value)).toEqual(['old']);
    const snapshot = await store.snapshot();
    expect(await snapshot.get('k')).toBe('old');
    await snapshot.release();
    expect(await store.transaction(async (tx) => tx.get('k'))).toBe('old');
    const watched = track(firstChange);
    await settle();
    expect(watched.settled).toBe(false);
    gated.armed = false;
    held.release();
    await serial.promise;
    const change = await firstChange;
    expect(change.value).toMatchObject({ key: 'k', value: 'new', deleted: false });
    await feed.return(undefined);
  });
});

describe('review: serial transactions against failures, retention and the write stall', () => {
  it('a serial body that read an optimistic commit whose fdatasync then fails neither commits nor answers', async () => {
    const { store, gated } = await tracked();
    await store.put('x', 1);
    gated.armed = true;
    const optimistic = track(store.transaction(async (tx) => {
      tx.put('x', ((await tx.get('x')) as number) + 1);
    }));
    const held = await gated.nextHeld();
    const writer = track(store.transactionSync((tx) => tx.put('y', tx.get('x'))));
    const reader = track(store.transactionSync((tx) => tx.get('x')));
    await settle();
    held.fail(Object.assign(new Error('EIO: fdatasync'), { code: 'EIO' }));
    await settleUntil(() => optimistic.settled && writer.settled && reader.settled);
    expect(optimistic.error).toBeInstanceOf(Error);
    expect(writer.error).toBeInstanceOf(Error);
    expect(reader.error).toBeInstanceOf(Error);
    expect(reader.value).toBeUndefined();
    expect(await store.get('y')).toBeUndefined();
  });

  it('reads the newest version with maxVersionsPerKey 1 while a snapshot pins an older one', async () => {
    const fault = new FaultFileSystem(12);
    const store = await openStore('/db', { fileSystem: fault, segmentSizeBytes: 256 * 1024, maxVersionsPerKey: 1 });
    openStores.push(store);
    await store.put('k', 1);
    const snapshot = await store.snapshot();
    await store.put('k', 2);
    await store.put('k', 3);
    expect(await store.transactionSync((tx) => {
      tx.put('k', (tx.get('k') as number) * 10);
      return tx.get('k');
    })).toBe(30);
    expect(await snapshot.get('k')).toBe(1);
    await snapshot.release();
    expect(await store.get('k')).toBe(30);
  });

  it('a serial transaction behind the write stall waits for admission outside the commit lock (no deadlock)', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(13), memoryBudgetBytes: 1024 * 1024, checkpointOnClose: false });
    openStores.push(store);
    const operations = Array.from({ length: 3000 }, (_unused, index) => ({
      type: 'put' as const, key: `big/${String(index).padStart(5, '0')}`, value: `${index} `.padEnd(120, 'v'),
    }));
    const big = store.batch(operations);
    const serial = store.transactionSync((tx) => {
      const seen = tx.get('big/02999');
      tx.put('after', seen);
      return seen;
    });
    const plain = store.put('plain', 1);
    const [bigResult, seen] = await Promise.all([big, serial, plain]);
    expect(bigResult.version).toBeGreaterThan(0);
    expect(seen).toBe(operations[2999]!.value);
    expect(await store.get('after')).toBe(operations[2999]!.value);
    expect(store.stats().storage.writeStalls).toBeGreaterThanOrEqual(1);
  });
});


/** Each WAL write fails with ENOSPC with probability 1/12 (nothing written: the group is refused, the store goes on). */
class FlakyDiskFileSystem extends ForwardingFileSystem {
  readonly #random: SeededRandom;
  refusals = 0;
  armed = false;

  constructor(inner: FaultFileSystem, seed: number) {
    super(inner);
    this.#random = new SeededRandom(seed);
  }

  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      write: async (data, position) => {
        for (let tick = this.#random.nextIntInclusive(0, 2); tick > 0; tick--) await settle();
        if (this.armed && WAL_SEGMENT.test(path) && this.#random.chance(1 / 12)) {
          this.refusals++;
          throw fileSystemError('ENOSPC', 'write', path);
        }
        return handle.write(data, position);
      },
    });
  }
}

class ChoseToAbort extends Error {}

const ELLE_KEYS = ['k0', 'k1', 'k2', 'k3'];

function list(value: unknown): number[] | null {
  return value === undefined ? null : [...(value as number[])];
}

/**
 * List-append by 6 clients, serial or optimistic at random, with WAL writes refused
 * for a full disk at random. A body that chose to abort is recorded as a committed
 * read-only transaction: its error is an answer resting on its reads, so they must
 * be of durable state in process order (a refused write read by it is G1a). Only
 * its reads before its first append are kept (later ones may show its own writes).
 */
async function flakyDiskHistory(seed: number): Promise<{ history: Transaction[]; refusals: number }> {
  const fileSystem = new FlakyDiskFileSystem(new FaultFileSystem(seed), seed);
  const store = await openStore('/db', { fileSystem, segmentSizeBytes: 1 << 20 });
  openStores.push(store);
  fileSystem.armed = true;
  const history: Transaction[] = [];
  let nextElement = 1;
  const seeds = new SeededRandom(seed);
  await Promise.all(Array.from({ length: 6 }, async (_unused, process) => {
    const random = new SeededRandom(seeds.nextSeed());
    for (let count = 0; count < 50; count++) {
      const plan = Array.from({ length: random.nextIntInclusive(1, 3) }, () => ({
        key: ELLE_KEYS[random.nextIntInclusive(0, ELLE_KEYS.length - 1)]!,
        element: random.chance(0.5) ? nextElement++ : undefined,
      }));
      const abort = random.chance(0.25);
      let operations: Operation[] = [];
      const step = (read: unknown, key: string, element: number | undefined, put: (value: number[]) => void): void => {
        const current = list(read);
        operations.push(['r', key, current]);
        if (element !== undefined) {
          put([...(current ?? []), element]);
          operations.push(['append', key, element]);
        }
      };
      let outcome: Outcome = 'ok';
      try {
        if (random.chance(0.5)) {
          await store.transactionSync((tx) => {
            operations = [];
            for (const { key, element } of plan) step(tx.get(key), key, element, (value) => tx.put(key, value));
            if (abort) throw new ChoseToAbort();
          });
        } else {
          await store.transaction(async (tx) => {
            operations = [];
            for (const { key, element } of plan) step(await tx.get(key), key, element, (value) => tx.put(key, value));
            if (abort) throw new ChoseToAbort();
          }, { retries: 20 });
        }
      } catch (error) {
        // Its reads before its first (discarded) append: later ones may show its own writes.
        if (error instanceof ChoseToAbort) operations = operations.slice(0, ((index) => (index < 0 ? operations.length : index))(operations.findIndex((operation) => operation[0] === 'append')));
        else if (error instanceof DiskFullError || error instanceof ConflictError) outcome = 'fail';
        else throw error;
      }
      history.push({ id: history.length + 1, process, outcome, operations });
    }
  }));
  return { history, refusals: fileSystem.refusals };
}

describe('review: elle history with disk-full refusals and bodies that abort', () => {
  for (const seed of [31, 32]) {
    it(`no anomaly, aborting bodies' reads included (seed ${seed})`, async () => {
      const { history, refusals } = await flakyDiskHistory(seed);
      expect(refusals).toBeGreaterThan(0);
      const result = checkHistory(history, { isolation: 'serializable', processOrder: true });
      expect(result.anomalies, describeAnomalies(result.anomalies)).toEqual([]);
    });
  }
});


/** WriteGatedFileSystem that can also hold run-file reads while `readsArmed`. */
class ReadAndWriteGatedFileSystem extends WriteGatedFileSystem {
  readsArmed = false;
  readonly heldReads: Array<() => void> = [];

  protected override wrapHandle(handle: FileHandle, path: string): FileHandle {
    const writeGated = super.wrapHandle(handle, path);
    return replaceMethods(writeGated, {
      read: async (buffer, offset, length, position) => {
        if (this.readsArmed && /runs\//.test(path)) await new Promise<void>((release) => this.heldReads.push(release));
        return handle.read(buffer, offset, length, position);
      },
    });
  }
}

describe('review: the locked fallback across a disk-full refusal', () => {
  it('a locked section whose earlier attempt read a commit refused during its disk read commits from the state without it', async () => {
    const fault = new FaultFileSystem(41);
    const first = await openStore('/db', { fileSystem: fault, segmentSizeBytes: 64 * 1024 });
    const pad = 'v'.repeat(500);
    for (let start = 0; start < 200; start += 50) {
      await first.batch(Array.from({ length: 50 }, (_unused, offset) => ({ type: 'put' as const, key: `k${String(start + offset).padStart(3, '0')}`, value: `${start + offset}:${pad}` })));
    }
    await first.checkpoint();
    await first.close();
    const gated = new ReadAndWriteGatedFileSystem(fault);
    const store = await openStore('/db', { fileSystem: gated, segmentSizeBytes: 64 * 1024 });
    openStores.push(store);
    releases.push(() => {
      gated.armed = false;
      gated.readsArmed = false;
      while (gated.heldCount() > 0) gated.takeHeld().release();
      for (const release of gated.heldReads.splice(0)) release();
    });
    await store.put('x', 1);
    gated.armed = true;
    const refused = track(store.put('x', 2));
    await settleUntil(() => gated.heldCount() === 1); // x = 2 is in flight, its write held
    const cold = Array.from({ length: SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 3 }, (_unused, index) => `k${String(10 + index * 17).padStart(3, '0')}`);
    let attempts = 0;
    const seenX: unknown[] = [];
    const serial = track(store.transactionSync((tx) => {
      attempts++;
      const x = tx.get('x');
      seenX.push(x);
      // The first locked attempt: hold its disk read, so the refusal lands inside the section.
      if (attempts === SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX + 1) gated.readsArmed = true;
      for (const key of cold) tx.get(key);
      tx.put('y', x);
      return x;
    }));
    await settleUntil(() => gated.heldReads.length > 0);
    gated.armed = false;
    gated.takeHeld().fail(fileSystemError('ENOSPC', 'write', 'wal'));
    await settleUntil(() => refused.settled);
    expect(refused.error).toBeInstanceOf(DiskFullError);
    gated.readsArmed = false;
    for (const release of gated.heldReads.splice(0)) release();
    await settleUntil(() => serial.settled);
    expect(serial.error).toBeUndefined();
    expect(serial.value).toBe(1);
    // The first locked attempt read the unapplied x = 2; the one after the refusal did not.
    expect(seenX[SERIAL_TRANSACTION_PREFETCH_ROUNDS_MAX]).toBe(2);
    expect(seenX.at(-1)).toBe(1);
    expect(await store.get('x')).toBe(1);
    expect(await store.get('y')).toBe(1);
  });
});
