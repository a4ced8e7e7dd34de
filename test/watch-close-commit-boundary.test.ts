/**
 * close() ends a change feed at a commit boundary. A consumer records the version of each
 * change it handled and, after a restart, resumes with watch({ sinceVersion: lastSeen })
 * (README's example). A feed that close() ended part-way through a multi-key commit left
 * the rest of that commit undelivered, and the resumed feed starts after it: those
 * changes were never seen. A feed delivering live commits now delivers the rest of the
 * commit it is part-way through (buffered whole), then its next step rejects with
 * StoreClosedError; resuming from the last version seen then misses nothing and repeats
 * nothing. A catch-up is still cut where it is (README: resume from the version before
 * the last delivered, skipping what was seen), checked here too.
 */
import { describe, expect, it } from 'vitest';
import { StoreClosedError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/store/open-store.js';
import type { Change } from '../src/index.js';

const COMMITS = 6;
const KEYS_PER_COMMIT = 3;

function commitOps(commit: number): Array<{ type: 'put'; key: string; value: number }> {
  return Array.from({ length: KEYS_PER_COMMIT }, (_, index) => ({ type: 'put' as const, key: `c${commit}/k${index}`, value: commit * 10 + index }));
}

async function consumeUntilClosed(feed: AsyncIterator<Change>, closeAfter: number, close: () => Promise<void>): Promise<{ seen: string[]; error: unknown }> {
  const seen: string[] = [];
  let closing: Promise<void> | undefined;
  for (;;) {
    let step: IteratorResult<Change>;
    try {
      step = await feed.next();
    } catch (error) {
      await closing;
      return { seen, error };
    }
    if (step.done) {
      await closing;
      return { seen, error: undefined };
    }
    seen.push(`${step.value.version}:${step.value.key}`);
    if (seen.length === closeAfter) closing = close();
  }
}

describe('close() ends a change feed at a commit boundary', () => {
  for (const phase of ['live', 'catch-up'] as const) {
    for (const closeAfter of [1, 2, 4]) {
      it(`${phase}: closed after ${closeAfter} change(s): ${phase === 'live' ? 'the rest of that commit is delivered, and a feed resumed from the last version seen' : 'cut there, and a feed resumed from the version before the last delivered (skipping what was seen)'} misses nothing`, async () => {
        const fileSystem = new FaultFileSystem(5);
        const store = await openStore('/db', { fileSystem });
        let feed: AsyncIterator<Change>;
        if (phase === 'catch-up') {
          for (let commit = 0; commit < COMMITS; commit++) await store.batch(commitOps(commit));
          feed = store.watch({ sinceVersion: 0 })[Symbol.asyncIterator]();
        } else {
          feed = store.watch()[Symbol.asyncIterator]();
          const first = feed.next();
          for (let commit = 0; commit < COMMITS; commit++) await store.batch(commitOps(commit));
          const outcome = await consumeUntilClosedFrom(first, feed, closeAfter, () => store.close());
          await check(outcome, fileSystem, closeAfter);
          return;
        }
        const outcome = await consumeUntilClosed(feed, closeAfter, () => store.close());
        await checkCut(outcome, fileSystem, closeAfter);
      });
    }
  }
});

async function consumeUntilClosedFrom(first: Promise<IteratorResult<Change>>, feed: AsyncIterator<Change>, closeAfter: number, close: () => Promise<void>): Promise<{ seen: string[]; error: unknown }> {
  const step = await first;
  expect(step.done).toBe(false);
  const head = `${(step.value as Change).version}:${(step.value as Change).key}`;
  if (closeAfter === 1) {
    const closing = close();
    const rest = await consumeUntilClosed(feed, -1, async () => undefined);
    await closing;
    return { seen: [head, ...rest.seen], error: rest.error };
  }
  const rest = await consumeUntilClosed(feed, closeAfter - 1, close);
  return { seen: [head, ...rest.seen], error: rest.error };
}

async function check(outcome: { seen: string[]; error: unknown }, fileSystem: FaultFileSystem, closeAfter: number): Promise<void> {
  expect(outcome.error).toBeInstanceOf(StoreClosedError);
  // Whole commits only: the commit part-way through at close() is finished, nothing after it.
  const expectedCount = Math.ceil(closeAfter / KEYS_PER_COMMIT) * KEYS_PER_COMMIT;
  expect(outcome.seen).toHaveLength(expectedCount);
  const lastSeen = Number(outcome.seen.at(-1)!.split(':')[0]);
  const reopened = await openStore('/db', { fileSystem });
  const resumed: string[] = [];
  for await (const change of reopened.watch({ sinceVersion: lastSeen, untilVersion: reopened.version })) resumed.push(`${change.version}:${change.key}`);
  await reopened.close();
  const all = [...outcome.seen, ...resumed];
  expect(all).toHaveLength(COMMITS * KEYS_PER_COMMIT);
  expect(new Set(all).size).toBe(all.length);
  const keys = all.map((entry) => entry.split(':')[1]).sort();
  expect(keys).toEqual(Array.from({ length: COMMITS }, (_, commit) => commitOps(commit).map((op) => op.key)).flat().sort());
}

/** A catch-up cut at close(): resuming from the version before the last delivered, skipping what was seen, misses nothing. */
async function checkCut(outcome: { seen: string[]; error: unknown }, fileSystem: FaultFileSystem, closeAfter: number): Promise<void> {
  expect(outcome.error).toBeInstanceOf(StoreClosedError);
  expect(outcome.seen).toHaveLength(closeAfter);
  const lastSeen = Number(outcome.seen.at(-1)!.split(':')[0]);
  const reopened = await openStore('/db', { fileSystem });
  const seen = new Set(outcome.seen);
  const resumed: string[] = [];
  for await (const change of reopened.watch({ sinceVersion: lastSeen - 1, untilVersion: reopened.version })) {
    const entry = `${change.version}:${change.key}`;
    if (!seen.has(entry)) resumed.push(entry);
  }
  await reopened.close();
  const all = [...outcome.seen, ...resumed];
  expect(all).toHaveLength(COMMITS * KEYS_PER_COMMIT);
  expect(new Set(all).size).toBe(all.length);
}
