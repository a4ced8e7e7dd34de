/**
 * The fixed run layouts of the read probes (run-probe, view-probe): `runCount` runs written
 * once into `directory`, run r holding the key indexes r, r + runCount, ... below
 * runCount * keysPerRun (as a random-order load leaves its flushes: every run over the whole
 * key space), each at version r + 1. The descriptors are kept in the directory, so later
 * passes read the same files without writing them again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { NodeFileSystem } from '../../src/fs/node-file-system.js';
import type { RunDescriptor, RunEntry } from '../../src/run/run-descriptor.js';
import { writeRun } from '../../src/run/run-writer.js';
import type { Hash64 } from '../../src/wal/wal-format.js';

const DESCRIPTORS_FILE = 'descriptors.json';

async function writeLayout(
  directory: string, hash: Hash64, runCount: number, keysPerRun: number, keyOf: (index: number) => string, value: Uint8Array,
): Promise<RunDescriptor[]> {
  const fileSystem = new NodeFileSystem();
  const descriptors: RunDescriptor[] = [];
  for (let run = 0; run < runCount; run++) {
    const keys: string[] = [];
    for (let index = run; index < runCount * keysPerRun; index += runCount) keys.push(keyOf(index));
    keys.sort();
    const entries: RunEntry[] = keys.map((key) => ({ key, version: run + 1, value }));
    descriptors.push(await writeRun({ fileSystem, runsDirectory: directory, runId: run + 1, generation: 1, level: 0, hash, entries }));
  }
  return descriptors;
}

/** The layout's descriptors: read from `directory`, or the runs written there first. */
export async function loadOrWriteLayout(
  directory: string, hash: Hash64, runCount: number, keysPerRun: number, keyOf: (index: number) => string, value: Uint8Array,
): Promise<RunDescriptor[]> {
  const descriptorsPath = `${directory}/${DESCRIPTORS_FILE}`;
  if (!existsSync(descriptorsPath)) {
    mkdirSync(directory, { recursive: true });
    writeFileSync(descriptorsPath, JSON.stringify(await writeLayout(directory, hash, runCount, keysPerRun, keyOf, value)));
  }
  const descriptors = JSON.parse(readFileSync(descriptorsPath, 'utf8')) as RunDescriptor[];
  if (descriptors.length !== runCount) throw new Error(`${directory} holds ${descriptors.length} runs, not ${runCount}: use another directory`);
  return descriptors;
}
