/**
 * A commit that waits for the commit lock re-checks, once it holds the lock, what may
 * have changed while it waited (src/commit/commit-pipeline.ts #enqueue): the pipeline
 * closed, or failed. Checked only at submit, before the wait, it is the seeds'
 * check-then-act across an await: the commit would be ordered and handed to a WAL
 * that close() has finished with, or written after a failure that refuses everything.
 * Forced here at the pipeline: a section holds the commit lock (as transactionSync's
 * fallback does across its disk reads), a commit is submitted behind it, and the
 * close (or the failure) happens while that commit waits.
 */
import { describe, expect, it } from 'vitest';
import { CommitPipeline } from '../src/commit/commit-pipeline.js';
import { preparePut } from '../src/commit/prepare.js';
import { StoreClosedError, StoreFailedError } from '../src/index.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import type { FramedCommit } from '../src/wal/wal-format.js';
import type { GroupWriteResult, WalWriter } from '../src/wal/wal-writer.js';
import { gate, settle, track } from './transaction-support.js';

/** A WAL writer whose writeGroup calls the test settles. */
class HeldWriter {
  syncedLsn = 0;
  readonly calls: Array<{ versions: number[]; resolve: () => void; reject: (error: unknown) => void }> = [];
  #lsn = 0;

  writeGroup(commits: readonly FramedCommit[], beforeWrite?: (commitCount: number) => void): Promise<GroupWriteResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        versions: commits.map((commit) => commit.version),
        resolve: () => {
          beforeWrite?.(commits.length);
          this.#lsn += commits.length;
          this.syncedLsn = this.#lsn;
          resolve({ commitCount: commits.length, endLsn: this.#lsn });
        },
        reject,
      });
    });
  }
}

function setup() {
  const writer = new HeldWriter();
  const pipeline = new CommitPipeline(writer as unknown as WalWriter, new MemoryIndex(Infinity), 0, () => Infinity, () => Infinity);
  const submit = (key: string) => {
    const prepared = preparePut(key, 'value', 4096);
    return pipeline.submit(prepared.walOperations, prepared.operationsSizeBytes, prepared.indexOperations);
  };
  return { writer, pipeline, submit };
}

describe('a commit waiting for the commit lock re-checks under it', () => {
  it('closed while it waited: refused with StoreClosedError, never handed to the WAL', async () => {
    const { writer, pipeline, submit } = setup();
    const section = gate();
    const holder = pipeline.runOrderedAsync(() => section.promise);
    await settle();
    // close() queues for the lock; the commit is submitted after it, while the pipeline is still open.
    const closing = track(pipeline.close());
    const waiting = track(submit('late'));
    await settle();
    expect({ closing: closing.settled, waiting: waiting.settled }).toEqual({ closing: false, waiting: false });
    section.open();
    await holder;
    for (let turn = 0; turn < 5 && !(closing.settled && waiting.settled); turn++) await settle();
    expect(closing.settled && closing.error === undefined).toBe(true);
    expect(waiting.error).toBeInstanceOf(StoreClosedError);
    expect(writer.calls).toEqual([]);
    expect(pipeline.visibleVersion).toBe(0);
  });

  it('failed while it waited: refused with the failure, never handed to the WAL', async () => {
    const { writer, pipeline, submit } = setup();
    const first = track(submit('first'));
    for (let turn = 0; turn < 5 && writer.calls.length === 0; turn++) await settle();
    expect(writer.calls).toHaveLength(1);
    const section = gate();
    const holder = pipeline.runOrderedAsync(() => section.promise);
    await settle();
    const waiting = track(submit('behind the lock'));
    await settle();
    expect(waiting.settled).toBe(false);
    // The in-flight group's write fails: the pipeline fails while the commit waits for the lock.
    writer.calls[0]!.reject(Object.assign(new Error('EIO: write'), { code: 'EIO' }));
    await settle();
    expect(first.settled).toBe(true);
    section.open();
    await holder;
    for (let turn = 0; turn < 5 && !waiting.settled; turn++) await settle();
    expect(waiting.error).toBeInstanceOf(StoreFailedError);
    expect(writer.calls).toHaveLength(1);
    expect(pipeline.visibleVersion).toBe(0);
  });
});
