/**
 * A write chunk kept across runs (issue 7, src/stripe/striped-output.ts
 * StripedChunkHolder, used by the flush and merge threads): the runs written through
 * one holder, its chunk overwritten with junk between them, are byte for byte the runs
 * written with a new chunk each, plain and compressed; the holder keeps the same
 * buffer across successful runs; a run that fails keeps it and the next one allocates.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { internalKey } from '../src/codec/keys.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import type { RunCompressionName } from '../src/run/run-format.js';
import { writeRun } from '../src/run/run-writer.js';
import type { StripedChunkHolder } from '../src/stripe/striped-output.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});
afterEach(() => removeTemporaryDirectories());

/** `count` entries, values of 1 to ~5,000 bytes (some blocks of one page, some of two; tombstones), seeded by `round`. */
function entries(count: number, round: number): RunEntry[] {
  const list: RunEntry[] = [];
  for (let number = 0; number < count; number++) {
    const size = (number * 131 + round * 17) % 7 === 0 ? 4000 + ((number * 7) % 1200) : 1 + ((number * 37 + round) % 300);
    const value = number % 53 === 0 ? undefined : Buffer.alloc(size, (number + round) & 0xff);
    list.push({ key: internalKey(`chunk-${round}-${String(number).padStart(6, '0')}`), version: number + 1, value });
  }
  return list;
}

async function runBytes(list: RunEntry[], compression: RunCompressionName, writeChunk: StripedChunkHolder | undefined, runId: number): Promise<Buffer> {
  const directory = temporaryDirectory();
  const descriptor = await writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: directory, runId, generation: 5, level: 0, hash, entries: list, compression, writeChunk });
  return readFileSync(join(directory, descriptor.fileName));
}

describe('a write chunk kept across runs', () => {
  for (const compression of ['none', 'deflate'] as const) {
    it(`${compression}: runs through one holder, junk between them, equal runs with a new chunk each`, async () => {
      const holder: StripedChunkHolder = { chunk: undefined };
      let kept: Buffer | undefined;
      // Sizes: less than one stripe, several chunks (1 MiB each), one chunk and a bit.
      for (const [round, count] of [[0, 20], [1, 6000], [2, 2500], [3, 1]] as const) {
        const list = entries(count, round);
        const expected = await runBytes(list, compression, undefined, 10 + round);
        const actual = await runBytes(list, compression, holder, 10 + round);
        expect(actual.equals(expected)).toBe(true);
        expect(holder.chunk).toBeInstanceOf(Buffer);
        if (kept !== undefined) expect(holder.chunk === kept).toBe(true); // the same buffer, not a new one
        kept = holder.chunk;
        holder.chunk!.fill(0xa7); // what a previous run leaves: its stripes' bytes
      }
    }, 60_000);
  }

  it('a run that fails keeps the chunk from the holder; the next run allocates one and gives it back', async () => {
    const holder: StripedChunkHolder = { chunk: undefined };
    await runBytes(entries(100, 0), 'none', holder, 1);
    const first = holder.chunk;
    expect(first).toBeInstanceOf(Buffer);
    const failure = new Error('entries failed');
    const failing = (function* (): Generator<RunEntry> {
      yield* entries(3000, 1);
      throw failure;
    })();
    const directory = temporaryDirectory();
    await expect(writeRun({ fileSystem: new NodeFileSystem(), runsDirectory: directory, runId: 2, generation: 5, level: 0, hash, entries: failing, writeChunk: holder })).rejects.toBe(failure);
    expect(holder.chunk).toBeUndefined();
    const list = entries(400, 2);
    expect((await runBytes(list, 'none', holder, 3)).equals(await runBytes(list, 'none', undefined, 3))).toBe(true);
    expect(holder.chunk).toBeInstanceOf(Buffer);
    expect(holder.chunk === first).toBe(false);
  });
});
