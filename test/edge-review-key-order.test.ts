/**
 * One key order through every stage: keys where UTF-8 byte order and UTF-16 order
 * disagree (U+E000..U+FFFF against astral characters), binary keys of 0x00 and 0xFF,
 * keys that are prefixes of each other and 1,024-byte keys sharing 1,000-byte
 * prefixes, read back (get, as-of get, scans of every bound kind both ways with
 * limits, snapshots) from the memtable, flushed runs, merged runs, the cold tier
 * and after a reopen, each read compared with a Map model.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/index.js';
import { compactionSettings } from '../src/compaction/compaction-policy.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { argumentOf, byteKey, checkReads, edgeBinaryKey, edgeStringKey, EdgeModel, longStems, maxKey, mulberry32, pick, type Random } from './edge-review-support.js';

afterEach(() => {
  compactionSettings.mergeThread = 'worker';
  removeTemporaryDirectories();
});

function keyPool(rng: Random, binary: boolean): string[] {
  const stems = longStems();
  const keys = new Set<string>();
  if (binary) {
    for (const bytes of [[0], [0, 0], [0, 0, 0], [0xff], [0xff, 0xff], [0xff, 0], [0, 0xff], [0x61], [0x61, 0], [0x61, 0, 0]]) keys.add(byteKey(Uint8Array.from(bytes)));
    while (keys.size < 120) keys.add(byteKey(edgeBinaryKey(rng)));
    for (let index = 0; index < 30; index++) keys.add(byteKey(Uint8Array.from({ length: 1024 }, (_, at) => (at < 1000 ? 0xff : pick(rng, [0, 0xff, 0x80])))));
  } else {
    for (const key of ['a', 'a\u0000', 'a\u0000\u0000', '\uFFFF', '\u{10000}', '\uFFFD', '\u{1F600}', '\uE000', '\u{10FFFF}', '\uFFFF\u{10000}', '\u{10000}\uFFFF']) keys.add(byteKey(key));
    while (keys.size < 100) keys.add(byteKey(edgeStringKey(rng, stems)));
    for (let index = 0; index < 30; index++) keys.add(byteKey(maxKey(rng, pick(rng, stems))));
  }
  return [...keys];
}

function valueOf(rng: Random, round: number): unknown {
  switch (Math.floor(rng() * 6)) {
    case 0: return '';
    case 1: return new Uint8Array(0);
    case 2: return { round, text: '\uFFFF\u{10000}'.repeat(Math.floor(rng() * 40)) };
    case 3: return Uint8Array.from({ length: Math.floor(rng() * 3000) }, (_, at) => (at * 7 + round) & 0xff);
    case 4: return round;
    default: return null;
  }
}

async function writeRound(store: Store, model: EdgeModel, keys: readonly string[], rng: Random, round: number, binary: boolean): Promise<void> {
  for (let index = 0; index < 60; index++) {
    const byte = pick(rng, keys);
    if (rng() < 0.15) {
      const { version } = await store.delete(argumentOf(byte, binary));
      model.write(byte, version, undefined);
    } else {
      const value = valueOf(rng, round);
      const { version } = await store.put(argumentOf(byte, binary), value);
      model.write(byte, version, value);
    }
  }
}

async function stages(seed: number, binary: boolean): Promise<void> {
  const rng = mulberry32(seed);
  const keys = keyPool(rng, binary);
  const model = new EdgeModel();
  const directory = temporaryDirectory();
  compactionSettings.mergeThread = 'main';
  const options = { memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN, ...(binary ? { keyEncoding: 'binary' as const } : {}) };
  let store = await openStore(directory, options);
  try {
    const asOfs: number[] = [];
    const check = async (label: string): Promise<void> => {
      await checkReads(store, model, store.version, rng, label, binary);
      for (const asOf of asOfs.slice(-3)) {
        for (const byte of keys.slice(0, 40)) {
          expect(await store.get(argumentOf(byte, binary), { asOf }), `${label}: asOf ${asOf}`).toEqual(model.valueAsOf(byte, asOf));
        }
      }
    };
    for (let round = 0; round < 3; round++) {
      await writeRound(store, model, keys, rng, round, binary);
      await check(`round ${round} memtable`);
      asOfs.push(store.version);
      await store.checkpoint();
      await check(`round ${round} flushed`);
    }
    const snapshot = await store.snapshot();
    const pinned = snapshot.version;
    await store.compact();
    await check('compacted to tier 1');
    await writeRound(store, model, keys, rng, 3, binary);
    await store.checkpoint();
    await writeRound(store, model, keys, rng, 4, binary);
    await check('run and memtable over a compacted run');
    await store.compact();
    expect(store.stats().storage.tiers.coldRuns, 'the merge wrote a cold run').toBeGreaterThan(0);
    await check('cold tier');
    await checkReads(snapshot, model, pinned, rng, 'snapshot across compactions', binary);
    await snapshot.release();
    await store.close();
    store = await openStore(directory, options);
    await check('reopened');
  } finally {
    await store.close();
  }
}

describe('key order at the edges, through every stage', () => {
  it('utf8 keys mixing U+E000..U+FFFF with astral characters, prefixes and 1,024-byte keys', async () => {
    await stages(0xed6e1, false);
  }, 60_000);

  it('binary keys of 0x00 and 0xFF bytes, prefixes of each other and 1,024-byte keys', async () => {
    await stages(0xed6e2, true);
  }, 60_000);
});
