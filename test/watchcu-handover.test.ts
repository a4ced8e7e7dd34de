/**
 * Commits made while watch feeds catch up reach each feed exactly once, in (version, key)
 * order, with no gap and no duplicate where the catch-up from history hands over to the live
 * buffer. Several feeds (whole store and key ranges, different batch sizes) catch up at once
 * over history in runs and memtables while seeded writers commit between their steps and in
 * the middle of their passes (at the awaits of their reads and turns), a
 * checkpoint and a compact() run part-way, and, under maxVersionsPerKey 2, retention trims
 * the versions the feeds still have to deliver unless their pins hold them. Each feed is held
 * to a model of every commit, and after the hand-over its next change is the next commit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Change, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { mulberry32 } from './support/seeded-random.js';

interface Expected { version: number; key: string; deleted: boolean; value?: unknown }

const KEYS = 600;
const stores: Store[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});

const keyName = (index: number): string => `k/${String(index).padStart(4, '0')}`;

/** Commits a seeded batch of distinct keys (puts and deletes) and records it in `model`. */
async function commitRandom(store: Store, random: () => number, model: Expected[], size: number): Promise<void> {
  const chosen = new Set<string>();
  while (chosen.size < size) chosen.add(keyName(Math.floor(random() * KEYS)));
  const operations = [...chosen].map((key) => (random() < 0.15
    ? { type: 'del' as const, key }
    : { type: 'put' as const, key, value: `${key}@${Math.floor(random() * 1e6)}` }));
  const { version } = await store.batch(operations);
  for (const operation of [...operations].sort((left, right) => (left.key < right.key ? -1 : 1))) {
    model.push(operation.type === 'del'
      ? { version, key: operation.key, deleted: true }
      : { version, key: operation.key, deleted: false, value: operation.value });
  }
}

interface Watcher {
  feed: AsyncGenerator<Change, void, undefined>;
  accepts: (key: string) => boolean;
  since: number;
  received: Expected[];
}

function expectedFor(watcher: Watcher, model: Expected[]): Expected[] {
  return model
    .filter((change) => change.version > watcher.since && watcher.accepts(change.key))
    .sort((left, right) => left.version - right.version || (left.key < right.key ? -1 : 1));
}

async function runCase(seed: number, maxVersionsPerKey: number): Promise<void> {
  const random = mulberry32(seed);
  const store = await openStore('/db', {
    fileSystem: new FaultFileSystem(seed), memoryBudgetBytes: 2 * 1024 * 1024, segmentSizeBytes: 256 * 1024, maxVersionsPerKey,
  });
  stores.push(store);
  const model: Expected[] = [];
  // History: 40 batches, a checkpoint half-way (runs and memtables both hold some).
  for (let round = 0; round < 40; round++) {
    await commitRandom(store, random, model, 50);
    if (round === 20) await store.checkpoint();
  }
  // Under maxVersionsPerKey 2 older history is trimmed: those feeds start at the version now.
  const since = maxVersionsPerKey === Infinity ? 0 : store.version;
  const ranges: Array<{ gte?: string; lt?: string }> = [{}, { gte: 'k/0100', lt: 'k/0250' }, { gte: 'k/0400' }, { lt: 'k/0050' }];
  const watchers: Watcher[] = ranges.map((range, index) => ({
    feed: store.watch({ sinceVersion: since, ...range, catchUpBatchChanges: [7, 64, 4096, 1][index]! }),
    accepts: (key) => (range.gte === undefined || key >= range.gte) && (range.lt === undefined || key < range.lt),
    since,
    received: [],
  }));
  // Commits between watch() and the first step.
  for (let round = 0; round < 3; round++) await commitRandom(store, random, model, 20);
  const writes: Array<Promise<void>> = [];
  let maintenance: Promise<unknown> = Promise.resolve();
  for (let step = 0; step < 1000; step++) {
    const watcher = watchers[Math.floor(random() * watchers.length)]!;
    const choice = random();
    // A commit not awaited: it lands during the next steps (inside a pass, at the hand-over).
    if (choice < 0.25) writes.push(commitRandom(store, random, model, 1 + Math.floor(random() * 5)));
    if (step === 300) maintenance = store.checkpoint();
    if (step === 700) maintenance = maintenance.then(() => store.compact());
    const expected = expectedFor(watcher, model);
    // Only steps with a change certainly due: a feed caught up with everything committed would wait.
    if (watcher.received.length >= expected.length) continue;
    const next = await watcher.feed.next();
    expect(next.done).toBe(false);
    const { version, key, deleted, value } = next.value as Change;
    watcher.received.push(deleted ? { version, key: key as string, deleted } : { version, key: key as string, deleted, value });
  }
  await Promise.all(writes);
  await maintenance;
  // One last commit in every range: each feed reads up to it, then holds exactly the model.
  const last = await store.batch(['k/0000', 'k/0120', 'k/0450'].map((key) => ({ type: 'put' as const, key, value: 'last' })));
  for (const key of ['k/0000', 'k/0120', 'k/0450']) model.push({ version: last.version, key, deleted: false, value: 'last' });
  for (const watcher of watchers) {
    const expected = expectedFor(watcher, model);
    while (watcher.received.length < expected.length) {
      const next = await watcher.feed.next();
      expect(next.done).toBe(false);
      const { version, key, deleted, value } = next.value as Change;
      watcher.received.push(deleted ? { version, key: key as string, deleted } : { version, key: key as string, deleted, value });
    }
    expect(watcher.received).toEqual(expected);
    expect(watcher.received.at(-1)!.version).toBe(last.version);
  }
  // After the hand-over: the next change of every feed is the next commit, nothing repeated before it.
  const after = await store.batch(['k/0001', 'k/0121', 'k/0451'].map((key) => ({ type: 'put' as const, key, value: 'after' })));
  for (const watcher of watchers) {
    const next = await watcher.feed.next();
    expect(next.value).toMatchObject({ version: after.version, value: 'after' });
    expect(watcher.accepts((next.value as Change).key as string)).toBe(true);
    await watcher.feed.return(undefined);
  }
  expect(store.stats().pinnedReads).toBe(0);
}

describe('commits during several watch catch-ups', () => {
  it.each([1, 2])('reach every feed exactly once, in order, across the hand-over (seed %i)', async (seed) => {
    await runCase(seed, Infinity);
  });

  it.each([4])('under maxVersionsPerKey 2, trimming meanwhile, too (seed %i)', async (seed) => {
    await runCase(seed, 2);
  });
});
