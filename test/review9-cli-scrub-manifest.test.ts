/**
 * Review (review9): `ladybug scrub` on a closed store with one damaged manifest copy.
 * The command opens the store, and the open rewrites the damaged copy from its twin
 * before the scrub runs, so the scrub found both copies whole and printed "scrub: ok"
 * with nothing in `repaired`: the command that exists to find damage at rest hid it
 * (store.scrub() on a store open since before the damage does report it). The open's
 * manifest repairs (stats().recovery.manifest.repaired) are now reported in the
 * command's `repaired` (kind 'manifest', reason 'at open: ...'); an intact store still
 * scrubs ok.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

interface Report { repaired: Array<{ kind: string; reason: string }>; unrecoverable: unknown[] }

async function closedStore(): Promise<string> {
  const directory = temporaryDirectory();
  const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024 });
  for (let index = 0; index < 300; index++) await store.put(`key-${index}`, index);
  await store.close();
  return directory;
}

describe('ladybug scrub and a damaged manifest copy', () => {
  it('reports the copy its open rewrote from the twin as repaired', async () => {
    const directory = await closedStore();
    const copies = readdirSync(join(directory, 'manifest')).filter((name) => /^MANIFEST-\d+\.[ab]$/.test(name)).sort();
    const copyA = join(directory, 'manifest', copies[0] as string);
    const bytes = readFileSync(copyA);
    for (let index = 0; index < 8; index++) bytes[index] = (bytes[index] as number) ^ 0xff;
    writeFileSync(copyA, bytes);
    const result = await ladybug('scrub', directory, '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    const manifest = report.repaired.filter((found) => found.kind === 'manifest');
    expect(manifest).toHaveLength(1);
    expect(manifest[0]?.reason).toMatch(/^at open: .*MANIFEST-\d+\.a/);
    const text = await ladybug('scrub', directory);
    expect(text.stdout).toMatch(/^scrub: ok/); // repaired by the first scrub's open: whole now
  });

  it('an intact store: scrub ok, nothing repaired', async () => {
    const directory = await closedStore();
    const result = await ladybug('scrub', directory, '--json');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Report).repaired).toEqual([]);
  });
});
