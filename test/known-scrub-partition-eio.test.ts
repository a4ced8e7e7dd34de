/**
 * A one-off EIO on the scrub pass's read of an index partition (after the partition's
 * block passed its own step). The pass re-checked the block, found it readable, and
 * added nothing, but it also skipped every data block of that partition and the parity
 * of the stripes they span: scrub and verify reported a clean run of which they had not
 * checked a part (verify said ok; store.scrub's blocksChecked fell short). The partition
 * is now read again and its data blocks checked as usual; if that read fails too, the
 * partition is a finding.
 *
 * Every run read of a pass is failed once, in turn: each pass must either report a
 * finding or check as many bytes as a clean pass.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { BlockCache } from '../src/run/block-cache.js';
import { RunReader } from '../src/run/run-reader.js';
import { writeRun } from '../src/run/run-writer.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import type { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { freshFileSystem, RUNS_DIRECTORY, simpleEntries } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

async function pass(fileSystem: FaultFileSystem, descriptor: RunDescriptor, repair: boolean): Promise<{ bytes: number; findings: number }> {
  const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
  let bytes = 0;
  let findings = 0;
  try {
    for await (const step of reader.scrub(repair)) {
      bytes += step.bytes;
      findings += step.findings.length;
    }
  } finally {
    await reader.close();
  }
  return { bytes, findings };
}

describe('scrub: a one-off EIO reading an index partition', () => {
  for (const repair of [false, true]) {
    it(`every read failed once in turn (repair ${repair}): a finding, or every byte checked`, async () => {
      const fileSystem = await freshFileSystem();
      const descriptor = await writeRun({ fileSystem, runsDirectory: RUNS_DIRECTORY, runId: 1, generation: 3, level: 1, hash, entries: simpleEntries(3_000, 1, 40) });
      const clean = await pass(fileSystem, descriptor, repair);
      expect(clean.findings).toBe(0);
      let fired = 0;
      for (let nth = 1; ; nth++) {
        // The reader's own open reads come first: the fault is armed after the open.
        const reader = await RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024), { repair: false });
        const fault = fileSystem.injectFault({ operation: 'read', error: 'EIO', path: /\.run$/, nth });
        let bytes = 0;
        let findings = 0;
        for await (const step of reader.scrub(repair)) {
          bytes += step.bytes;
          findings += step.findings.length;
        }
        await reader.close();
        fault.remove();
        if (fault.triggeredCount === 0) break;
        fired++;
        if (findings === 0) expect(bytes, `read ${nth}: no finding, so every byte checked`).toBe(clean.bytes);
      }
      expect(fired).toBeGreaterThan(5);
    });
  }
});
