/**
 * Review of runs, stripes and backup under damage parity cannot or must repair: two
 * flipped bits in one stripe of a run (in two different pages holding block bytes)
 * give exact answers or a CorruptionError naming the file, never a wrong answer or a
 * missing key (exact is right when the second flip lies outside every byte the
 * rebuilt block's check covers: a packed block's part of a shared page), and verify
 * names the file either way;
 * compaction reading a damaged input either repairs it first (one flip) or fails
 * (two), and never writes the damage into its output under a fresh checksum; a
 * backup of a store with a damaged block never certifies the damage in BACKUP.json.
 * Store: test/review-runs-helpers.ts (a packed cold run under three flushed runs).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CorruptionError } from '../src/errors.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore, restoreBackup, verifyBackup } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { Manifest } from '../src/manifest/manifest.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_PAGE_BYTES, RunCompression } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { blockBytePages, buildStore, fileName, fileSystemOf, openAndRead, readEverything, seeded, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
let coldRun: string;
/** A flushed run whose first two logical pages are two data blocks (one page each): a flip in each is beyond parity. */
let hotRun: string;
beforeAll(async () => {
  built = await buildStore();
  const cold = built.runFiles.filter((path) => built.tiers.get(path) !== 0);
  expect(cold).toHaveLength(1);
  coldRun = cold[0] as string;
  const hash = await loadHash64();
  const fileSystem = await fileSystemOf(built.image);
  for (const descriptor of (await Manifest.inspect(fileSystem, STORE, hash)).state.runs) {
    const reader = await RunReader.open(fileSystem, `${STORE}/runs`, descriptor, hash, new BlockCache(0), { repair: false });
    const { index } = await reader.partition(0);
    if (reader.footer.compression === RunCompression.none && index.blockCount >= 2 && index.offset(1) === RUN_PAGE_BYTES && index.lengthBytes(1) === RUN_PAGE_BYTES) {
      hotRun = `${STORE}/runs/${descriptor.fileName}`;
    }
    await reader.close();
  }
  expect(hotRun).toBeDefined();
}, 60_000);

/** One flip in each of the hot run's first two data blocks (logical pages 0 and 1 of stripe 0): no rebuild passes either block's check. */
function unrecoverable(random: () => number): Array<{ offset: number; bit: number }> {
  return [0, 1].map((page) => ({ offset: page * RUN_PAGE_BYTES + Math.floor(random() * RUN_PAGE_BYTES), bit: Math.floor(random() * 8) }));
}

/** Two pages of `file`'s stripe 0 holding block bytes, and one non-zero offset in each. */
function twoFlips(file: string, random: () => number): Array<{ offset: number; bit: number }> {
  const pages = [...blockBytePages(built.image.get(file) as Uint8Array).values()];
  expect(pages.length).toBeGreaterThanOrEqual(2);
  const first = Math.floor(random() * pages.length);
  let second = Math.floor(random() * (pages.length - 1));
  if (second >= first) second++;
  return [first, second].map((page) => {
    const offsets = pages[page] as number[];
    return { offset: offsets[Math.floor(random() * offsets.length)] as number, bit: Math.floor(random() * 8) };
  });
}

async function damaged(file: string, flips: Array<{ offset: number; bit: number }>): Promise<FaultFileSystem> {
  const fileSystem = await fileSystemOf(built.image);
  for (const { offset, bit } of flips) fileSystem.flipBit(file, offset, bit);
  return fileSystem;
}

describe('two flips in one stripe (beyond parity)', () => {
  it('beyond any rebuild: CorruptionError naming the run', async () => {
    const random = seeded(3);
    for (let trial = 0; trial < 8; trial++) {
      const flips = unrecoverable(random);
      const outcome = await openAndRead(await damaged(hotRun, flips), built);
      expect(outcome.kind, `${JSON.stringify(flips)}: ${outcome.kind === 'wrong' ? outcome.message : ''}`).toBe('corruption');
      if (outcome.kind === 'corruption') expect(outcome.error.file).toContain(fileName(hotRun));
    }
  });

  it('every read answers exactly or throws CorruptionError naming the run; verify names it too', async () => {
    const random = seeded(41);
    for (const file of built.runFiles) {
      for (let trial = 0; trial < 12; trial++) {
        const flips = twoFlips(file, random);
        const outcome = await openAndRead(await damaged(file, flips), built);
        const where = `${file} ${JSON.stringify(flips)}`;
        expect(outcome.kind, `${where}: ${outcome.kind === 'wrong' ? outcome.message : ''}`).not.toBe('wrong');
        if (outcome.kind === 'corruption') expect(outcome.error.file, where).toContain(fileName(file));
        const report = await verifyStore(STORE, { fileSystem: await damaged(file, flips) });
        expect(report.ok, where).toBe(false);
        expect(report.runs.problems.map((problem) => problem.file), where).toContain(file);
      }
    }
  });
});

describe('compaction reading a damaged input', () => {
  it('one flip: the merge reads the block rebuilt from parity; the output verifies and reads exact', async () => {
    const random = seeded(5);
    const pages = [...blockBytePages(built.image.get(coldRun) as Uint8Array).values()];
    for (let trial = 0; trial < 6; trial++) {
      const offsets = pages[trial % pages.length] as number[];
      const flip = { offset: offsets[Math.floor(random() * offsets.length)] as number, bit: trial % 8 };
      const fileSystem = await damaged(coldRun, [flip]);
      const store = await openStore(STORE, { fileSystem });
      await store.compact();
      await store.close();
      const report = await verifyStore(STORE, { fileSystem });
      expect(report.runs.problems, JSON.stringify(flip)).toEqual([]);
      expect(await openAndRead(fileSystem, built)).toEqual({ kind: 'exact' });
    }
  });

  it('two flips: the merge either rebuilds the block (the output verifies and reads exact) or fails with CorruptionError', async () => {
    const random = seeded(9);
    for (let trial = 0; trial < 6; trial++) {
      const flips = twoFlips(coldRun, random);
      const fileSystem = await damaged(coldRun, flips);
      const store = await openStore(STORE, { fileSystem });
      const compacted = await store.compact().then(() => undefined, (error: unknown) => error);
      await store.close();
      if (compacted === undefined) {
        expect((await verifyStore(STORE, { fileSystem })).runs.problems, JSON.stringify(flips)).toEqual([]);
        expect(await openAndRead(fileSystem, built), JSON.stringify(flips)).toEqual({ kind: 'exact' });
      } else {
        expect(compacted, JSON.stringify(flips)).toBeInstanceOf(CorruptionError);
        expect((await openAndRead(fileSystem, built)).kind, JSON.stringify(flips)).toBe('corruption');
      }
    }
  });

  it('beyond any rebuild: compaction fails with CorruptionError naming the run, which stays listed (reads still fail)', async () => {
    const random = seeded(19);
    for (let trial = 0; trial < 4; trial++) {
      const flips = unrecoverable(random);
      const fileSystem = await damaged(hotRun, flips);
      const store = await openStore(STORE, { fileSystem });
      const compacted = await store.compact().then(() => undefined, (error: unknown) => error);
      await store.close();
      expect(compacted, JSON.stringify(flips)).toBeInstanceOf(CorruptionError);
      expect((compacted as CorruptionError).file).toContain(fileName(hotRun));
      const outcome = await openAndRead(fileSystem, built);
      expect(outcome.kind, JSON.stringify(flips)).toBe('corruption');
    }
  });
});

describe('backup of a store with a damaged block', () => {
  for (const link of [false, true]) {
    it(`one flip (link ${link}): the backup's runs carry no damage: restored, every block checks`, async () => {
      const random = seeded(13);
      const pages = [...blockBytePages(built.image.get(coldRun) as Uint8Array).values()];
      for (let trial = 0; trial < 3; trial++) {
        const offsets = pages[(trial * 2) % pages.length] as number[];
        const flip = { offset: offsets[Math.floor(random() * offsets.length)] as number, bit: (trial * 3) % 8 };
        const fileSystem = await damaged(coldRun, [flip]);
        const store = await openStore(STORE, { fileSystem });
        await store.backup('/backup', { link });
        await store.close();
        expect((await verifyBackup('/backup', { fileSystem })).ok).toBe(true);
        await restoreBackup('/backup', '/restored', { fileSystem });
        const report = await verifyStore('/restored', { fileSystem });
        expect(report.runs.problems, JSON.stringify(flip)).toEqual([]);
        const restored = await openStore('/restored', { fileSystem });
        await readEverything(restored, built);
        await restored.close();
      }
    });
  }

  it('beyond any rebuild: the backup fails with CorruptionError naming the run and writes no BACKUP.json', async () => {
    const random = seeded(17);
    for (let trial = 0; trial < 3; trial++) {
      const flips = unrecoverable(random);
      const fileSystem = await damaged(hotRun, flips);
      const store = await openStore(STORE, { fileSystem });
      const result = await store.backup('/backup', { link: false }).then(() => undefined, (error: unknown) => error);
      await store.close();
      expect(result, JSON.stringify(flips)).toBeInstanceOf(CorruptionError);
      expect((result as CorruptionError).file).toContain(fileName(hotRun));
      expect(await fileSystem.exists('/backup/BACKUP.json')).toBe(false);
    }
  });
});
