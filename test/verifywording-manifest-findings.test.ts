/**
 * What verify and an open say about a damaged manifest copy. Verify writes nothing, yet it
 * listed a copy's bad record as "repaired from the other copy" (the finding's text was the
 * open's, written in the past tense of a repair that verify never makes), and a torn last
 * edit as "dropped". The finding now says what is there: the record is damaged and whole in
 * the other copy, or torn; the open, which does rewrite the copy, lists the same finding
 * under stats().recovery.manifest.repaired, and verify is clean after it.
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { verifyStore } from '../src/store/verify-store.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

/** A closed store of 200 keys and two checkpoints; the paths of its two manifest copies. */
async function closedStore(): Promise<{ directory: string; copies: string[] }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 200; index++) await store.put(`k${index}`, index);
  await store.checkpoint();
  await store.put('z', 1);
  await store.checkpoint();
  await store.close();
  const copies = readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort()
    .map((name) => join(directory, 'manifest', name));
  expect(copies).toHaveLength(2);
  return { directory, copies };
}

describe('manifest findings say what is there, not what a repair did', () => {
  it('a damaged record in copy a: verify says damaged and whole in the other copy, changes nothing; the open repairs it and lists the same finding', async () => {
    const { directory, copies } = await closedStore();
    const copyA = copies[0] as string;
    const bytes = readFileSync(copyA);
    bytes[40] = (bytes[40] as number) ^ 0xff;
    writeFileSync(copyA, bytes);

    const report = await verifyStore(directory);
    expect(report.ok).toBe(false);
    const problems = report.manifest?.problems ?? [];
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(copyA);
    expect(problems[0]).toMatch(/record at offset 0 damaged \(.+\), whole in the other copy/);
    expect(problems[0]).not.toMatch(/repaired|dropped/);
    expect(readFileSync(copyA).equals(bytes)).toBe(true);

    const store = await openStore(directory);
    try {
      expect(store.stats().recovery.manifest.repaired).toEqual(problems);
      expect(await store.get('k7')).toBe(7);
    } finally {
      await store.close();
    }
    expect((await verifyStore(directory)).ok).toBe(true);
  });

  it('a torn last edit in copy b (an append a crash cut short): verify stays ok; the open lists it as torn, not read', async () => {
    const { directory, copies } = await closedStore();
    const copyB = copies[1] as string;
    appendFileSync(copyB, Buffer.alloc(24, 0x5a));

    const report = await verifyStore(directory);
    expect(report.ok).toBe(true);
    expect(report.manifest?.truncatedTail).toBe(true);

    const store = await openStore(directory);
    try {
      const repaired = store.stats().recovery.manifest.repaired;
      expect(repaired).toHaveLength(1);
      expect(repaired[0]).toContain(copyB);
      expect(repaired[0]).toMatch(/torn record at offset \d+ \(.+\), an append a crash cut short: not read/);
      expect(repaired[0]).not.toMatch(/dropped/);
      expect(await store.get('z')).toBe(1);
    } finally {
      await store.close();
    }
  });
});
