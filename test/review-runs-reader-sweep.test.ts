/**
 * Review of run files at a dense sample of bytes: one flipped bit at every 5th byte of
 * every page that holds blocks (data, index and filter partitions, top-level index) and
 * at every byte of the footer's fields, of the review store's packed cold run (format
 * 6) and of a flushed run (format 5), one at a time, read through a RunReader (parity
 * repair on, a fresh cache per trial): a forward and a reverse scan of the whole run and every key's
 * versions are exactly the pristine file's, or, for a flip in the footer,
 * CorruptionError naming the file. The parity page and the zero padding pages are
 * sampled more thinly (every 61st byte). The bit flipped at offset o is (5o + 3) mod 8,
 * so every bit position is covered. Every byte of the block pages took 220 s (flushed
 * run) and over 300 s (cold) on a busy machine (load 21) without a cache: hence the stride.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, plain } from './run-helpers.js';
import { buildStore, fileName, fileSystemOf, STORE, type BuiltStore } from './review-runs-helpers.js';

const RUNS = '/runs';
/** The footer's fields end here (docs/FORMAT.md: reserved zeros after the largest key). */
const FOOTER_FIELDS_BYTES = 2180;
const SPARSE_STRIDE = 61;
/** Stride over the pages that hold blocks (coprime to the page size: every residue in turn). */
const DENSE_STRIDE = 5;

let hash: Hash64;
let built: BuiltStore;
let descriptors: RunDescriptor[];
beforeAll(async () => {
  hash = await loadHash64();
  built = await buildStore();
  descriptors = (await Manifest.inspect(await fileSystemOf(built.image), STORE, hash)).state.runs.map((run) => ({ ...run }));
}, 60_000);

async function readAll(fileSystem: FaultFileSystem, descriptor: RunDescriptor, keys: string[]): Promise<string> {
  // A cache of its own per read: each block is read (and repaired) from the file once, not once per key.
  const reader = await RunReader.open(fileSystem, RUNS, descriptor, hash, new BlockCache(1 << 20), { repair: true });
  try {
    const forward = await drain(await reader.cursor({}, false));
    const reverse = await drain(await reader.cursor({}, true));
    const versions = [];
    for (const key of keys) versions.push((await reader.versions(key)).map(plain));
    return JSON.stringify([forward, reverse, versions]);
  } finally {
    await reader.close();
  }
}

async function fileSystemWith(bytes: Uint8Array, name: string): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem();
  await fileSystem.mkdir(RUNS);
  const handle = await fileSystem.open(`${RUNS}/${name}`, 'createExclusive');
  await handle.write(bytes, 0);
  await handle.datasync();
  await handle.close();
  await fileSystem.syncDirectory(RUNS);
  return fileSystem;
}

function offsetsOf(bytes: Uint8Array, stripeDataPages: number, logicalPages: number): number[] {
  const offsets: number[] = [];
  const pages = bytes.length / RUN_PAGE_BYTES;
  for (let page = 0; page < pages; page++) {
    const start = page * RUN_PAGE_BYTES;
    const footer = page === pages - 1;
    const position = page % (stripeDataPages + 1);
    const logical = Math.floor(page / (stripeDataPages + 1)) * stripeDataPages + position;
    const dense = footer || (position !== stripeDataPages && logical < logicalPages);
    const end = start + (footer ? FOOTER_FIELDS_BYTES : RUN_PAGE_BYTES);
    for (let offset = start; offset < end; offset += footer ? 1 : dense ? DENSE_STRIDE : SPARSE_STRIDE) offsets.push(offset);
  }
  return offsets;
}

describe('one flipped bit at a dense sample of a run\'s bytes', () => {
  for (const kind of ['cold', 'flushed'] as const) {
    it(`${kind} run: reads exact, or CorruptionError naming the file for the footer`, async () => {
      const descriptor = descriptors.filter((run) => (kind === 'cold' ? run.level > 0 : run.level === 0)).at(-1) as RunDescriptor;
      const bytes = built.image.get(`${STORE}/runs/${descriptor.fileName}`) as Uint8Array;
      const keys = [...built.model.keys()].sort();
      const pristine = await readAll(await fileSystemWith(bytes, descriptor.fileName), descriptor, keys);
      const probe = await RunReader.open(await fileSystemWith(bytes, descriptor.fileName), RUNS, descriptor, hash, new BlockCache(0));
      const { footer } = probe;
      await probe.close();
      expect(footer.compression !== RunCompression.none).toBe(kind === 'cold');
      const logicalPages = (footer.filterOffset + footer.filterLength) / RUN_PAGE_BYTES;
      const offsets = offsetsOf(bytes, footer.stripeDataPages, logicalPages);
      const footerStart = bytes.length - RUN_PAGE_BYTES;
      let repaired = 0;
      for (const offset of offsets) {
        const bit = (offset * 5 + 3) % 8;
        const fileSystem = await fileSystemWith(bytes, descriptor.fileName);
        fileSystem.flipBit(`${RUNS}/${descriptor.fileName}`, offset, bit);
        const where = `${descriptor.fileName} @${offset} bit ${bit}`;
        const got = await readAll(fileSystem, descriptor, keys).catch((error: unknown) => error);
        if (offset >= footerStart) {
          expect(got, where).toBeInstanceOf(CorruptionError);
          expect((got as CorruptionError).file, where).toContain(fileName(descriptor.fileName));
        } else {
          if (typeof got !== 'string') expect.fail(`${where}: ${String(got)}`);
          expect(got === pristine, where).toBe(true);
          const after = await fileSystem.readFile(`${RUNS}/${descriptor.fileName}`);
          if (Buffer.from(after).equals(Buffer.from(bytes))) repaired++;
        }
      }
      expect(repaired).toBeGreaterThan(0);
    }, 300_000);
  }
});
