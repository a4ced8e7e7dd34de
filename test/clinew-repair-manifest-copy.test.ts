/**
 * `ladybug repair` on a store whose manifest copy has a flipped byte that no crash explains
 * (a bad checksum at its full-state record, which the chain goes on past). `verify` names the
 * copy and the offset and exits 1; but `repair --dry-run` also exited 1 while saying only
 * "repair --dry-run: nothing to drop from the WAL", its report without the damage that made it
 * fail, and `repair` then rewrote the copy from its twin and titled its report "repair: nothing
 * to repair". The dry run now lists the manifest's problems (file and offset) in its title and
 * report before anything is changed, and repair's title says it repaired the record from the other copy.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { buildCli, ladybug } from './support/cli-runner.js';
import { treeBytes } from './cli-review-support.js';

beforeAll(buildCli, 120_000);
afterEach(removeTemporaryDirectories);

/** A store of one run whose first manifest copy has one byte of its full-state record flipped; the copy's path. */
async function storeWithFlippedManifestByte(): Promise<{ directory: string; copy: string }> {
  const directory = temporaryDirectory();
  const store = await openStore(directory);
  for (let index = 0; index < 100; index++) await store.put(`k${index}`, `value ${index}`);
  await store.close();
  const name = readdirSync(join(directory, 'manifest')).filter((entry) => entry.endsWith('.a')).sort().at(-1)!;
  const copy = join(directory, 'manifest', name);
  const bytes = readFileSync(copy);
  bytes[20] = bytes[20]! ^ 0x40; // inside the first record's body: its checksum no longer matches
  writeFileSync(copy, bytes);
  return { directory, copy };
}

describe('ladybug repair of a manifest copy with a flipped byte', () => {
  it('verify and repair --dry-run name the copy and offset (exit 1, nothing changed); repair says it repaired it', async () => {
    const { directory, copy } = await storeWithFlippedManifestByte();
    const before = treeBytes(directory);

    const verified = await ladybug('verify', directory);
    expect(verified.code, verified.stderr).toBe(1);
    expect(verified.stdout).toContain(`${copy}: record at offset 0`);

    const dry = await ladybug('repair', directory, '--dry-run');
    expect(dry.code, dry.stderr).toBe(1);
    const title = dry.stdout.split('\n')[0]!;
    expect(title).toMatch(/^repair --dry-run: nothing to drop from the WAL; 1 damaged manifest record \(repair's open rewrites a damaged copy from the other\)$/);
    expect(dry.stdout).toContain(`${copy}: record at offset 0`);
    const dryJson = await ladybug('repair', directory, '--dry-run', '--json');
    expect(dryJson.code, dryJson.stderr).toBe(1);
    const report = JSON.parse(dryJson.stdout) as { manifestProblems: string[] };
    expect(report.manifestProblems).toHaveLength(1);
    expect(report.manifestProblems[0]).toContain(`${copy}: record at offset 0`);
    expect(treeBytes(directory), 'verify or the dry run changed files').toEqual(before);

    const repaired = await ladybug('repair', directory);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout.split('\n')[0]).toBe('repair: repaired 1 damaged manifest record from the other copy');
    const after = await ladybug('verify', directory, '--json');
    expect(after.code, after.stdout).toBe(0);
    const got = await ladybug('get', directory, 'k42', '--json');
    expect(JSON.parse(got.stdout)).toMatchObject({ found: true, value: 'value 42' });
  });
});
