/**
 * src/commit/commit-pipeline.ts: version assignment, group commit, apply, acknowledge.
 *
 * Two levels:
 * - the pipeline alone, over a scripted WAL writer whose writeGroup the test resolves
 *   or fails by hand, so every interleaving is forced rather than hoped for;
 * - the pipeline inside a store (FaultFileSystem, and the real disk for group commit),
 *   checking what stats() reports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CommitPipeline, type CommitResult } from '../src/commit/commit-pipeline.js';
import { preparePut } from '../src/commit/prepare.js';
import { AssertionFailedError, CommitOutcomeUnknownError, DiskFullError, ErrorCode, StoreClosedError, StoreFailedError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import type { FramedCommit } from '../src/wal/wal-format.js';
import type { GroupWriteResult, WalWriter } from '../src/wal/wal-writer.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(removeTemporaryDirectories);

interface WriteCall {
  versions: number[];
  resolve(outcome?: { commitCount?: number; unsynced?: boolean }): void;
  /** `handedToWrite`: how many commits the writer handed to write() before failing (default 0). */
  reject(error: unknown, handedToWrite?: number): void;
}

/** A WAL writer the test drives: each writeGroup waits until the test settles it. */
class ScriptedWriter {
  syncedLsn = 0;
  readonly calls: WriteCall[] = [];
  #lsn = 0;
  #waiters: Array<() => void> = [];

  writeGroup(commits: readonly FramedCommit[], beforeWrite?: (commitCount: number) => void): Promise<GroupWriteResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        versions: commits.map((commit) => commit.version),
        resolve: (outcome = {}) => {
          const commitCount = outcome.commitCount ?? commits.length;
          beforeWrite?.(commitCount);
          this.#lsn += commitCount;
          // unsynced: a broken writer that reports a record it never synced.
          if (outcome.unsynced !== true) this.syncedLsn = this.#lsn;
          resolve({ commitCount, endLsn: this.#lsn });
        },
        reject: (error, handedToWrite = 0) => {
          if (handedToWrite > 0) beforeWrite?.(handedToWrite);
          reject(error);
        },
      });
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Resolves once writeGroup has been called `count` times in total. */
  async waitForCalls(count: number): Promise<WriteCall> {
    while (this.calls.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.calls[count - 1]!;
  }
}

function setup(options: { maxVersionsPerKey?: number; pinned?: () => number; lastVersion?: number } = {}) {
  const writer = new ScriptedWriter();
  const index = new MemoryIndex(options.maxVersionsPerKey ?? Infinity);
  const pipeline = new CommitPipeline(writer as unknown as WalWriter, index, options.lastVersion ?? 0, options.pinned ?? (() => Infinity), () => Infinity);
  const submit = (key: string, value: unknown): Promise<CommitResult> => {
    const prepared = preparePut(key, value, 4096);
    return pipeline.submit(prepared.walOperations, prepared.operationsSizeBytes, prepared.indexOperations);
  };
  return { writer, index, pipeline, submit };
}

/** Tracks whether a promise settled, without letting a rejection go unhandled. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('pipeline over a scripted writer', () => {
  it('assigns strictly increasing versions in submit order and acknowledges in that order', async () => {
    const { writer, index, pipeline, submit } = setup({ lastVersion: 10 });
    const resolvedOrder: number[] = [];
    const promises = Array.from({ length: 100 }, (_, n) => submit(`k${n % 7}`, n).then((result) => {
      resolvedOrder.push(result.version);
      // At acknowledgement the commit is applied and visible.
      expect(pipeline.visibleVersion).toBeGreaterThanOrEqual(result.version);
      return result;
    }));
    (await writer.waitForCalls(1)).resolve();
    const results = await Promise.all(promises);
    expect(results.map((result) => result.version)).toEqual(Array.from({ length: 100 }, (_, n) => 11 + n));
    expect(resolvedOrder).toEqual(results.map((result) => result.version));
    expect(index.appliedVersion).toBe(110);
    expect(index.chain('k0')!.versions).toEqual(results.filter((_, n) => n % 7 === 0).map((result) => result.version));
    expect(pipeline.stats()).toMatchObject({ commits: 100, groupCommits: 1, groupSizeMax: 100, queued: 0 });
  });

  it('applies nothing and makes nothing visible before writeGroup (write + fdatasync) resolves', async () => {
    const { writer, index, pipeline, submit } = setup();
    const first = track(submit('a', 1));
    const call = await writer.waitForCalls(1);
    expect(call.versions).toEqual([1]);
    await flushMicrotasks();
    expect(first.settled).toBe(false);
    expect(pipeline.visibleVersion).toBe(0);
    expect(index.appliedVersion).toBe(0);
    expect(index.slotAsOf('a', Number.MAX_SAFE_INTEGER)).toBeUndefined();
    call.resolve();
    await flushMicrotasks();
    expect(first.value).toEqual({ version: 1 });
    expect(pipeline.visibleVersion).toBe(1);
    expect(index.slotAsOf('a', 1)).toBe(1);
  });

  it('commits submitted while a group is in flight share the next group, in version order', async () => {
    const { writer, pipeline, submit } = setup();
    const first = submit('a', 0);
    const firstCall = await writer.waitForCalls(1);
    const later = Array.from({ length: 20 }, (_, n) => submit(`b${n}`, n));
    await flushMicrotasks();
    expect(writer.calls).toHaveLength(1);
    expect(pipeline.stats().queued).toBe(20);
    firstCall.resolve();
    await first;
    const secondCall = await writer.waitForCalls(2);
    expect(secondCall.versions).toEqual(Array.from({ length: 20 }, (_, n) => n + 2));
    secondCall.resolve();
    await Promise.all(later);
    expect(pipeline.stats()).toMatchObject({ commits: 21, groupCommits: 2, groupSizeMax: 20 });
  });

  it('a group written as several records acknowledges each prefix only after its own write', async () => {
    const { writer, pipeline, submit } = setup();
    const commits = Array.from({ length: 5 }, (_, n) => track(submit(`k${n}`, n)));
    const first = await writer.waitForCalls(1);
    expect(first.versions).toEqual([1, 2, 3, 4, 5]);
    first.resolve({ commitCount: 2 });
    const second = await writer.waitForCalls(2);
    await flushMicrotasks();
    expect(second.versions).toEqual([3, 4, 5]);
    expect(pipeline.visibleVersion).toBe(2);
    expect(commits.map((commit) => commit.settled)).toEqual([true, true, false, false, false]);
    second.resolve({ commitCount: 3 });
    await flushMicrotasks();
    expect(commits.map((commit) => (commit.value as CommitResult).version)).toEqual([1, 2, 3, 4, 5]);
    expect(pipeline.visibleVersion).toBe(5);
    expect(pipeline.stats()).toMatchObject({ commits: 5, groupCommits: 2 });
  });

  it('refuses to acknowledge a record the writer did not sync (the write-behind guard)', async () => {
    const { writer, index, pipeline, submit } = setup();
    const commits = [track(submit('a', 1)), track(submit('b', 2))];
    (await writer.waitForCalls(1)).resolve({ unsynced: true });
    await flushMicrotasks();
    // Their record was written (maybe durable): their outcome is unknown, not "failed".
    for (const [position, commit] of commits.entries()) {
      expect(commit.error).toBeInstanceOf(CommitOutcomeUnknownError);
      expect((commit.error as CommitOutcomeUnknownError).version).toBe(position + 1);
      expect((commit.error as CommitOutcomeUnknownError).cause).toBe(pipeline.failure);
    }
    expect(pipeline.failure!.cause).toBeInstanceOf(AssertionFailedError);
    expect(index.appliedVersion).toBe(0);
    expect(pipeline.visibleVersion).toBe(0);
    expect(pipeline.failure).toBeInstanceOf(StoreFailedError);
    await expect(submit('c', 3)).rejects.toBeInstanceOf(StoreFailedError);
    expect(pipeline.stats()).toMatchObject({ commits: 0, rejectedCommits: 0, outcomeUnknownCommits: 2 });
  });

  it('disk full rejects that group only; the version is skipped, never reused, and the pipeline goes on', async () => {
    const { writer, index, pipeline, submit } = setup();
    const refused = track(submit('a', 1));
    const call = await writer.waitForCalls(1);
    const queuedBehind = track(submit('b', 2));
    call.reject(new DiskFullError('/db/wal/wal-0000000001.log', 'the commit was rejected'));
    await flushMicrotasks();
    expect(refused.error).toBeInstanceOf(DiskFullError);
    expect((refused.error as DiskFullError).code).toBe(ErrorCode.DiskFull);
    expect(pipeline.failure).toBeUndefined();
    // The commit queued behind the failed group goes out in the next one.
    const next = await writer.waitForCalls(2);
    expect(next.versions).toEqual([2]);
    next.resolve();
    await flushMicrotasks();
    expect(queuedBehind.value).toEqual({ version: 2 });
    expect(index.slotAsOf('a', 2)).toBeUndefined();
    expect(pipeline.visibleVersion).toBe(2);
    const after = submit('c', 3);
    (await writer.waitForCalls(3)).resolve();
    expect(await after).toEqual({ version: 3 });
    expect(pipeline.stats()).toMatchObject({ commits: 2, rejectedCommits: 1, outcomeUnknownCommits: 0 });
  });

  it('an I/O failure fails the pipeline: the written group is unknown, commits queued behind it and every later commit are rejected', async () => {
    const { writer, index, pipeline, submit } = setup();
    const inGroup = track(submit('a', 1));
    const call = await writer.waitForCalls(1);
    const queuedBehind = [track(submit('b', 2)), track(submit('c', 3))];
    const cause = Object.assign(new Error('EIO: datasync'), { code: 'EIO' });
    call.reject(cause, 1);
    await flushMicrotasks();
    expect(inGroup.error).toBeInstanceOf(CommitOutcomeUnknownError);
    expect(inGroup.error).toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 1 });
    for (const commit of queuedBehind) {
      expect(commit.error).toBeInstanceOf(StoreFailedError);
      expect((commit.error as StoreFailedError).code).toBe(ErrorCode.StoreFailed);
    }
    expect((pipeline.failure as StoreFailedError).cause).toBe(cause);
    expect(writer.calls).toHaveLength(1);
    expect(index.appliedVersion).toBe(0);
    await expect(submit('d', 4)).rejects.toBe(pipeline.failure);
    expect(pipeline.stats()).toMatchObject({ commits: 0, rejectedCommits: 2, outcomeUnknownCommits: 1 });
    await pipeline.close();
  });

  it('only commits handed to write() are unknown; the rest of the group and the queue failed, never written', async () => {
    const { writer, pipeline, submit } = setup();
    const group = Array.from({ length: 5 }, (_, n) => track(submit(`k${n}`, n)));
    const first = await writer.waitForCalls(1);
    const queuedBehind = track(submit('queued', 0));
    first.resolve({ commitCount: 2 });
    // The second record holds versions 3 and 4 (5 did not fit); its write throws.
    const second = await writer.waitForCalls(2);
    second.reject(Object.assign(new Error('EIO: write'), { code: 'EIO' }), 2);
    await flushMicrotasks();
    expect(group.slice(0, 2).map((commit) => commit.value)).toEqual([{ version: 1 }, { version: 2 }]);
    expect(group.slice(2, 4).map((commit) => commit.error)).toEqual([expect.any(CommitOutcomeUnknownError), expect.any(CommitOutcomeUnknownError)]);
    expect(group.slice(2, 4).map((commit) => (commit.error as CommitOutcomeUnknownError).version)).toEqual([3, 4]);
    for (const commit of [group[4]!, queuedBehind]) {
      expect(commit.error).toBeInstanceOf(StoreFailedError);
      expect(commit.error).toBe(pipeline.failure);
    }
    expect(pipeline.visibleVersion).toBe(2);
    expect(pipeline.stats()).toMatchObject({ commits: 2, rejectedCommits: 2, outcomeUnknownCommits: 2 });
  });

  it('a failure before any byte was handed to write() (creating the next segment) leaves the group failed, not unknown', async () => {
    const { writer, pipeline, submit } = setup();
    const group = [track(submit('a', 1)), track(submit('b', 2))];
    (await writer.waitForCalls(1)).reject(Object.assign(new Error('EIO: fsync of the next segment'), { code: 'EIO' }), 0);
    await flushMicrotasks();
    for (const commit of group) expect(commit.error).toBe(pipeline.failure);
    expect(pipeline.failure).toBeInstanceOf(StoreFailedError);
  });

  it('an apply that throws fails the store and settles every commit: none stays pending', async () => {
    const writer = new ScriptedWriter();
    class ThrowingIndex extends MemoryIndex {
      override apply(version: number, operations: Parameters<MemoryIndex['apply']>[1], pinned: number): void {
        if (version === 2) throw new Error('apply exploded');
        super.apply(version, operations, pinned);
      }
    }
    const index = new ThrowingIndex(Infinity);
    const pipeline = new CommitPipeline(writer as unknown as WalWriter, index, 0, () => Infinity, () => Infinity);
    const submit = (key: string, value: unknown) => {
      const prepared = preparePut(key, value, 4096);
      return track(pipeline.submit(prepared.walOperations, prepared.operationsSizeBytes, prepared.indexOperations));
    };
    const group = [submit('a', 1), submit('b', 2), submit('c', 3)];
    const call = await writer.waitForCalls(1);
    const queuedBehind = submit('d', 4);
    call.resolve();
    await flushMicrotasks();
    expect(group.map((commit) => commit.settled)).toEqual([true, true, true]);
    expect(queuedBehind.settled).toBe(true);
    // Version 1 was applied and is durable: acknowledged. 2 (whose apply threw) and 3 were
    // written, maybe durable: unknown. 4 was never written: failed.
    expect(group[0]!.value).toEqual({ version: 1 });
    expect(group[1]!.error).toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 2 });
    expect(group[2]!.error).toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 3 });
    expect(queuedBehind.error).toBe(pipeline.failure);
    expect(pipeline.failure!.cause).toEqual(new Error('apply exploded'));
    expect(pipeline.visibleVersion).toBe(1);
    await expect(pipeline.submit([], 0, [])).rejects.toBe(pipeline.failure);
    await pipeline.close();
  });

  it('a failure whose description itself throws still settles the in-flight group (it stayed pending forever)', async () => {
    const { writer, pipeline, submit } = setup();
    const inGroup = track(submit('a', 1));
    const call = await writer.waitForCalls(1);
    const queuedBehind = track(submit('b', 2));
    // String() of an object without a prototype throws: building the failure's message did.
    call.reject(Object.create(null), 1);
    await flushMicrotasks();
    expect(inGroup.settled).toBe(true);
    expect(inGroup.error).toMatchObject({ code: ErrorCode.CommitOutcomeUnknown, version: 1 });
    expect(queuedBehind.error).toBe(pipeline.failure);
    expect(pipeline.failure).toBeInstanceOf(StoreFailedError);
    await pipeline.close();
  });

  it('close waits for in-flight and queued commits, then refuses new ones', async () => {
    const { writer, pipeline, submit } = setup();
    const first = track(submit('a', 1));
    const firstCall = await writer.waitForCalls(1);
    const second = track(submit('b', 2));
    const closed = track(pipeline.close());
    await flushMicrotasks();
    expect(closed.settled).toBe(false);
    const refused = track(submit('late', 0));
    firstCall.resolve();
    (await writer.waitForCalls(2)).resolve();
    await flushMicrotasks();
    await flushMicrotasks();
    expect(first.value).toEqual({ version: 1 });
    expect(second.value).toEqual({ version: 2 });
    expect(closed.settled).toBe(true);
    expect(closed.error).toBeUndefined();
    expect(refused.error).toBeInstanceOf(StoreClosedError);
    await expect(submit('later', 0)).rejects.toBeInstanceOf(StoreClosedError);
    expect(writer.calls).toHaveLength(2);
    // The refused commits did not consume versions that were written.
    expect(pipeline.visibleVersion).toBe(2);
  });

  it('passes the oldest pinned version to apply, so retention spares what a reader sees', async () => {
    let pinned = 1;
    const { writer, index, submit } = setup({ maxVersionsPerKey: 1, pinned: () => pinned });
    const writes = [submit('k', 'v1'), submit('k', 'v2'), submit('k', 'v3')];
    (await writer.waitForCalls(1)).resolve();
    await Promise.all(writes);
    expect(index.slotAsOf('k', 1)).toBe('v1');
    pinned = Infinity;
    const next = submit('k', 'v4');
    (await writer.waitForCalls(2)).resolve();
    await next;
    expect(index.chain('k')!.versions).toEqual([4]);
  });
});

describe('pipeline inside a store', () => {
  const options = () => ({ fileSystem: new FaultFileSystem(1), segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 });

  it('64 concurrent puts share one group commit and one fdatasync', async () => {
    const store = await openStore('/db', options());
    const results = await Promise.all(Array.from({ length: 64 }, (_, n) => store.put(`key${n}`, n)));
    expect(new Set(results.map((result) => result.version)).size).toBe(64);
    const stats = store.stats();
    expect(stats).toMatchObject({ commits: 64, groupCommits: 1, groupSizeMax: 64, meanGroupSize: 64, fsyncs: 1, rejectedCommits: 0, version: 64 });
    await store.close();
  });

  it('64 writers each doing sequential puts keep sharing fdatasyncs (not alternating 1 and 63)', async () => {
    const store = await openStore('/db', options());
    const rounds = 10;
    await Promise.all(Array.from({ length: 64 }, async (_, writer) => {
      for (let round = 0; round < rounds; round++) await store.put(`w${writer}`, round);
    }));
    const stats = store.stats();
    expect(stats.commits).toBe(64 * rounds);
    expect(stats.groupCommits).toBeLessThanOrEqual(rounds + 2);
    expect(stats.meanGroupSize).toBeGreaterThanOrEqual(50);
    expect(stats.fsyncs).toBe(stats.groupCommits);
    await store.close();
  });

  it('on the real disk, 64 concurrent puts share fdatasyncs too', async () => {
    const store = await openStore(temporaryDirectory(), { segmentSizeBytes: 64 * 1024, maxValueBytes: 4096 });
    await Promise.all(Array.from({ length: 64 }, (_, n) => store.put(`key${n}`, n)));
    await Promise.all(Array.from({ length: 64 }, async (_, n) => {
      for (let round = 0; round < 5; round++) await store.put(`key${n}`, round);
    }));
    const stats = store.stats();
    expect(stats.commits).toBe(64 * 6);
    expect(stats.groupCommits).toBeLessThanOrEqual(8);
    expect(stats.fsyncs).toBe(stats.groupCommits);
    await store.close();
  });

  it('close waits for in-flight commits; later calls get StoreClosedError; close is idempotent', async () => {
    const fileSystem = new FaultFileSystem(1);
    const store = await openStore('/db', { ...options(), fileSystem });
    const acknowledged: number[] = [];
    const writes = Array.from({ length: 50 }, (_, n) => store.put(`k${n}`, n).then((result) => acknowledged.push(result.version)));
    const closing = store.close();
    const closingAgain = store.close();
    // A put issued in the same tick as close() races it: it must be either acknowledged
    // (and then durable) or refused with StoreClosedError, never lost or left pending.
    const racing = store.put('racing', 'r').then(
      (result) => ({ acknowledged: true as const, version: result.version }),
      (error: unknown) => {
        expect(error).toBeInstanceOf(StoreClosedError);
        return { acknowledged: false as const };
      },
    );
    await Promise.all([closing, closingAgain]);
    expect(store.closed).toBe(true);
    // Every commit submitted before close was acknowledged by the time close resolved.
    expect(acknowledged).toHaveLength(50);
    await Promise.all(writes);
    const raced = await racing;
    await expect(store.put('later', 1)).rejects.toMatchObject({ code: ErrorCode.StoreClosed });
    await expect(store.delete('k1')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.batch([{ type: 'put', key: 'x', value: 1 }])).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.get('k1')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.history('k1')).rejects.toBeInstanceOf(StoreClosedError);
    expect(() => store.scan()).toThrow(StoreClosedError);
    await store.close();
    const expectedCommits = raced.acknowledged ? 51 : 50;
    expect(store.stats()).toMatchObject({ closed: true, commits: expectedCommits, version: expectedCommits });
    const reopened = await openStore('/db', { ...options(), fileSystem: fileSystem.crash('drop-unsynced') });
    expect(reopened.version).toBe(expectedCommits);
    expect(await reopened.get('racing')).toBe(raced.acknowledged ? 'r' : undefined);
    expect(await reopened.get('k49')).toBe(49);
    await reopened.close();
  });

  it('a disk-full write is refused, the store stays usable, and the gap survives reopen', async () => {
    const fileSystem = new FaultFileSystem(1);
    const store = await openStore('/db', { ...options(), fileSystem });
    await store.put('a', 1);
    fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /wal-0000000001\.log$/ });
    await expect(store.put('b', 2)).rejects.toBeInstanceOf(DiskFullError);
    expect(await store.get('b')).toBeUndefined();
    expect(store.stats()).toMatchObject({ failed: false, rejectedCommits: 1, version: 1 });
    expect(await store.put('c', 3)).toEqual({ version: 3 });
    expect(store.version).toBe(3);
    await store.close();
    const reopened = await openStore('/db', { ...options(), fileSystem });
    expect(reopened.version).toBe(3);
    expect(await reopened.get('a')).toBe(1);
    expect(await reopened.get('b')).toBeUndefined();
    expect(await reopened.get('c')).toBe(3);
    expect(await reopened.put('d', 4)).toEqual({ version: 4 });
    await reopened.close();
  });

  it('a batch is one commit with one version, applied atomically', async () => {
    const store = await openStore('/db', options());
    await store.put('gone', 0);
    const result = await store.batch([
      { type: 'put', key: 'x', value: 1 },
      { type: 'put', key: 'y', value: 2 },
      { type: 'del', key: 'gone' },
      { type: 'put', key: 'x', value: 10 },
    ]);
    expect(result.version).toBe(2);
    expect(store.stats().commits).toBe(2);
    expect(await store.get('x')).toBe(10);
    expect((await store.history('x')).map((entry) => entry.version)).toEqual([2]);
    expect(await store.get('gone', { asOf: 1 })).toBe(0);
    expect(await store.get('y', { asOf: 1 })).toBeUndefined();
    await store.close();
  });
});
