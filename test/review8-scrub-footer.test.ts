/**
 * Review of scrub and the run footer (src/run/run-scrub.ts #scrubFooter). The footer is in
 * no stripe (its checksum is in the manifest); an open run reader decoded it once and never
 * reads it again, and scrub read only the striped blocks. So a footer gone bad under a
 * running store was reported by no scrub (background or store.scrub(): clean, 0 findings),
 * and the next open could not open the run: every key whose newest version lives there a
 * CorruptionError. Now scrub checks the footer page against the manifest's checksum and,
 * damaged, rebuilds it from the open reader's decoded copy, writing it back only if the
 * rebuilt page's checksum is the manifest's (so it is byte for byte the page as written).
 * Tried on every run of the review store (flushed format 5 and packed cold format 6): one
 * flipped bit in each field of the footer, the page zeroed, an older generation's footer,
 * and the file cut before its footer (one page short), each after the store opened the run.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { loadHash64 } from '../src/codec/checksum.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { Manifest } from '../src/manifest/manifest.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { scrubRuns } from '../src/stripe/scrub.js';
import { overwriteDurably } from './stripe-helpers.js';
import { buildStore, type BuiltStore, fileName, fileSystemOf, openAndRead, readEverything, STORE } from './review-runs-helpers.js';

let built: BuiltStore;
beforeAll(async () => {
  built = await buildStore();
});

type Damage = (fileSystem: FaultFileSystem, path: string, original: Uint8Array) => Promise<void>;
const footerOf = (bytes: Uint8Array) => bytes.length - RUN_PAGE_BYTES;
/** Footer fields: checksum, magic, version, generation, run id, level, K, index offset, compression, entry count, smallest key. */
const FIELD_OFFSETS = [0, 8, 16, 20, 24, 32, 36, 40, 52, 88, 130, 2500];
const DAMAGES: Record<string, Damage> = {
  ...Object.fromEntries(FIELD_OFFSETS.map((at) => [`bit flip at footer byte ${at}`, async (fileSystem: FaultFileSystem, path: string, original: Uint8Array) => {
    const position = footerOf(original) + at;
    await overwriteDurably(fileSystem, path, Uint8Array.of(original[position]! ^ 0x10), position);
  }])),
  'footer page zeroed': async (fileSystem, path, original) => {
    await overwriteDurably(fileSystem, path, new Uint8Array(RUN_PAGE_BYTES), footerOf(original));
  },
  "another run's footer (another generation)": async (fileSystem, path, original) => {
    const other = built.runFiles.find((candidate) => candidate !== path && built.image.get(candidate)!.length === original.length)
      ?? built.runFiles.find((candidate) => candidate !== path)!;
    const bytes = built.image.get(other)!;
    await overwriteDurably(fileSystem, path, bytes.subarray(footerOf(bytes)), footerOf(original));
  },
  'file cut before its footer': async (fileSystem, path, original) => {
    const handle = await fileSystem.open(path, 'readWrite');
    await handle.truncate(footerOf(original));
    await handle.datasync();
    await handle.close();
  },
};

describe('a run footer damaged under an open store', () => {
  it('scrub finds it and rewrites it from the open reader; the next open reads every key exactly', async () => {
    const failures: string[] = [];
    let tried = 0;
    for (const path of built.runFiles) {
      for (const [name, damage] of Object.entries(DAMAGES)) {
        const fileSystem = await fileSystemOf(built.image);
        const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
        // Every run opened (its footer decoded) before the damage.
        await readEverything(store, built);
        await damage(fileSystem, path, built.image.get(path)!);
        const warnings: string[] = [];
        const onWarning = (warning: Error) => warnings.push(warning.message);
        process.on('warning', onWarning);
        const report = await store.scrub();
        await new Promise((resolve) => setImmediate(resolve));
        process.off('warning', onWarning);
        await store.close();
        tried++;
        const label = `${fileName(path)} (tier ${built.tiers.get(path)}), ${name}`;
        const found = report.repaired.filter((location) => location.file.endsWith(fileName(path)) && location.logicalOffset === footerOf(built.image.get(path)!));
        if (found.some((location) => location.kind !== 'footer')) failures.push(`${label}: the repaired footer is reported as ${found.map((location) => location.kind).join(', ')}`);
        if (found.length !== 1 || report.unrecoverable.length > 0) failures.push(`${label}: scrub repaired ${found.length} footer(s), unrecoverable ${report.unrecoverable.length}`);
        if (!warnings.some((message) => message.includes(`the footer of run`) && message.includes(fileName(path)) && message.includes('rewritten in place'))) failures.push(`${label}: no LADYBUG_BLOCK_REPAIRED warning naming the footer (${warnings.join('; ').slice(0, 160)})`);
        const now = await fileSystem.readFile(path);
        if (!Buffer.from(now).equals(Buffer.from(built.image.get(path)!))) failures.push(`${label}: the file is not as written after the scrub`);
        const outcome = await openAndRead(fileSystem, built);
        if (outcome.kind !== 'exact') failures.push(`${label}: reopen ${outcome.kind} ${outcome.kind === 'corruption' ? outcome.error.message.slice(0, 100) : outcome.kind === 'wrong' ? outcome.message : ''}`);
      }
    }
    expect(tried).toBe(built.runFiles.length * Object.keys(DAMAGES).length);
    expect(failures).toEqual([]);
  });

  it('verify (scrub without repair) names the damaged footer and writes nothing', async () => {
    const path = built.runFiles[0]!;
    const fileSystem = await fileSystemOf(built.image);
    const hash = await loadHash64();
    const descriptor = (await Manifest.inspect(fileSystem, STORE, hash)).state.runs.find((run) => path.endsWith(run.fileName))!;
    // A reader opened before the damage.
    const reader = await RunReader.open(fileSystem, `${STORE}/runs`, descriptor, hash, new BlockCache(0));
    await DAMAGES['footer page zeroed']!(fileSystem, path, built.image.get(path)!);
    const damaged = Buffer.from(await fileSystem.readFile(path));
    const report = await scrubRuns([{ descriptor, reader: () => reader }], { repair: false });
    const verified = await reader.verify();
    await reader.close();
    expect(report.damaged.map((location) => location.logicalOffset)).toEqual([footerOf(damaged)]);
    // Named as the footer, not as an index block (scrub labelled it 'index' before 2026-12-03).
    expect(report.damaged[0]?.kind).toBe('footer');
    expect(report.damaged[0]?.keys).toMatchObject({ known: false, reason: expect.stringContaining('footer') });
    expect(verified.problems.map((problem) => problem.offset)).toEqual([footerOf(damaged)]);
    expect(Buffer.from(await fileSystem.readFile(path)).equals(damaged)).toBe(true);
  });

  it('a crash at every operation of the scrub that rewrites it, in every crash mode: the reopened store is exact, or refuses the run naming it until the rewrite was durable', async () => {
    const path = built.runFiles.find((candidate) => built.tiers.get(candidate) === 3) ?? built.runFiles[0]!;
    const modes = ['drop-unsynced', 'random-subset', 'torn-last-write', 'keep-all'] as const;
    const failures: string[] = [];
    // Operations from the damage to the end of the scrub (the footer's rewrite is the scrub's only write here).
    const measure = await fileSystemOf(built.image);
    const measuring = await openStore(STORE, { fileSystem: measure, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
    await readEverything(measuring, built);
    await DAMAGES['footer page zeroed']!(measure, path, built.image.get(path)!);
    const before = measure.operationCount;
    await measuring.scrub();
    const operations = measure.operationCount - before;
    await measuring.close();
    for (const mode of modes) {
      for (let k = 0; k <= operations; k++) {
        const fileSystem = await fileSystemOf(built.image);
        const store = await openStore(STORE, { fileSystem, memoryBudgetBytes: 32 * 1024 * 1024, checkpointOnClose: false });
        await readEverything(store, built);
        await DAMAGES['footer page zeroed']!(fileSystem, path, built.image.get(path)!);
        fileSystem.crashAfterOperations(k);
        const scrubbed = await store.scrub().then(() => true, () => false);
        await store.close().catch(() => undefined);
        store[abandonStore]();
        const outcome = await openAndRead(fileSystem.crash(mode), built);
        const label = `${mode}, crash after ${k} of ${operations} operations`;
        if (outcome.kind === 'wrong') failures.push(`${label}: ${outcome.message}`);
        else if (outcome.kind === 'corruption' && (scrubbed || !outcome.error.file.endsWith(fileName(path)))) failures.push(`${label}: ${outcome.error.message.slice(0, 100)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
