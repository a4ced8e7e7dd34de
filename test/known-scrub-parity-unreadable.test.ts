/**
 * A stripe's parity page that cannot be read (EIO: a bad sector) was reported by verify
 * and scrub without repair as "parity page differs from the XOR of the stripe": the
 * whole-stripe read failed, the data pages were read one by one, the parity page never
 * was (left zeros) and was compared as zeros. The operator was told the parity is stale
 * when it is unreadable. The finding now says the parity page is unreadable and why;
 * scrub with repair still rebuilds it from the stripe's checked data and writes it back.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { joinPath } from '../src/fs/file-system.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';
import { BadSectorFileSystem } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

describe('a stripe whose parity page cannot be read', () => {
  it('verify names it unreadable (not stale); scrub with repair rebuilds it', async () => {
    const inner = await freshFileSystem();
    const descriptor = await writeRun({ fileSystem: inner, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 3, level: 1, hash, entries: simpleEntries(3_000, 1, 40) });
    const probe = await RunReader.open(inner, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
    const stripeDataPages = probe.footer.stripeDataPages;
    await probe.close();
    const parityPhysical = stripeDataPages * RUN_PAGE_BYTES; // stripe 0: its data pages, then its parity page
    const fileSystem = new BadSectorFileSystem(inner);
    fileSystem.markBad(joinPath(RUNS_DIRECTORY, descriptor.fileName), parityPhysical, parityPhysical + RUN_PAGE_BYTES);

    const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
    const { problems } = await reader.verify();
    expect(problems).toHaveLength(1);
    expect(problems[0]!.reason).toMatch(/^parity \(stripe 0\): parity page unreadable \(.*EIO/);
    const repairing = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: true });
    const findings = [];
    for await (const step of repairing.scrub(true)) findings.push(...step.findings);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: 'parity', stripe: 0, outcome: 'repaired' });
    expect(findings[0]!.reason).toMatch(/parity page unreadable/);
    await repairing.close();
    await reader.close();
  });
});
