/**
 * A point read's per-run checks with the read's KeyProbe (issue 7, the cost of asking a
 * run that does not hold the key): the probe carries the key's four-byte prefix
 * (key-prefix.ts), and a run compares it with its key range's prefixes and its top-level
 * index's last-key prefixes before any key bytes. Checked here:
 * - the probe path answers as the path without a probe (string comparisons with the
 *   run's smallest and largest keys, the prefix computed by the run) and as the model,
 *   for keys that tie with a range end's prefix on either side of it, shorter keys
 *   (zero padded prefixes), keys with bytes 0x00 and 0xff, and keys far outside;
 * - a filter false positive (an absent key the filter lets through) still reads as
 *   absent, through the probe path, with its data block read and searched;
 * - a damaged filter partition read through the probe path without parity raises
 *   CorruptionError naming the file and the partition's offset, and the repairing
 *   reader rebuilds it and answers exactly;
 * - a probe made for another key is refused before the range check can answer for it;
 * - the probe's hash halves (computed in JavaScript for the store's XXH64) are the ones
 *   the run writer stores for the key (storeKeyHashHalves), for keys of every length
 *   up to 100 bytes, random and all-0x00/all-0xff, and its prefix is keyPrefix's, signed.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { AssertionFailedError, CorruptionError } from '../src/errors.js';
import { BlockCache } from '../src/run/block-cache.js';
import { KeyProbe, storeKeyHashHalves } from '../src/run/bloom-filter.js';
import { keyPrefix, signedPrefix } from '../src/run/key-prefix.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { plain, RUNS_DIRECTORY, runOrder, writeAndOpen } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

/** Keys "abcd" + 4 digits + a long tail (several partitions), from abcd1000 to abcd3999, two versions for some. */
function entriesAbcd(): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let index = 1000; index < 4000; index++) {
    const key = `abcd${index}-${'t'.repeat(180)}`;
    entries.push({ key, version: 2 * index, value: Buffer.from(`v${index}`) });
    if (index % 7 === 0) entries.push({ key, version: 2 * index - 1, value: undefined });
  }
  return runOrder(entries);
}

function modelOf(sorted: readonly RunEntry[]): Map<string, ReturnType<typeof plain>[]> {
  const model = new Map<string, ReturnType<typeof plain>[]>();
  for (const entry of sorted) model.set(entry.key, [...(model.get(entry.key) ?? []), plain(entry)]);
  return model;
}

async function answers(reader: RunReader, key: string, probe?: KeyProbe): Promise<ReturnType<typeof plain>[]> {
  return (await reader.pointVersions(key, probe)).map(plain);
}

describe('a point read with the probe: key range and partitions by prefix', () => {
  it('answers as the path without a probe and as the model at and around the key range ends', async () => {
    const sorted = entriesAbcd();
    const { reader, descriptor } = await writeAndOpen(hash, sorted);
    expect(reader.partitionCount).toBeGreaterThan(2);
    // Both range ends share their prefix "abcd" with every key asked below but the far ones.
    expect(keyPrefix(descriptor.smallestKey)).toBe(keyPrefix(descriptor.largestKey));
    const model = modelOf(sorted);
    const present = [...model.keys()];
    const asked = [
      ...present,
      'abcd', 'abc', 'ab', 'a', 'abcd0', 'abcd0999', 'abcd1', 'abcd1000', 'abcd1000-', `${descriptor.smallestKey.slice(0, -1)}`,
      `${descriptor.smallestKey}\u0000`, `${descriptor.largestKey}\u0000`, `${descriptor.largestKey.slice(0, -1)}`, 'abcd9', 'abcd3999~', 'abcd4', 'abcd\u00ff',
      'abcc\u00ff\u00ff\u00ff', 'abce', 'abce\u0000', '\u0000', '\u00ff\u00ff\u00ff\u00ff\u00ff', 'zzzz', 'abcd\u0000\u0000',
    ];
    for (let index = 0; index < present.length; index += 37) asked.push(`${present[index]!}x`, present[index]!.slice(0, 12));
    let ruledOutByRange = 0;
    for (const key of asked) {
      const expected = model.get(key) ?? [];
      expect(await answers(reader, key, KeyProbe.of(hash, key)), key).toEqual(expected);
      expect(await answers(reader, key), key).toEqual(expected);
      expect(await reader.mayContain(key, KeyProbe.of(hash, key)), key).toBe(await reader.mayContain(key));
      if (key < descriptor.smallestKey || key > descriptor.largestKey) ruledOutByRange++;
    }
    expect(ruledOutByRange).toBeGreaterThan(10);
    await reader.close();
  });

  it('a filter false positive reads the data block and answers absent', async () => {
    const sorted = entriesAbcd();
    const { reader } = await writeAndOpen(hash, sorted);
    const model = modelOf(sorted);
    const falsePositives: string[] = [];
    for (let index = 0; index < 20_000 && falsePositives.length < 5; index++) {
      const key = `abcd${1000 + (index % 3000)}-${'t'.repeat(180)}#${index}`;
      if (await reader.mayContain(key, KeyProbe.of(hash, key))) falsePositives.push(key);
    }
    // About 1% of absent keys inside the span pass the filter.
    expect(falsePositives.length).toBe(5);
    for (const key of falsePositives) {
      expect(model.has(key)).toBe(false);
      expect(await answers(reader, key, KeyProbe.of(hash, key)), key).toEqual([]);
    }
    await reader.close();
  });

  it('a damaged filter partition: CorruptionError with file and offset without parity, rebuilt with it', async () => {
    const sorted = entriesAbcd();
    const { fileSystem, descriptor, reader: first } = await writeAndOpen(hash, sorted);
    const top = first.topLevelIndex!;
    const partition = Math.floor(top.count / 2);
    const logicalOffset = top.filterOffset(partition);
    const layout = new StripeLayout(first.footer.stripeDataPages, RUN_PAGE_BYTES);
    const parityOffset = layout.stripeOffset(layout.stripeOfLogicalPage(logicalOffset / RUN_PAGE_BYTES)) + layout.stripeDataPages * RUN_PAGE_BYTES;
    const key = [...modelOf(sorted).keys()].find((candidate) => first.partitionAtOrAfter(candidate) === partition)!;
    expect(key).toBeDefined();
    await first.close();
    const path = runPath(descriptor);
    await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x42), layout.physicalOffset(logicalOffset));

    const detector = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
    const refused = await Promise.resolve()
      .then(() => detector.pointVersions(key, KeyProbe.of(hash, key)))
      .catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(CorruptionError);
    expect(refused).toMatchObject({ file: path, offset: logicalOffset });
    await detector.close();

    const repairing = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
    expect(await answers(repairing, key, KeyProbe.of(hash, key))).toEqual(modelOf(sorted).get(key));
    await repairing.close();

    // The page and its stripe's parity both bad: the probe path fails typed too.
    await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x42), layout.physicalOffset(logicalOffset));
    await overwriteDurably(fileSystem, path, Buffer.alloc(RUN_PAGE_BYTES, 0x17), parityOffset);
    const broken = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
    const error = await Promise.resolve()
      .then(() => broken.pointVersions(key, KeyProbe.of(hash, key)))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error).toMatchObject({ file: path, offset: logicalOffset });
    await broken.close();
  });

  it('refuses a probe made for another key, even one the key range would rule out', async () => {
    const sorted = entriesAbcd();
    const { reader, descriptor } = await writeAndOpen(hash, sorted);
    const inside = descriptor.smallestKey;
    // A probe of a key below the range (its prefix rules the run out) handed in for a key inside it.
    expect(() => reader.pointVersions(inside, KeyProbe.of(hash, 'aaaa'))).toThrow(AssertionFailedError);
    expect(() => reader.pointVersions('aaaa', KeyProbe.of(hash, inside))).toThrow(AssertionFailedError);
    await reader.close();
  });

  it("carries the hash halves the writer stores for the key, and the key's signed prefix", () => {
    const halves = new Uint32Array(2);
    const keys: string[] = [];
    let state = 12345;
    const nextByte = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 24;
    };
    for (let length = 0; length <= 100; length++) {
      keys.push(String.fromCharCode(...Array.from({ length }, nextByte)), '\u0000'.repeat(length), '\u00ff'.repeat(length));
    }
    for (const key of keys) {
      storeKeyHashHalves(hash, key, halves, 0);
      const probe = KeyProbe.of(hash, key);
      expect([probe.first, probe.step], JSON.stringify(key)).toEqual([halves[0], halves[1]]);
      expect(probe.prefix).toBe(signedPrefix(keyPrefix(key)));
    }
  });
});
