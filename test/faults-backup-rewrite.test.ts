/**
 * Fault review of the backup's run check (take-backup.ts checkRunCopy): a block of the
 * store's run that fails its checksum is rebuilt from parity in the backup's file
 * (in place: the copy, or the store's own file when linked) and the backup's checksum
 * is then taken of the file as it reads. When writing the rebuilt page back fails (EIO
 * on the write, or on its datasync), the scrub still reports the block 'repaired'
 * (reads answer exact from the rebuilt bytes) while the page on disk stays bad.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { restoreBackup, verifyBackup } from '../src/backup/restore-backup.js';
import { isLadybugError } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { Manifest } from '../src/manifest/manifest.js';
import { openStore } from '../src/index.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { RunReader } from '../src/run/run-reader.js';

const KEYS = 300;
const keyOf = (index: number) => `key-${String(index).padStart(5, '0')}`;
const valueOf = (index: number) => ({ index, text: 'v'.repeat(100) });

/** A store with one run whose second page (a data block) has one bit flipped on disk. */
async function storeWithDamagedRun(): Promise<{ fileSystem: FaultFileSystem; runName: string }> {
  const fileSystem = new FaultFileSystem(3);
  const store = await openStore('/db', { fileSystem });
  for (let index = 0; index < KEYS; index++) await store.put(keyOf(index), valueOf(index));
  await store.close();
  const [runName] = await fileSystem.readdir('/db/runs');
  fileSystem.flipBit(`/db/runs/${runName!}`, RUN_PAGE_BYTES + 100, 2);
  return { fileSystem, runName: runName! };
}

/** The findings a scrub without repair reports for the run file `runsDirectory/runName` (the backup's manifest's descriptor). */
async function findingsOf(fileSystem: FaultFileSystem, directory: string, runName: string): Promise<string[]> {
  const hash = await loadHash64();
  const manifest = await Manifest.inspect(fileSystem, directory, hash);
  const run = manifest.state.runs.find((candidate) => candidate.fileName === runName)!;
  const reader = await RunReader.open(fileSystem, `${directory}/runs`, run, hash, new BlockCache(0), { repair: false });
  const findings: string[] = [];
  try {
    for await (const step of reader.scrub(false)) for (const finding of step.findings) findings.push(`${finding.kind} at ${finding.logicalOffset}: ${finding.outcome}`);
  } finally {
    await reader.close();
  }
  return findings;
}

describe('a backup whose rebuilt run page cannot be written back', () => {
  for (const link of [false, true]) {
    for (const operation of ['write', 'datasync'] as const) {
      it(`${operation} EIO on the write-back (${link ? 'linked' : 'copied'}): the backup is not certified with a bad block, power loss or not`, async () => {
        const { fileSystem, runName } = await storeWithDamagedRun();
        const store = await openStore('/db', { fileSystem });
        // The write-back opens the run file by its final name (the copy was written under .tmp).
        const path = link ? new RegExp(`/runs/${runName}$`) : `/backup/runs/${runName}`;
        const fault = fileSystem.injectFault({ operation, error: 'EIO', path, persistent: true });
        const outcome = await store.backup('/backup', { link }).then(() => 'resolved', (error: unknown) => error);
        fault.remove();
        await store.close();
        expect(fault.triggeredCount).toBeGreaterThan(0);
        if (outcome === 'resolved') {
          // A resolved backup certifies its run: the run must pass every check, now and after a power loss.
          expect(await findingsOf(fileSystem, '/backup', runName)).toEqual([]);
        } else {
          // Refused typed; an I/O failure is not reported as damage of the store's run.
          expect(isLadybugError(outcome), String(outcome)).toBe(true);
        }
        const rebooted = fileSystem.crash('drop-unsynced');
        const report = await verifyBackup(rebooted, '/backup');
        if (outcome === 'resolved') {
          // Resolved means durable: after a power loss the backup is as it certified, not damaged.
          expect(report.problems).toEqual([]);
          await restoreBackup(rebooted, '/backup', '/restored');
          const restored = await openStore('/restored', { fileSystem: rebooted });
          for (let index = 0; index < KEYS; index++) expect(await restored.get(keyOf(index))).toEqual(valueOf(index));
          await restored.close();
        } else {
          expect(report.ok).toBe(false);
        }
      }, 60_000);
    }
  }
});
