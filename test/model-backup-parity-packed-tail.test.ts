/**
 * A scrub puts back the zeros after a packed (format 6) run's last data block rather than
 * fold a damaged byte there into the stripe's parity. No block check covers those bytes
 * (docs/FORMAT.md: the rest of the last data block's page is zeros), so the parity step
 * found the stripe's parity stale and rewrote it over the damaged byte: the file then
 * differed from what was written in two pages, and a hard-linked backup sharing it could
 * no longer be restored (one damaged page parity rebuilt became two). Found by the
 * backup/parity model test (seed 28: a byte flipped there, scrub 'repaired' the parity).
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { MEMORY_BUDGET_BYTES_MIN } from '../src/limits.js';
import { verifyStore } from '../src/store/verify-store.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { runLayout } from './model-backup-parity-damage.js';

const options = (fileSystem: FaultFileSystem) => ({ fileSystem, memoryBudgetBytes: MEMORY_BUDGET_BYTES_MIN });

describe('scrub of a packed run with a damaged byte after its last data block', () => {
  it('puts the zero back: the file is as written, and a second scrub finds nothing', async () => {
    const fileSystem = new FaultFileSystem(28);
    let store = await openStore('/db', options(fileSystem));
    // Two full compactions: the second merges the first's tier-1 run into tier 2, the cold (packed) tier.
    for (let round = 0; round < 8; round++) {
      await store.batch(Array.from({ length: 200 }, (_, index) => ({ type: 'put' as const, key: `m/${String(index).padStart(3, '0')}`, value: { round, index, text: 'b'.repeat(100 + index) } })));
      await store.checkpoint();
      if (round % 4 === 3) await store.compact();
    }
    await store.close();
    const runs = (await fileSystem.readdir('/db/runs')).filter((name) => name.endsWith('.run')).map((name) => `/db/runs/${name}`);
    const packed = [];
    for (const path of runs) if (runLayout(await fileSystem.readFile(path))?.formatVersion === 6) packed.push(path);
    expect(packed.length, 'a packed run').toBeGreaterThan(0);
    const file = packed[0]!;
    const original = Buffer.from(await fileSystem.readFile(file));
    const layout = runLayout(original)!;
    // A byte no block covers: a zero at the end of a page below the index whose flip verify sees only as stale parity.
    let uncovered: number | undefined;
    for (let logical = 1; logical * RUN_PAGE_BYTES <= layout.indexOffset && uncovered === undefined; logical++) {
      const physical = (Math.floor((logical - 1) / layout.stripeDataPages) * (layout.stripeDataPages + 1) + ((logical - 1) % layout.stripeDataPages)) * RUN_PAGE_BYTES + RUN_PAGE_BYTES - 1;
      if (original[physical] !== 0) continue;
      fileSystem.flipBit(file, physical, 0);
      const report = await verifyStore('/db', { fileSystem });
      if (report.runs.problems.length === 1 && report.runs.problems[0]!.reason.includes('parity page differs')) uncovered = physical;
      fileSystem.flipBit(file, physical, 0);
    }
    expect(uncovered, 'a byte no block check covers').toBeDefined();
    fileSystem.flipBit(file, uncovered!, 0);
    store = await openStore('/db', options(fileSystem));
    try {
      await store.scrub();
      expect(Buffer.from(await fileSystem.readFile(file)).equals(original), 'the run as written after the scrub').toBe(true);
      const second = await store.scrub();
      expect([second.repaired, second.unrecoverable]).toEqual([[], []]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
