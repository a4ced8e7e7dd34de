/**
 * return() called while next() steps are still queued (a consumer that prefetches, then
 * stops) answered those steps `done` although entries remained before them: return()
 * ended the scan at once, and each queued step then found it ended. An async
 * generator (and a transaction's scan, which is one) queues return() behind the steps
 * asked before it: they answer their entries, return() and everything after it answer
 * done, and the scan's pin is let go once return() runs.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

type Step = IteratorResult<[string | Uint8Array, unknown]>;

const keysOf = (steps: Step[]) => steps.map((step) => (step.done === true ? 'done' : step.value[0]));

/** What an async generator over the same entries answers to the same calls. */
async function generatorAnswers(keys: string[]): Promise<unknown[]> {
  async function* entries(): AsyncGenerator<[string, unknown]> {
    for (const key of keys) yield [key, 0];
  }
  const generator = entries();
  return keysOf(await Promise.all([generator.next(), generator.next(), generator.return(undefined), generator.next()]));
}

describe('a scan answers the steps asked before return() before it ends', () => {
  it('store.scan and snapshot.scan answer as an async generator does', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    const keys = ['a', 'b', 'c', 'd'];
    await store.batch(keys.map((key) => ({ type: 'put' as const, key, value: 0 })));
    const expected = await generatorAnswers(keys);
    expect(expected).toEqual(['a', 'b', 'done', 'done']);
    const scan = store.scan();
    expect(keysOf(await Promise.all([scan.next(), scan.next(), scan.return!(), scan.next()]))).toEqual(expected);
    expect(store.stats().pinnedReads).toBe(0); // return() let the scan's pin go
    const snapshot = await store.snapshot();
    const snapshotScan = snapshot.scan();
    expect(keysOf(await Promise.all([snapshotScan.next(), snapshotScan.next(), snapshotScan.return!(), snapshotScan.next()]))).toEqual(expected);
    expect(store.stats().pinnedReads).toBe(1); // the snapshot's own
    await snapshot.release();
    await store.close();
  });
});
