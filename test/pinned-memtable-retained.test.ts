/**
 * A memtable that a long-lived reader (a snapshot, a scan left open, a transaction
 * left open, a watch feed catching up) captured stays reachable after its run is
 * installed: the reader's read view holds it. stats() must count it
 * (storage.retainedMemtableBytes, in memoryBytes) until the reader lets go, so the
 * figures agree with the measured heap (README: stats(), memory budget).
 *
 * A child process (node --expose-gc, on the harness build of src/, as
 * test/memory-budget.test.ts does) opens ROUNDS readers of one kind, each before a
 * round of ROUND_KEYS keys of 100 B values and a checkpoint: each reader holds the
 * memtable that took its round's keys, flushed and installed by the checkpoint. It
 * reports the growth of V8 heap plus ArrayBuffer bytes after forced GCs against the
 * growth of stats().memoryBytes: agreement within TOLERANCE (as memory-budget.test.ts
 * allows the memtable estimate). Before the fix the retained memtables (about 4 MB
 * each) were not counted at all: stats() did not grow (0.0 MiB against 20-24 MiB of
 * heap, measured), and the figures the caches and the write stall go by missed them too.
 * Then every reader is let go: the retained bytes are 0 again, memoryBytes falls by them,
 * and the heap gives most of them back.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
afterEach(removeTemporaryDirectories);

const MEBIBYTE = 1024 * 1024;
const TOLERANCE = 0.25;
/** What the heap gives back at the readers' release, at least, as a share of the retained estimate. */
const RELEASED_SHARE_MIN = 0.6;
const BUDGET_BYTES = 64 * MEBIBYTE;
/** memory-budget.ts memtableChargeMaxBytes: the memtables' two shares (1/12 + 1/4). */
const CHARGE_MAX_BYTES = Math.floor(BUDGET_BYTES * (1 / 12 + 1 / 4));
const ROUNDS = 5;
/**
 * 1,000 B values, under a memtable's share (64 MiB / 12 = 5.3 MiB; 4.6 MB estimated): a
 * round's keys stay in the reader's memtable. Values this size are most of the memtable,
 * so its estimate is near exact (memory-budget.test.ts); with 100 B values and ascending
 * keys it is about 30% over the heap at 10,000 keys, which this test is not about.
 */
const ROUND_KEYS = 4_000;
const VALUE_BYTES = 1_000;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

/** argv = [open-store.js path, store directory, reader kind]. Prints one JSON line. */
const CHILD_SCRIPT = `
const [openStorePath, directory, kind] = process.argv.slice(1);
const { openStore } = await import(openStorePath);
const heapBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); const usage = process.memoryUsage(); return usage.heapUsed + usage.arrayBuffers; };
const store = await openStore(directory, { memoryBudgetBytes: ${BUDGET_BYTES}, debug: false });
await store.put('w1', 'one');
await store.put('w2', 'two');
await store.checkpoint();
await store.get('w1');
const releases = [];
async function openReader() {
  switch (kind) {
    case 'snapshot': {
      const snapshot = await store.snapshot();
      if (await snapshot.get('w1') !== 'one') throw new Error('snapshot read');
      releases.push(() => snapshot.release());
      return;
    }
    case 'scan': {
      const scan = store.scan({ gte: 'w', lt: 'x' });
      const first = await scan.next();
      if (first.done || first.value[0] !== 'w1') throw new Error('scan read');
      releases.push(() => scan.return());
      return;
    }
    case 'transaction': {
      let open;
      const opened = new Promise((resolve) => { open = resolve; });
      let end;
      const ended = new Promise((resolve) => { end = resolve; });
      const result = store.transaction(async (tx) => { await tx.get('w1'); open(); await ended; return 1; });
      await opened;
      releases.push(async () => { end(); if (await result !== 1) throw new Error('transaction'); });
      return;
    }
    case 'watch': {
      // Keys outside the feed's range: it buffers none of the rounds' changes, only holds its catch-up.
      const feed = store.watch({ gte: 'w', lt: 'x', sinceVersion: 0, catchUpBatchChanges: 1 })[Symbol.asyncIterator]();
      const first = await feed.next();
      if (first.done || first.value.key !== 'w1') throw new Error('watch read');
      releases.push(() => feed.return());
      return;
    }
    default: throw new Error('unknown kind ' + kind);
  }
}
const value = new Uint8Array(${VALUE_BYTES}).fill(7);
let key = 0;
async function writeRound() {
  for (let batch = 0; batch < ${ROUND_KEYS / 1000}; batch++) {
    const operations = [];
    for (let index = 0; index < 1000; index++) operations.push({ type: 'put', key: 'key-' + String(key++).padStart(10, '0'), value });
    await store.batch(operations);
  }
  await store.checkpoint();
}
// A round with no reader first: the WAL's and the flush's buffers grow to their size (they stay, not the readers').
await writeRound();
const heapBefore = heapBytes();
const statsBefore = store.stats().memoryBytes;
for (let round = 0; round < ${ROUNDS}; round++) {
  await openReader();
  await writeRound();
}
const grownBytes = heapBytes() - heapBefore;
const stats = store.stats();
const storage = stats.storage;
const held = { grownBytes, estimatedBytes: stats.memoryBytes - statsBefore, memoryBytes: stats.memoryBytes,
  partsBytes: storage.memtableBytes + storage.immutableMemtableBytes + (storage.retainedMemtableBytes ?? 0) + storage.valueSlabPoolBytes + storage.cacheBytes + storage.runIndexBytes,
  retainedMemtables: storage.retainedMemtables, retainedMemtableBytes: storage.retainedMemtableBytes, flushes: storage.flushes, immutableMemtables: storage.immutableMemtables,
  hotBytes: storage.tiers.hotBytes, cacheBytes: storage.cacheBytes, memtableChargeBytes: storage.memtableChargeBytes };
for (const release of releases) await release();
releases.length = 0;
// A commit: the conflict log drops what the transactions kept (its entries hold the commits' values).
await store.put('w3', 'three');
const heapReleased = heapBytes();
const after = store.stats();
console.log(JSON.stringify({ ...held, releasedRetainedMemtables: after.storage.retainedMemtables, releasedRetainedBytes: after.storage.retainedMemtableBytes,
  releasedMemoryBytes: after.memoryBytes, releasedChargeBytes: after.storage.memtableChargeBytes, releasedCacheBytes: after.storage.cacheBytes, releasedPoolBytes: after.storage.valueSlabPoolBytes, poolBytes: storage.valueSlabPoolBytes,
  heapFreedBytes: heapBefore + grownBytes - heapReleased }));
await store.close();
`;

async function runChild(kind: string): Promise<Record<string, number>> {
  const environment = { ...process.env };
  delete environment['LADYBUG_DEBUG']; // debug-mode verification would allocate on its own
  const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT, openStorePath, temporaryDirectory(), kind], {
    env: environment,
    maxBuffer: 16 * MEBIBYTE,
  });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
}

describe('memtables held by long-lived readers after their flush', () => {
  for (const kind of ['snapshot', 'scan', 'transaction', 'watch']) {
    it(`a ${kind} per round of ${ROUND_KEYS.toLocaleString('en-US')} keys, ${ROUNDS} rounds: stats() grows with the heap, within ${TOLERANCE * 100}%`, async () => {
      const report = await runChild(kind);
      const ratio = report['estimatedBytes']! / report['grownBytes']!;
      const mib = (bytes: number | undefined) => ((bytes ?? NaN) / MEBIBYTE).toFixed(1);
      console.log(
        `${kind}: heap grew ${mib(report['grownBytes'])} MiB, stats() ${mib(report['estimatedBytes'])} MiB (ratio ${ratio.toFixed(3)}; ` +
          `retained ${String(report['retainedMemtables'])} memtables, ${mib(report['retainedMemtableBytes'])} MiB; caches ${mib(report['cacheBytes'])} MiB); ` +
          `released: heap freed ${mib(report['heapFreedBytes'])} MiB, stats() ${mib(report['memoryBytes']! - report['releasedMemoryBytes']!)} MiB (caches ${mib(report['releasedCacheBytes'])}, slab pool ${mib(report['poolBytes'])} -> ${mib(report['releasedPoolBytes'])} MiB)`,
      );
      expect(report['flushes']).toBeGreaterThanOrEqual(ROUNDS); // every round's memtable was flushed and installed
      expect(report['immutableMemtables']).toBe(0);
      expect(report['memoryBytes']).toBe(report['partsBytes']); // the total is the sum of the parts
      expect(ratio).toBeGreaterThan(1 - TOLERANCE);
      expect(ratio).toBeLessThan(1 + TOLERANCE);
      expect(report['retainedMemtables']).toBe(ROUNDS);
      // The caches give the retained memtables room: the memtables' charge covers them, up to its two shares.
      expect(report['memtableChargeBytes']).toBeGreaterThanOrEqual(Math.min(report['retainedMemtableBytes']!, CHARGE_MAX_BYTES));
      // Let go: nothing retained is counted any more, and the heap gave back about what was counted.
      expect(report['releasedRetainedMemtables']).toBe(0);
      expect(report['releasedRetainedBytes']).toBe(0);
      expect(report['releasedMemoryBytes']).toBeLessThan(report['memoryBytes']! - report['retainedMemtableBytes']! * (1 - TOLERANCE));
      // Most of it: the estimate runs 10-20% over the heap for these memtables (the ratio above), and what
      // the heap gave back measured 0.73-1.08 of the retained estimate (the transaction's includes its conflict log).
      expect(report['heapFreedBytes']).toBeGreaterThan(report['retainedMemtableBytes']! * RELEASED_SHARE_MIN);
    }, 120_000);
  }
});
