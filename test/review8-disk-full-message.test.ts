/**
 * DiskFullError's message says what failed: "the commit was rejected" only for a commit
 * (its WAL record, or a write refused behind flushes the full disk stops); a full disk in
 * checkpoint(), compact() or close() names that operation (asTypedError, src/errors.ts),
 * with the step that hit it (a run's write) in parentheses. Every one of them used to
 * end "the commit was rejected", where no commit was (close's read "while writing close
 * /db; the commit was rejected"). The class and its code are unchanged.
 */
import { describe, expect, it } from 'vitest';
import { asTypedError, DiskFullError, ErrorCode } from '../src/errors.js';
import { deserializeError, serializeError } from '../src/compaction/merge-error.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';

const STORE = '/db';
const OPTIONS = { segmentSizeBytes: 16 * 1024, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, checkpointOnClose: true };

async function rejection(promise: Promise<unknown>): Promise<DiskFullError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DiskFullError);
  expect((error as DiskFullError).code).toBe(ErrorCode.DiskFull);
  return error as DiskFullError;
}

async function filledStore(rounds: number) {
  const fileSystem = new FaultFileSystem(7);
  const store = await openStore(STORE, { fileSystem, ...OPTIONS });
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < 50; index++) await store.put(`k${index}`, round);
    if (round < rounds - 1) await store.checkpoint();
  }
  return { fileSystem, store };
}

describe('DiskFullError says what failed', () => {
  it('a commit refused at its WAL write: the commit was rejected, naming the segment', async () => {
    const { fileSystem, store } = await filledStore(1);
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /\/db\/wal\//, persistent: true });
    const error = await rejection(store.put('refused', 1));
    expect(error.message).toMatch(/^no space left on device while writing \/db\/wal\/\S+; the commit was rejected$/);
    expect(error.failed).toBe('the commit was rejected');
    fault.remove();
    await store.close();
  });

  it('checkpoint(): the checkpoint failed, at the run it was writing; no commit is said rejected', async () => {
    const { fileSystem, store } = await filledStore(1);
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /\/db\/runs\//, persistent: true });
    const error = await rejection(store.checkpoint());
    expect(error.message).toMatch(/^no space left on device; checkpoint \/db failed \(writing run \/db\/runs\/\S+\.run failed\)$/);
    expect(error.message).not.toMatch(/commit/);
    expect(error.cause).toBeInstanceOf(DiskFullError);
    fault.remove();
    await store.checkpoint();
    expect(await store.get('k7')).toBe(0);
    await store.close();
  });

  it('compact(): the compaction failed', async () => {
    const { fileSystem, store } = await filledStore(3);
    await store.checkpoint();
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', path: /\/db\/runs\//, persistent: true });
    const error = await rejection(store.compact());
    expect(error.message).toMatch(/^no space left on device; compact \/db failed \(writing run \/db\/runs\/\S+\.run failed\)$/);
    fault.remove();
    expect(await store.get('k7')).toBe(2);
    await store.close();
  });

  it('close(): the close failed', async () => {
    const { fileSystem, store } = await filledStore(2);
    const fault = fileSystem.injectFault({ operation: 'write', error: 'ENOSPC', persistent: true });
    const error = await rejection(store.close());
    expect(error.message).toMatch(/^no space left on device; close \/db failed/);
    expect(error.message).not.toMatch(/commit/);
    expect(fault.triggeredCount).toBeGreaterThan(0);
  });

  it('asTypedError: a raw ENOSPC names the operation; restating keeps the step and the cause; the same operation twice is one', () => {
    const raw = Object.assign(new Error("ENOSPC: write '/db/runs/1.run.tmp'"), { code: 'ENOSPC' });
    const step = asTypedError(raw, 'writing run /db/runs/1.run') as DiskFullError;
    expect(step.message).toBe('no space left on device; writing run /db/runs/1.run failed');
    expect(step.cause).toBe(raw);
    expect(asTypedError(step, 'writing run /db/runs/1.run')).toBe(step);
    const outer = asTypedError(step, 'checkpoint /db') as DiskFullError;
    expect(outer.message).toBe('no space left on device; checkpoint /db failed (writing run /db/runs/1.run failed)');
    expect(outer.cause).toBe(step);
    const wal = new DiskFullError('/db/wal/wal-0000000002.log', 'the commit was rejected');
    expect(wal.message).toBe('no space left on device while writing /db/wal/wal-0000000002.log; the commit was rejected');
    expect((asTypedError(wal, 'backup /db to /b') as DiskFullError).path).toBe('/db/wal/wal-0000000002.log');
  });

  it('one rebuilt from a thread (merge-error.ts) keeps what failed, and is restated as the operation called', () => {
    const inThread = asTypedError(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }), 'writing run /db/runs/7.run');
    const rebuilt = deserializeError(serializeError(inThread)) as DiskFullError;
    expect(rebuilt).toBeInstanceOf(DiskFullError);
    expect(rebuilt).toMatchObject({ code: ErrorCode.DiskFull, failed: 'writing run /db/runs/7.run failed', message: 'no space left on device; writing run /db/runs/7.run failed' });
    expect((asTypedError(rebuilt, 'compact /db') as Error).message).toBe('no space left on device; compact /db failed (writing run /db/runs/7.run failed)');
    // Without the field (a thread of an older build): its message stands in.
    const bare = deserializeError({ ...serializeError(inThread), fields: { code: ErrorCode.DiskFull } });
    expect((asTypedError(bare, 'compact /db') as Error).message).toBe('no space left on device; compact /db failed (no space left on device; writing run /db/runs/7.run failed)');
  });
});
