/**
 * The entries of the format-2 run fixture (test/fixtures/run-v2/): made with run
 * format 2 (commit a66742a) by writeRun with runId 7, generation 424242, level 1,
 * stripeDataPages 4. Deterministic: test/run-format-v2-fixture.test.ts reads the
 * fixture back and compares it with these entries. openV2Fixture copies the fixture
 * file into a fresh fault-injecting file system and opens it.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor, RunEntry } from '../src/run/run-descriptor.js';
import { RunReader } from '../src/run/run-reader.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { freshFileSystem, RUNS_DIRECTORY } from './run-helpers.js';

/** The format-2 fixture run, copied into a fresh file system and opened with a 1 MiB block cache. */
export async function openV2Fixture(hash: Hash64): Promise<RunReader> {
  const descriptor = JSON.parse(readFileSync('test/fixtures/run-v2/descriptor.json', 'utf8')) as RunDescriptor;
  const fileSystem = await freshFileSystem();
  const handle = await fileSystem.open(`${RUNS_DIRECTORY}/${descriptor.fileName}`, 'createExclusive');
  await handle.write(readFileSync(`test/fixtures/run-v2/${descriptor.fileName}`), 0);
  await handle.datasync();
  await handle.close();
  return RunReader.open(fileSystem, RUNS_DIRECTORY, descriptor, hash, new BlockCache(1024 * 1024));
}

/** 300 keys; every 10th key has 12 versions (spanning blocks), every 7th version a tombstone; one value larger than a page. */
export function fixtureEntries(): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let key = 0; key < 300; key++) {
    const versionCount = key % 10 === 0 ? 12 : 1;
    for (let version = versionCount; version >= 1; version--) {
      const valueBytes = key === 150 && version === 1 ? 9000 : 40;
      const value = Buffer.alloc(valueBytes, (key * 31 + version) % 251);
      entries.push({ key: `fixture-${String(key).padStart(5, '0')}`, version: key * 100 + version, value: (key + version) % 7 === 0 ? undefined : value });
    }
  }
  return entries;
}
