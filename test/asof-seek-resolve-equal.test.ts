/**
 * A run's point read that seeks (RunPointLookup.pointVersions with seekVersion) hands
 * out fewer entries than the key's whole history in the run, but what resolve.ts makes
 * of them is the same, with maxVersionsPerKey unbounded: get's answer or its
 * VersionNotRetainedError (a retention marker's error names the entry just above it).
 * History does not seek: a marker above its versions (up to its reference version)
 * ends its list, which a seek past the marker would lose (checked here too). One key with 3,000 versions in ~90 blocks,
 * some deletes and many markers; as of every version.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { prepareValue, readStored } from '../src/codec/values.js';
import { NOT_RETAINED_BYTE, resolveHistory, resolveSlot } from '../src/engine/resolve.js';
import type { RunEntry } from '../src/run/run-descriptor.js';
import { isCutShort } from '../src/run/run-point-read.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { runOrder, writeAndOpen } from './run-helpers.js';

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});

const VERSIONS = 3_000;

function entriesOfKey(): RunEntry[] {
  const entries: RunEntry[] = [];
  for (let index = 0; index < VERSIONS; index++) {
    const version = 100 + index * 3;
    let value: Uint8Array | undefined = prepareValue(`${'v'.repeat(100)}${index}`, 1024).encoded;
    if (index % 13 === 5) value = undefined;
    if (index % 7 === 3) value = Uint8Array.of(NOT_RETAINED_BYTE);
    entries.push({ key: 'm', version, value });
  }
  entries.push({ key: 'a', version: 50, value: prepareValue('a', 64).encoded }, { key: 'z', version: 51, value: prepareValue('z', 64).encoded });
  return runOrder(entries);
}

/** resolveSlot's outcome, comparable: the value read, 'deleted', 'absent' or the error's message. */
function outcome(entries: readonly RunEntry[], version: number, pinFloor: number): unknown {
  try {
    const slot = resolveSlot([{ entries }], { version, referenceVersion: version, pinFloor, maxVersionsPerKey: Infinity });
    return slot === undefined ? 'absent' : typeof slot === 'symbol' ? 'deleted' : readStored(slot);
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

function listed(entries: readonly RunEntry[], upTo: number, reference: number, limit: number, floor: number): Array<[number, boolean]> {
  return resolveHistory([{ entries }], upTo, reference, Infinity, Infinity, limit, floor).map((entry) => [entry.version, typeof entry.slot === 'symbol']);
}

describe('a seeking point read resolves as the whole history does', () => {
  it('get, with markers, deletes and pinned readers; history would not', async () => {
    const { reader } = await writeAndOpen(hash, entriesOfKey(), { cacheBytes: 64 * 1024 });
    const whole = await reader.pointVersions('m');
    expect(whole.length).toBe(VERSIONS);
    let skipped = 0;
    let historyDiffers = 0;
    const newest = 100 + (VERSIONS - 1) * 3;
    // Every version (they are 3 apart from 100 on), and the one after each.
    for (let version = 97; version <= newest + 3; version += 3) {
      for (const asOf of [version, version + 1]) {
        const seeked = await reader.pointVersions('m', undefined, asOf, 1, asOf);
        if (seeked.length < whole.length / 2) skipped++;
        expect(isCutShort(seeked) || seeked.length === whole.length, `as of ${asOf}`).toBe(true);
        // The entry just above the answer is handed out (what a marker's error names).
        const answer = whole.findIndex((entry) => entry.version <= asOf);
        if (answer > 0) expect(seeked.map((entry) => entry.version), `as of ${asOf}`).toContain(whole[answer - 1]!.version);
        for (const pinFloor of [Infinity, asOf - 40]) expect(outcome(seeked, asOf, pinFloor), `get as of ${asOf}`).toEqual(outcome(whole, asOf, pinFloor));
      }
      // History up to the version with a reference above it, from a seeked read: differs where a marker lies between the two (the whole list stops there).
      const found = await reader.pointVersions('m', undefined, version, Infinity, version);
      if (JSON.stringify(listed(found, version, version + 20, Infinity, 0)) !== JSON.stringify(listed(whole, version, version + 20, Infinity, 0))) historyDiffers++;
    }
    // Most reads left blocks out; a seeking history would list what the whole one does not.
    expect(skipped).toBeGreaterThan(VERSIONS * 2 * 0.8);
    expect(historyDiffers).toBeGreaterThan(0);
  }, 30_000);
});
