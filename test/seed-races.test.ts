/**
 * Regression tests for the source system's race conditions (numbered 1-9 as in its
 * technical-debt list) whose components exist. Each test forces the bad
 * interleaving, at an `await`, and shows the design holds.
 *
 * - Race 1, write-behind (WAL written after memory). The design: append + fdatasync,
 *   then apply, then acknowledge. Forced here by a file system whose WAL datasync
 *   blocks on a promise the test controls: while it is pending, the put is not
 *   acknowledged and get/scan/history/version still show the old state; a failed
 *   datasync never makes the value visible.
 * - Race 2, conflict check under a read lock, commit later. The transaction check
 *   itself is forced in test/transaction-interleavings.test.ts (the race-2 gap);
 *   its precondition is here: version assignment is atomic with enqueueing under
 *   the commit lock. Forced by
 *   many async chains that interleave at every await, with a WAL datasync held
 *   open so commits pile up behind an in-flight group: versions are unique,
 *   contiguous, follow call order, and match apply (history) order and
 *   acknowledgement order.
 *
 * - Race 7, epoch read before the lock, slot drained meanwhile. Ours: a snapshot or
 *   transaction reads the visible version, captures its read view and pins the
 *   version in one synchronous step (the `readPins` row of LOCK_ORDER.md). Forced by
 *   overwrites under `maxVersionsPerKey: 1` that land between taking the
 *   snapshot/transaction and its first read; a control shows the hazard is real
 *   when reading the version and pinning it are separated by an await.
 *
 * The storage engine's races are forced in test/storage-races.test.ts: 3 LRU touch
 * across two locks (the block cache), 4 write-buffer id allocated before insertion
 * (a seal numbers and queues a memtable in one step), 6 dependency-graph maps updated
 * separately (runs installed in memtable order), 8 eviction victims picked under a
 * read lock (a memtable retired only after its run is durable and installed), 9 the
 * seed's snapshot chain length check-then-increment (the manifest's edit chain; also
 * test/manifest-interleavings.test.ts), and 7 again with flushes. Race 5 (parity
 * computed after the data lock is released) is forced in test/stripe-parity.test.ts
 * and test/race-review-parity-write.test.ts (a run of several chunks whose writes
 * complete late: the writer's appends wait for the chunk's write).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CommitOutcomeUnknownError, ErrorCode, openStore, StoreFailedError, type Store, type StoreOptions } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { abandonStore } from '../src/store/store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { GatedFileSystem } from './support/file-system-wrappers.js';
import { settle, track } from './transaction-support.js';

afterEach(removeTemporaryDirectories);

const OPTIONS: StoreOptions = { segmentSizeBytes: 16 * 1024, maxValueBytes: 4096 };

async function scanAll(store: Store): Promise<Array<[unknown, unknown]>> {
  const entries: Array<[unknown, unknown]> = [];
  for await (const entry of store.scan()) entries.push(entry);
  return entries;
}

/** Everything a reader can observe about key 'k' and the store's progress. */
async function observe(store: Store) {
  return {
    value: await store.get('k'),
    version: store.version,
    scan: await scanAll(store),
    history: (await store.history('k')).map((entry) => entry.version),
    commits: store.stats().commits,
  };
}

describe('seed race 1: write-behind (memory before the WAL is durable)', () => {
  it('a put is neither visible nor acknowledged while its WAL datasync is pending', async () => {
    const fault = new FaultFileSystem(11);
    const gated = new GatedFileSystem(fault);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    await store.put('k', 'old');
    const before = await observe(store);
    expect(before).toEqual({ value: 'old', version: 1, scan: [['k', 'old']], history: [1], commits: 1 });

    gated.armed = true;
    const put = track(store.put('k', 'new').then((result) => {
      gated.events.push('put acknowledged');
      return result;
    }));
    const held = await gated.nextHeld();
    // The record is written (the page cache has it) but not durable, and nothing shows it.
    const segment = held.path;
    const current = Buffer.from(await fault.readFile(segment));
    const durable = Buffer.from(fault.durableContent(segment)!);
    expect(current.equals(durable)).toBe(false);
    for (let round = 0; round < 3; round++) {
      await settle();
      expect(put.settled).toBe(false);
      expect(await observe(store)).toEqual(before);
    }
    // A second put queued behind the held group is not visible either.
    const second = track(store.put('k', 'newer'));
    await settle();
    expect(second.settled).toBe(false);
    expect(await store.get('k')).toBe('old');

    held.release();
    while (!put.settled) await settle();
    expect(put.value).toEqual({ version: 2 });
    expect(gated.events.slice(0, 3)).toEqual(['datasync held', 'datasync done', 'put acknowledged']);
    expect(await store.get('k')).toBe('new');
    // The second put went out in the next group, which is held now.
    const heldSecond = await gated.nextHeld();
    await settle();
    expect(second.settled).toBe(false);
    expect(await store.get('k')).toBe('new');
    expect(store.version).toBe(2);
    gated.armed = false;
    heldSecond.release();
    while (!second.settled) await settle();
    expect(second.value).toEqual({ version: 3 });
    expect(await store.get('k')).toBe('newer');
    expect((await store.history('k')).map((entry) => entry.version)).toEqual([3, 2, 1]);

    // Acknowledged means durable: a power loss right now loses none of it.
    store[abandonStore]();
    const afterCrash = await openStore('/db', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    expect(await afterCrash.get('k')).toBe('newer');
    expect((await afterCrash.history('k')).map((entry) => entry.version)).toEqual([3, 2, 1]);
    await afterCrash.close();
  });

  it('acknowledges exactly when the datasync resolves, and applies before acknowledging', async () => {
    const gated = new GatedFileSystem(new FaultFileSystem(12));
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    gated.armed = true;
    const observedAtAcknowledgement: unknown[] = [];
    const put = store.put('k', { n: 1 }).then(async (result) => {
      // Visible the moment it is acknowledged, to this caller and at its own version.
      observedAtAcknowledgement.push(store.version, await store.get('k'), await store.get('k', { asOf: result.version }));
      return result;
    });
    const held = await gated.nextHeld();
    await settle();
    expect(observedAtAcknowledgement).toEqual([]);
    held.release();
    expect(await put).toEqual({ version: 1 });
    expect(observedAtAcknowledgement).toEqual([1, { n: 1 }, { n: 1 }]);
    gated.armed = false;
    await store.close();
  });

  it('a crash while the datasync is pending loses only the unacknowledged put, which no reader saw', async () => {
    const fault = new FaultFileSystem(13);
    const gated = new GatedFileSystem(fault);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    await store.put('k', 'old');
    gated.armed = true;
    const put = track(store.put('k', 'lost'));
    await gated.nextHeld();
    expect(await store.get('k')).toBe('old');
    store[abandonStore]();
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    expect(put.settled).toBe(false);
    expect(await reopened.get('k')).toBe('old');
    expect(reopened.version).toBe(1);
    await reopened.close();
  });

  it('a failed datasync never makes the value visible; the store fails and keeps serving reads', async () => {
    const gated = new GatedFileSystem(new FaultFileSystem(14));
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    await store.put('k', 'old');
    const before = await observe(store);
    gated.armed = true;
    const put = track(store.put('k', 'never'));
    const queuedBehind = track(store.put('other', 'never either'));
    (await gated.nextHeld()).fail(Object.assign(new Error('EIO: datasync'), { code: 'EIO' }));
    await settle();
    // Both were submitted in one tick, so written in one record whose fdatasync failed:
    // outcome unknown (issue 13, defect 7; the queued case is in test/review-commit.test.ts).
    expect(put.error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect((put.error as CommitOutcomeUnknownError).code).toBe(ErrorCode.CommitOutcomeUnknown);
    expect(queuedBehind.error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(await observe(store)).toEqual(before);
    expect(await store.get('other')).toBeUndefined();
    expect(store.stats()).toMatchObject({ failed: true, version: 1, commits: 1 });
    await expect(store.put('k', 'later')).rejects.toBeInstanceOf(StoreFailedError);
    await expect(store.delete('k')).rejects.toBeInstanceOf(StoreFailedError);
    expect(await store.get('k')).toBe('old');
    await store.close();
  });

  it('the same with the fault-injecting file system failing fdatasync (fsyncgate: the write is dropped)', async () => {
    const fault = new FaultFileSystem(15);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('k', 'old');
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: /wal-\d+\.log$/ });
    await expect(store.put('k', 'never')).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    expect(await store.get('k')).toBe('old');
    expect(store.version).toBe(1);
    expect(store.stats().failed).toBe(true);
    await store.close();
    // A power loss: what was acknowledged survives, the failed write is gone.
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    expect(await reopened.get('k')).toBe('old');
    expect(reopened.version).toBe(1);
    await reopened.close();
  });

  it('after a failed datasync and a reopen, later acknowledged writes survive a power loss', async () => {
    // BUG (src/wal/wal-recovery.ts + src/store/open-store.ts): the README says to reopen
    // after StoreFailedError, and that reopening "replays what is really on disk". It
    // replays the page cache instead: the record whose fdatasync failed (version 2) is
    // replayed and becomes visible, and the writer resumes right after it in the same
    // segment. The next put (version 3) is acknowledged after its own fdatasync, but the
    // failed record was never made durable (fsyncgate), so after a power loss its bytes
    // are zeros; recovery takes the all-zero record header for the end of the log and
    // silently drops the acknowledged version 3 behind it.
    const fault = new FaultFileSystem(16);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    await store.put('a', 'A');
    fault.injectFault({ operation: 'datasync', error: 'EIO', path: /wal-\d+\.log$/ });
    await expect(store.put('b', 'B')).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    await store.close();
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    const { version } = await reopened.put('c', 'C');
    expect(await reopened.get('c')).toBe('C');
    await reopened.close();
    const afterPowerLoss = await openStore('/db', { ...OPTIONS, fileSystem: fault.crash('drop-unsynced') });
    const survived = { a: await afterPowerLoss.get('a'), c: await afterPowerLoss.get('c'), version: afterPowerLoss.version };
    await afterPowerLoss.close();
    expect(survived).toEqual({ a: 'A', c: 'C', version });
  });

  it('on the real disk: not visible while the real fdatasync is held back', async () => {
    const gated = new GatedFileSystem(new NodeFileSystem({ syncMode: 'threadpool' }));
    const directory = temporaryDirectory();
    const store = await openStore(directory, { ...OPTIONS, fileSystem: gated });
    await store.put('k', 'old');
    gated.armed = true;
    const put = track(store.put('k', 'new'));
    const held = await gated.nextHeld();
    await settle();
    expect(put.settled).toBe(false);
    expect(await store.get('k')).toBe('old');
    expect(store.version).toBe(1);
    held.release();
    gated.armed = false;
    while (!put.settled) await settle();
    expect(put.value).toEqual({ version: 2 });
    expect(await store.get('k')).toBe('new');
    expect(gated.events).toEqual(['datasync held', 'datasync done']);
    await store.close();
    const reopened = await openStore(directory, OPTIONS);
    expect(await reopened.get('k')).toBe('new');
    await reopened.close();
  });
});

describe('seed race 2 precondition: version assignment is atomic with enqueue under the commit lock', () => {
  it('many interleaving async chains get unique, contiguous versions in call order, matching apply and acknowledgement order', async () => {
    const fault = new FaultFileSystem(21);
    const gated = new GatedFileSystem(fault);
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    const CHAINS = 40;
    const STEPS = 15;
    const KEYS = 7;
    const calls: Array<{ chain: number; step: number; key: string; value: string; callIndex: number }> = [];
    const acknowledged: number[] = [];
    const results = new Map<number, { version: number }>();

    // Hold one WAL datasync open in the middle, so commits pile up behind an in-flight group.
    const holder = (async () => {
      while (calls.length < (CHAINS * STEPS) / 3) await settle();
      gated.armed = true;
      const held = await gated.nextHeld();
      gated.armed = false;
      for (let turn = 0; turn < 5; turn++) await settle();
      held.release();
    })();

    let seed = 99;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    await Promise.all(Array.from({ length: CHAINS }, async (_, chain) => {
      for (let step = 0; step < STEPS; step++) {
        // Interleave at awaits: some chains yield microtasks, some a macrotask turn.
        const yields = random(4);
        for (let turn = 0; turn < yields; turn++) await Promise.resolve();
        if (random(3) === 0) await settle();
        const key = `key${random(KEYS)}`;
        const value = `c${chain}s${step}`;
        const callIndex = calls.length;
        calls.push({ chain, step, key, value, callIndex });
        const result = await store.put(key, value);
        acknowledged.push(result.version);
        results.set(callIndex, result);
      }
    }));
    await holder;

    const total = CHAINS * STEPS;
    const versions = calls.map((call) => results.get(call.callIndex)!.version);
    // Unique and contiguous: 1..total.
    expect([...versions].sort((left, right) => left - right)).toEqual(Array.from({ length: total }, (_, n) => n + 1));
    // Assigned in call order: the version is taken in the same synchronous step as the call.
    expect(versions).toEqual(Array.from({ length: total }, (_, n) => n + 1));
    // Acknowledged in version order.
    expect(acknowledged).toEqual([...acknowledged].sort((left, right) => left - right));
    // Apply order matches: each key's history is its puts in call (= version) order, values included.
    for (let key = 0; key < KEYS; key++) {
      const expected = calls
        .filter((call) => call.key === `key${key}`)
        .map((call) => ({ version: results.get(call.callIndex)!.version, value: call.value, deleted: false }))
        .reverse();
      expect(await store.history(`key${key}`)).toEqual(expected);
    }
    // And every as-of read agrees with the order.
    for (const call of calls.filter((_, index) => index % 17 === 0)) {
      const version = results.get(call.callIndex)!.version;
      expect(await store.get(call.key, { asOf: version })).toBe(call.value);
    }
    // Commits did pile up behind the held group and shared records.
    expect(store.stats().groupCommits).toBeLessThan(total);
    expect(store.stats().groupSizeMax).toBeGreaterThan(CHAINS / 2);
    await store.close();
    // The WAL holds the same order: reopen and compare.
    const reopened = await openStore('/db', { ...OPTIONS, fileSystem: fault });
    for (let key = 0; key < KEYS; key++) {
      const expected = calls.filter((call) => call.key === `key${key}`).map((call) => results.get(call.callIndex)!.version).reverse();
      expect((await reopened.history(`key${key}`)).map((entry) => entry.version)).toEqual(expected);
    }
    await reopened.close();
  });

  it('a chain that reads the version, awaits, then writes cannot slip its commit under an older version', async () => {
    // The TOCTOU shape of the seed: observe state, await, act. Here chain A observes the
    // store version, yields while chain B commits, then writes; its commit must get a
    // version above B's, and what A observed stays a consistent as-of view.
    const gated = new GatedFileSystem(new FaultFileSystem(22));
    const store = await openStore('/db', { ...OPTIONS, fileSystem: gated });
    await store.put('balance', 100);
    const observedVersion = store.version;
    const observedBalance = (await store.get('balance')) as number;
    gated.armed = true;
    const chainB = store.put('balance', 50);
    const held = await gated.nextHeld();
    // While B's group is in flight, A writes based on its stale observation.
    const chainA = store.put('balance', observedBalance + 1);
    gated.armed = false;
    held.release();
    const [resultB, resultA] = await Promise.all([chainB, chainA]);
    expect(resultB.version).toBe(observedVersion + 1);
    expect(resultA.version).toBe(observedVersion + 2);
    expect(await store.get('balance')).toBe(101);
    expect(await store.get('balance', { asOf: observedVersion })).toBe(observedBalance);
    expect((await store.history('balance')).map((entry) => [entry.version, entry.value])).toEqual([[3, 101], [2, 50], [1, 100]]);
    await store.close();
  });
});

describe('race 7: reading the version and pinning it are one step', () => {
  async function retainOne(): Promise<Store> {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(77), segmentSizeBytes: 64 * 1024, maxValueBytes: 4096, maxVersionsPerKey: 1 });
    await store.put('k', 'old');
    return store;
  }

  it('control: a version read before an await and pinned after it can be reclaimed meanwhile', async () => {
    const store = await retainOne();
    const version = store.version;
    // The seed's pattern: read the epoch, await, then act on it. Overwrites land in the gap.
    await Promise.all([store.put('k', 'new-1'), store.put('k', 'new-2')]);
    await expect(store.get('k', { asOf: version })).rejects.toMatchObject({ code: ErrorCode.VersionNotRetained });
    await store.close();
  });

  it('a snapshot taken before overwrites that trim still reads its version', async () => {
    const store = await retainOne();
    const pending = store.snapshot();
    // Submitted before the snapshot promise is even awaited: they apply (and would trim) before its first read.
    const overwrites = Promise.all([store.put('k', 'new-1'), store.put('k', 'new-2')]);
    const snapshot = await pending;
    await overwrites;
    // The pin spares the version the snapshot sees: retention 1 holds back all three.
    expect((await store.history('k')).map((entry) => entry.value)).toEqual(['new-2', 'new-1', 'old']);
    expect(await snapshot.get('k')).toBe('old');
    await snapshot.release();
    await store.put('k', 'new-3');
    await expect(store.get('k', { asOf: snapshot.version })).rejects.toMatchObject({ code: ErrorCode.VersionNotRetained });
    await store.close();
  });

  it('a transaction whose body awaits while overwrites trim still reads its read version, then conflicts', async () => {
    const store = await retainOne();
    const seen: unknown[] = [];
    const transaction = store.transaction(async (tx) => {
      await Promise.all([store.put('k', 'new-1'), store.put('k', 'new-2')]);
      seen.push(await tx.get('k'));
      tx.put('k', 'from tx');
    }, { retries: 0 });
    await expect(transaction).rejects.toMatchObject({ code: ErrorCode.Conflict, keys: ['k'] });
    expect(seen).toEqual(['old']);
    expect(await store.get('k')).toBe('new-2');
    await store.close();
  });
});
