/**
 * A memtable of random-order keys holds no VersionChain for a key of one version
 * (src/memory/key-entries.ts: the Map maps a key to its place in flat columns), and its
 * memory estimate stays true.
 *
 * 1. In memory (MemoryIndex): keys applied in a seeded random order, each with one
 *    version, are flushed from their slots and slabs, no chain made; a key's second
 *    version, a point read and a scan make its chain; a flush reads the same entries
 *    either way; the estimate grows by what a chain costs when one is made.
 * 2. The estimate against measured heap growth (a child process, node --expose-gc, as
 *    test/memory-budget.test.ts measures sequential keys): 200,000 keys in random order,
 *    100 B byte values (carved from slabs) and small integers, with and without every
 *    key read back afterwards (which makes every chain), within 10%.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EncodedValue, ValueSlabs } from '../src/codec/value-slabs.js';
import { harnessEntryPath } from '../src/harness/harness-entry.js';
import { SeededRandom } from '../src/harness/seeded-random.js';
import { KeyEntries } from '../src/memory/key-entries.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE, VersionChain, type VersionSlot } from '../src/memory/version-chain.js';
import { memtableEntries } from '../src/engine/memtable-entries.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
afterEach(removeTemporaryDirectories);

const keyOf = (number: number): string => `k${String(number).padStart(8, '0')}`;

/** A seeded permutation of 0..count-1. */
function shuffled(count: number, seed: number): number[] {
  const random = new SeededRandom(seed);
  const order = Array.from({ length: count }, (_, number) => number);
  for (let index = count - 1; index > 0; index--) {
    const other = random.nextIntInclusive(0, index);
    [order[index], order[other]] = [order[other]!, order[index]!];
  }
  return order;
}

/** Run entries as [key, version, bytes] (copied: memtableEntries reuses its entry object). */
function runEntries(index: MemoryIndex): Array<[string, number, string]> {
  const entries: Array<[string, number, string]> = [];
  for (const entry of memtableEntries(index)) entries.push([entry.key, entry.version, entry.value === undefined ? '-' : Buffer.from(entry.value).toString('hex')]);
  return entries;
}

describe('a random memtable without a chain per key', () => {
  function write(count: number): { index: MemoryIndex; slots: VersionSlot[]; order: number[] } {
    const slabs = new ValueSlabs(64 * 1024, 8 * 1024);
    const index = new MemoryIndex(8);
    const order = shuffled(count, 7);
    const slots: VersionSlot[] = [];
    let version = 0;
    for (const number of order) {
      const bytes = Uint8Array.of(0xc4, 2, number & 0xff, number >> 8);
      // Most values carved from a slab, some numbers, some deletes: every kind of entry.
      const slot: VersionSlot = number % 7 === 0 ? number : number % 11 === 0 ? TOMBSTONE : slabs.copyValue(bytes, 0, bytes.length);
      slots[number] = slot;
      index.apply(++version, [{ key: keyOf(number), slot }], 0);
    }
    return { index, slots, order };
  }

  it('holds each key of one version as its slot or slab: the flush reads them, no chain made', () => {
    const { index } = write(3000);
    const ordered = index.orderedEntries();
    expect(ordered.keys).toEqual(Array.from({ length: 3000 }, (_, number) => keyOf(number)));
    expect(ordered.entries.some((entry) => entry instanceof VersionChain)).toBe(false);
    expect(ordered.entries.filter((entry) => entry instanceof Uint8Array).length).toBeGreaterThan(2000);
    const arrival = index.entriesInArrivalOrder()!;
    expect(arrival.entries.some((entry) => entry instanceof VersionChain)).toBe(false);
    index.verify();
  });

  it('a flush reads the same entries before and after reads, rewrites and a scan made chains; the estimate counts each chain made', () => {
    const { index, slots, order } = write(3000);
    const before = runEntries(index);
    expect(before.length).toBe(3000);
    const held = index.orderedEntries();
    const bytesBefore = index.memoryBytes;
    // A point read makes the key's chain, once; it holds the slot applied.
    const chain = index.chain(keyOf(5))!;
    expect(index.chain(keyOf(5))).toBe(chain);
    const slot = slots[5]!;
    if (slot instanceof EncodedValue) expect(Buffer.from((chain.newest as EncodedValue).bytes).equals(Buffer.from(slot.bytes))).toBe(true);
    else expect(chain.newest).toBe(slot);
    expect(index.memoryBytes).toBeGreaterThan(bytesBefore);
    // The entries a flush already held are as they were (the key's slot or slab: the same history as its chain).
    expect(held.entries[5]).not.toBeInstanceOf(VersionChain);
    expect(runEntries(index)).toEqual(before);
    // A second version of a key: its chain holds both, and the flush reads both.
    index.apply(3001, [{ key: keyOf(order[0]!), slot: 'second' }], 0);
    expect(index.chain(keyOf(order[0]!))!.versions).toEqual([1, 3001]);
    const after = runEntries(index);
    expect(after.length).toBe(3001);
    // A scan makes every chain; the entries stay the same.
    const scanned = index.scanChunk({}, undefined, 3001, false, 10_000);
    expect(scanned.length).toBe(3000 - [...Array(3000).keys()].filter((number) => number % 11 === 0 && number % 7 !== 0 && number !== order[0]).length);
    expect(runEntries(index)).toEqual(after);
    expect(index.orderedEntries().entries.every((entry) => entry instanceof VersionChain)).toBe(true);
    index.verify();
  });

  it('a read of a key whose chain is made is one Map lookup: the Map holds the chain, not the column position', () => {
    const { index, order } = write(3000);
    const entryAt = vi.spyOn(KeyEntries.prototype, 'entryAt');
    const chainAt = vi.spyOn(KeyEntries.prototype, 'chainAt');
    try {
      const chain = index.chain(keyOf(order[10]!))!; // made now, from the columns
      expect(chainAt).toHaveBeenCalledTimes(1);
      entryAt.mockClear();
      for (let round = 0; round < 3; round++) expect(index.chain(keyOf(order[10]!))).toBe(chain);
      expect(index.slotAsOf(keyOf(order[10]!), 3000)).toBe(chain.newest);
      expect(entryAt).not.toHaveBeenCalled();
      expect(chainAt).toHaveBeenCalledTimes(1);
    } finally {
      entryAt.mockRestore();
      chainAt.mockRestore();
    }
    // The flush still reads the chain at the key's place in the columns.
    expect(index.entriesInArrivalOrder()!.entries.filter((entry) => entry instanceof VersionChain).length).toBe(1);
    index.verify();
  });
});

/** The child: argv = [open-store.js path, store directory, shape, count, read back (1/0)]. */
const CHILD_SCRIPT = `
const [openStorePath, directory, shape, countText, readBack] = process.argv.slice(1);
const { openStore } = await import(openStorePath);
const count = Number(countText);
const heapBytes = () => { for (let round = 0; round < 4; round++) globalThis.gc(); const usage = process.memoryUsage(); return usage.heapUsed + usage.arrayBuffers; };
const flat = (text) => Buffer.from(text, 'utf8').toString('utf8');
const keyOf = (index) => flat('key-' + String(index).padStart(10, '0'));
const valueOf = (index) => { if (shape === 'integer') return index; const bytes = new Uint8Array(100); bytes[0] = index & 255; return bytes; };
const order = new Uint32Array(count);
for (let index = 0; index < count; index++) order[index] = index;
let state = 2463534242;
for (let index = count - 1; index > 0; index--) {
  state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
  const other = state % (index + 1);
  const swap = order[index]; order[index] = order[other]; order[other] = swap;
}
const store = await openStore(directory, { memoryBudgetBytes: 8 * 1024 ** 3, walCheckpointBytes: 8 * 1024 ** 3, debug: false });
await store.put('warm-up', valueOf(0));
await store.get('warm-up');
const heapBefore = heapBytes();
const estimateBefore = store.stats().memoryBytes;
for (let start = 0; start < count; start += 1000) {
  const operations = [];
  for (let index = start; index < Math.min(count, start + 1000); index++) operations.push({ type: 'put', key: keyOf(order[index]), value: valueOf(order[index]) });
  await store.batch(operations);
}
if (readBack === '1') for (let index = 0; index < count; index++) if (store.get(keyOf(index)) === undefined) throw new Error('lost ' + index);
const grownBytes = heapBytes() - heapBefore;
const stats = store.stats();
console.log(JSON.stringify({ grownBytes, estimatedBytes: stats.memoryBytes - estimateBefore, runs: stats.storage.runs, immutableMemtables: stats.storage.immutableMemtables }));
await store.close();
`;

let openStorePath = '';
beforeAll(async () => {
  openStorePath = join(dirname(dirname(await harnessEntryPath('crash-worker'))), 'store', 'open-store.js');
}, 180_000);

const COUNT = 200_000;
const TOLERANCE = 0.1;

describe('the estimate of a random memtable against measured heap growth', () => {
  for (const shape of ['bytes-100', 'integer']) {
    for (const readBack of [false, true]) {
      it(`${shape}, ${COUNT.toLocaleString('en-US')} keys in random order${readBack ? ', every key read back' : ''}: within ${TOLERANCE * 100}%`, async () => {
        const environment = { ...process.env };
        delete environment['LADYBUG_DEBUG'];
        const { stdout } = await run(
          process.execPath,
          ['--expose-gc', '--input-type=module', '--eval', CHILD_SCRIPT, openStorePath, temporaryDirectory(), shape, String(COUNT), readBack ? '1' : '0'],
          { env: environment, maxBuffer: 16 * 1024 * 1024 },
        );
        const lines = stdout.trim().split('\n');
        const report = JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
        const ratio = report['estimatedBytes']! / report['grownBytes']!;
        console.log(`${shape}${readBack ? ' read back' : ''}: heap grew ${(report['grownBytes']! / COUNT).toFixed(1)} B/key, estimate ${(report['estimatedBytes']! / COUNT).toFixed(1)} B/key, ratio ${ratio.toFixed(3)}`);
        expect(report['runs']).toBe(0);
        expect(report['immutableMemtables']).toBe(0);
        expect(ratio).toBeGreaterThan(1 - TOLERANCE);
        expect(ratio).toBeLessThan(1 + TOLERANCE);
      }, 120_000);
    }
  }
});
