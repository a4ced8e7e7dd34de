/**
 * collectKeyEntries (src/run/data-block-seek.ts): the walk a point read makes over a
 * block it does not keep answers exactly what decoding the block and searching it
 * answers (collectVersions on decodeDataBlock, then the check of the last key against
 * the index), refuses every block that path refuses with the same CorruptionError,
 * and hands out copies of the values, never views of the block.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { DataBlockBuilder, decodeDataBlock } from '../src/run/data-block.js';
import { collectKeyEntries } from '../src/run/data-block-seek.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { RUN_BLOCK_HEADER_BYTES } from '../src/run/run-format.js';
import type { RunIndex } from '../src/run/run-index.js';
import { collectVersions } from '../src/run/run-point-read.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { simpleEntries, writeAndOpen } from './run-helpers.js';

/** A seeded xorshift32 stream in [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** A random internal key (latin1 chars, some sharing prefixes with others). */
function randomKey(random: () => number, prefixes: string[]): string {
  const base = prefixes.length > 0 && random() < 0.4 ? prefixes[Math.floor(random() * prefixes.length)]! : '';
  let key = base;
  const length = 1 + Math.floor(random() * 6);
  for (let index = 0; index < length; index++) key += String.fromCharCode(Math.floor(random() * 256));
  return key.slice(0, 40);
}

interface Block {
  bytes: Buffer;
  payloadBytes: number;
  entryCount: number;
  lastKey: string;
  keys: string[];
}

/** One block of random keys (1 to 3 versions each, some tombstones), built as the writer builds blocks. */
function randomBlock(random: () => number): Block {
  const prefixes: string[] = [];
  const keys = new Set<string>();
  const wanted = 1 + Math.floor(random() * 30);
  while (keys.size < wanted) {
    const key = randomKey(random, prefixes);
    keys.add(key);
    prefixes.push(key);
  }
  const sorted = [...keys].sort((left, right) => Buffer.compare(Buffer.from(left, 'latin1'), Buffer.from(right, 'latin1')));
  const builder = new DataBlockBuilder(64 * 1024);
  let version = 1_000_000;
  for (const key of sorted) {
    const versions = 1 + Math.floor(random() * 3);
    for (let count = 0; count < versions; count++) {
      const value = random() < 0.15 ? undefined : Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      expect(builder.tryAdd({ key, version: version - count * 7 - Math.floor(random() * 3), value })).toBe(true);
    }
    version -= 100;
  }
  return { bytes: Buffer.from(builder.block()), payloadBytes: builder.payloadBytes, entryCount: builder.entryCount, lastKey: sorted.at(-1)!, keys: sorted };
}

/** An index stand-in that knows block 0's last key (what collectKeyEntries asks of it). */
function indexWithLastKey(lastKey: string): RunIndex {
  const last = Buffer.from(lastKey, 'latin1');
  return {
    compareLastKeyBytes: (bytes: Uint8Array, start: number, length: number, block: number) => {
      expect(block).toBe(0);
      return Buffer.compare(Buffer.from(bytes.subarray(start, start + length)), last);
    },
  } as unknown as RunIndex;
}

type Answer = { ended: boolean; entries: Array<{ key: string; version: number; value: string | undefined }> } | { error: string };

function plainEntries(entries: RunEntry[]): Array<{ key: string; version: number; value: string | undefined }> {
  return entries.map((entry) => ({ key: entry.key, version: entry.version, value: entry.value === undefined ? undefined : Buffer.from(entry.value).toString('hex') }));
}

/** What the decoding path answers: decodeDataBlock, the last-key check of run-block-decode.ts, collectVersions. */
function decodedAnswer(block: Block, key: string, bytes = block.bytes): Answer {
  try {
    const decoded = decodeDataBlock('f', 8, bytes, block.payloadBytes, block.entryCount);
    if (decoded.keyAt(decoded.count - 1) !== block.lastKey) throw new CorruptionError('f', 8, 'data block: last key differs from the index');
    const entries: RunEntry[] = [];
    const ended = collectVersions(decoded, key, entries);
    return { ended, entries: plainEntries(entries) };
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptionError);
    return { error: (error as Error).message };
  }
}

function walkedAnswer(block: Block, key: string, bytes = block.bytes): Answer {
  try {
    const entries: RunEntry[] = [];
    const ended = collectKeyEntries('f', 8, bytes, RUN_BLOCK_HEADER_BYTES, block.payloadBytes, block.entryCount, indexWithLastKey(block.lastKey), 0, key, entries);
    for (const entry of entries) if (entry.value !== undefined) expect(entry.value.buffer).not.toBe(bytes.buffer);
    return { ended, entries: plainEntries(entries) };
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptionError);
    return { error: (error as Error).message };
  }
}

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('collectKeyEntries: a point read walks a block it does not keep', () => {
  it('answers as decoding and searching the block does, for keys in it, between, before and after its keys', () => {
    const random = seeded(7);
    let found = 0;
    for (let round = 0; round < 300; round++) {
      const block = randomBlock(random);
      const probes = [...block.keys, '\u0000', '\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff', block.keys[0]!.slice(0, -1) || 'a', `${block.lastKey}\u0000`];
      for (let extra = 0; extra < 10; extra++) probes.push(randomKey(random, block.keys));
      for (const key of probes) {
        const walked = walkedAnswer(block, key);
        expect(walked, key).toEqual(decodedAnswer(block, key));
        if ('entries' in walked && walked.entries.length > 0) found++;
      }
    }
    expect(found).toBeGreaterThan(3000);
  });

  it('the values it hands out are copies: the block bytes reused afterwards leave them unchanged', () => {
    const random = seeded(11);
    const block = randomBlock(random);
    const key = block.keys[Math.floor(block.keys.length / 2)]!;
    const entries: RunEntry[] = [];
    collectKeyEntries('f', 8, block.bytes, RUN_BLOCK_HEADER_BYTES, block.payloadBytes, block.entryCount, indexWithLastKey(block.lastKey), 0, key, entries);
    const before = plainEntries(entries);
    block.bytes.fill(0x5a);
    expect(plainEntries(entries)).toEqual(before);
  });

  it('refuses a damaged block as the decoding path does (same CorruptionError), and accepts what it accepts', () => {
    const random = seeded(23);
    let refused = 0;
    for (let round = 0; round < 400; round++) {
      const block = randomBlock(random);
      const damaged = Buffer.from(block.bytes);
      const position = RUN_BLOCK_HEADER_BYTES + Math.floor(random() * block.payloadBytes);
      damaged[position] = Math.floor(random() * 256);
      if (random() < 0.3) damaged[position + 1 < RUN_BLOCK_HEADER_BYTES + block.payloadBytes ? position + 1 : position] = 0;
      const key = random() < 0.5 ? block.keys[0]! : block.lastKey;
      const walked = walkedAnswer(block, key, damaged);
      expect(walked).toEqual(decodedAnswer(block, key, damaged));
      if ('error' in walked) refused++;
    }
    expect(refused).toBeGreaterThan(50);
  });

  it('a block whose last key is not the index\'s, or with no entries, is refused', () => {
    const block = randomBlock(seeded(5));
    const wrongLast = { ...block, lastKey: `${block.lastKey}x` };
    expect(walkedAnswer(wrongLast, block.keys[0]!)).toEqual({ error: expect.stringContaining('data block: last key differs from the index') });
    expect(walkedAnswer({ ...block, entryCount: 0 }, block.keys[0]!)).toEqual(decodedAnswer({ ...block, entryCount: 0 }, block.keys[0]!));
  });

  it('RunIndex.compareLastKeyBytes orders key bytes as compareLastKey orders the key', async () => {
    const { reader } = await writeAndOpen(hash, simpleEntries(3000));
    const { index } = await reader.partition(0);
    expect(index.blockCount).toBeGreaterThan(5);
    for (let block = 0; block < index.blockCount; block++) {
      const last = index.lastKey(block);
      for (const key of [last, `${last}0`, last.slice(0, -1), 'key-000000', 'key-999999', '']) {
        const bytes = Buffer.from(`..${key}..`, 'latin1');
        expect(Math.sign(index.compareLastKeyBytes(bytes, 2, key.length, block)), `${key} ${block}`).toBe(Math.sign(index.compareLastKey(key, block)));
      }
    }
    await reader.close();
  });
});
