/**
 * Review of scrub's parity step (src/run/run-parity-scrub.ts, RunParityScrubber#scrub): the parity page of a
 * stripe may be rewritten only from stripe bytes that every block of the stripe passes its
 * check in. It was computed from the stripe as read in the parity step, checked against
 * nothing, after the block steps had checked each block in an earlier read: so a data page
 * that is bad in that read was XORed into the parity, and the one copy that could rebuild it
 * was overwritten. Two ways to get there, both tried at every logical page of the run:
 * - the page goes bad after its block's step and before its stripe's parity step (a scrub of
 *   a large run at 32 MiB/s reads the blocks for minutes before the parities);
 * - the block's step rebuilt it from parity but writing the page back failed (one EIO on the
 *   write): the step reported it "rebuilt from parity and rewritten", the page stayed bad.
 * Before the fix, both left a block that no read could rebuild (CorruptionError, every value
 * of the block lost) after a scrub that reported only repairs. Now the parity step rebuilds
 * the block again and writes it back, or leaves the parity as it is: verify is clean after the
 * scrub, every read is exact, and a flushed run's file ends byte for byte as written.
 */
import { Buffer } from 'node:buffer';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import { scrubRuns } from '../src/stripe/scrub.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { drain, freshFileSystem, modelScan, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';
import { overwriteDurably, runPath } from './stripe-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const STRIPE_WIDTH = 8;

/** Entries that deflate about 3:1, so the packed run spans several stripes. */
function jsonEntries(count: number): RunEntry[] {
  return Array.from({ length: count }, (_, index) => ({
    key: `user-${String(index).padStart(8, '0')}`,
    version: index + 1,
    value: index % 41 === 40 ? undefined : Buffer.from(JSON.stringify({ id: index, name: `user-${index}`, score: (index * 7919) % 100003, tag: ((index * 2654435761) >>> 0).toString(36) })),
  }));
}
const BAD_PAGE = Buffer.alloc(RUN_PAGE_BYTES, 0x5a);

interface Written { fileSystem: FaultFileSystem; descriptor: RunDescriptor; original: Buffer; sorted: RunEntry[]; logicalPages: number }

async function written(compression: 'none' | 'deflate'): Promise<Written> {
  const sorted = compression === 'none' ? simpleEntries(1500, 1, 40) : jsonEntries(6000);
  const fileSystem = await freshFileSystem();
  const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 7, level: 3, hash, entries: sorted, stripeDataPages: STRIPE_WIDTH, compression });
  const original = Buffer.from(await fileSystem.readFile(runPath(descriptor)));
  const reader = await open(fileSystem, descriptor);
  const logicalPages = (reader.footer.filterOffset + reader.footer.filterLength) / RUN_PAGE_BYTES;
  expect(reader.stripeCount).toBeGreaterThanOrEqual(3);
  await reader.close();
  return { fileSystem, descriptor, original, sorted, logicalPages };
}

const open = (fileSystem: FaultFileSystem, descriptor: RunDescriptor) => RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(0));
const physicalOffset = (logicalPage: number) => (Math.floor(logicalPage / STRIPE_WIDTH) * (STRIPE_WIDTH + 1) + (logicalPage % STRIPE_WIDTH)) * RUN_PAGE_BYTES;

/**
 * A fresh reader over the file as it is now: 'exact' if verify (no writes) finds nothing and the
 * whole run reads back exactly, else what differs (or the error's message).
 */
async function readBack(run: Written): Promise<string> {
  const reader = await open(run.fileSystem, run.descriptor);
  try {
    const { problems } = await reader.verify();
    if (problems.length > 0) return `verify: ${problems.map((problem) => `${problem.offset} ${problem.reason}`).join('; ').slice(0, 160)}`;
    const scanned = await drain(await reader.cursor({}, false));
    return JSON.stringify(scanned) === JSON.stringify(modelScan(run.sorted, {}, false)) ? 'exact' : 'different';
  } catch (error) {
    return (error as Error).message.slice(0, 160);
  } finally {
    await reader.close();
  }
}

for (const compression of ['none', 'deflate'] as const) {
  describe(`${compression === 'none' ? 'flushed (format 5)' : 'packed cold (format 6)'} run`, () => {
    it('a page gone bad between its block\'s step and its stripe\'s parity step: verify clean, reads exact, a flushed run\'s file as written', async () => {
      const run = await written(compression);
      const path = runPath(run.descriptor);
      const probe = await open(run.fileSystem, run.descriptor);
      let steps = 0;
      for await (const _step of probe.scrub(false)) steps++;
      const blockSteps = steps - probe.stripeCount;
      await probe.close();
      const outcomes: string[] = [];
      for (let page = 0; page < run.logicalPages; page++) {
        const reader = await open(run.fileSystem, run.descriptor);
        let done = 0;
        const scrub = reader.scrub.bind(reader);
        // The damage lands after the last block step, before the first parity step.
        reader.scrub = (repair: boolean) => (async function* () {
          for await (const step of scrub(repair)) {
            yield step;
            if (++done === blockSteps) await overwriteDurably(run.fileSystem, path, BAD_PAGE, physicalOffset(page));
          }
        })();
        const report = await scrubRuns([{ descriptor: run.descriptor, reader: () => reader }]);
        await reader.close();
        const exact = await readBack(run);
        // Every byte of a flushed run is under a check; a packed run's zero tail after its last
        // data block is not, and is left as found (docs/FORMAT.md, "Packed data blocks").
        const same = compression === 'deflate' || Buffer.from(await run.fileSystem.readFile(path)).equals(run.original);
        if (exact !== 'exact' || !same || report.unrecoverable.length > 0) outcomes.push(`page ${page}: ${exact}, file as written ${same}, unrecoverable ${report.unrecoverable.length}`);
        await overwriteDurably(run.fileSystem, path, run.original, 0);
      }
      expect(outcomes).toEqual([]);
    });

    it('a block whose rebuilt page could not be written back (one EIO): verify clean, reads exact, a flushed run\'s file as written, the report says so', async () => {
      const run = await written(compression);
      const path = runPath(run.descriptor);
      const outcomes: string[] = [];
      for (let page = 0; page < run.logicalPages; page++) {
        await overwriteDurably(run.fileSystem, path, BAD_PAGE, physicalOffset(page));
        const reader = await open(run.fileSystem, run.descriptor);
        const fault = run.fileSystem.injectFault({ operation: 'write', error: 'EIO', path });
        const report = await scrubRuns([{ descriptor: run.descriptor, reader: () => reader }]);
        fault.remove();
        await reader.close();
        const exact = await readBack(run);
        // Every byte of a flushed run is under a check; a packed run's zero tail after its last
        // data block is not, and is left as found (docs/FORMAT.md, "Packed data blocks").
        const same = compression === 'deflate' || Buffer.from(await run.fileSystem.readFile(path)).equals(run.original);
        const claimsRewritten = fault.triggeredCount === 1 && report.repaired.some((location) => location.kind !== 'parity' && location.reason === 'rebuilt from parity and rewritten')
          && !report.repaired.some((location) => location.kind !== 'parity' && location.reason.includes('writing it back failed'));
        if (exact !== 'exact' || !same || claimsRewritten) outcomes.push(`page ${page}: ${exact}, file as written ${same}, a failed rewrite reported as rewritten ${claimsRewritten}`);
        await overwriteDurably(run.fileSystem, path, run.original, 0);
      }
      expect(outcomes).toEqual([]);
    });
  });
}
