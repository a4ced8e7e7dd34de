/**
 * Two checkpoint() calls made together, and a close() after them: each checkpoint runs
 * whole under store.lifecycle, so each reports only the runs it wrote (the first writes
 * the memtable's run, the second finds nothing left to flush), the two together report
 * exactly the runs on disk, and close waits for both. Without the lock the second
 * checkpoint waited on the first one's flush and reported that run as its own.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';

let root: string | undefined;

afterEach(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

function runFiles(directory: string): string[] {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run'));
}

describe('concurrent checkpoints', () => {
  it('each reports only its own runs; together they report the runs on disk', async () => {
    root = mkdtempSync(join(tmpdir(), 'concurrent-checkpoints-'));
    const directory = join(root, 'store');
    const store = await openStore(directory);
    for (let index = 0; index < 500; index++) await store.put(`key-${String(index).padStart(4, '0')}`, { index });
    const before = runFiles(directory).length;
    const [first, second] = await Promise.all([store.checkpoint(), store.checkpoint(), store.close()]);
    const written = runFiles(directory).length - before;
    expect(written).toBe(1);
    expect(first.runsWritten).toBe(1);
    expect(second.runsWritten).toBe(0);
    expect(first.runsWritten + second.runsWritten).toBe(written);
    const reopened = await openStore(directory);
    try {
      expect(reopened.stats().recovery.commits).toBe(0); // nothing replayed: close checkpointed after both
      expect(await reopened.get('key-0499')).toEqual({ index: 499 });
    } finally {
      await reopened.close();
    }
  });
});
