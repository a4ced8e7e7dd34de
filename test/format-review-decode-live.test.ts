/**
 * The bytes of a store that is open (copied as a crash would leave them), of a repair and
 * of a close after many manifest edits, decoded by the decoder written from docs/FORMAT.md
 * alone: WAL segments of 64 KiB then doubling, the lock not released, the version marker
 * repair writes where the kept log ends (one commit of no operations holding the highest
 * dropped version), and the manifest rewritten to one record by close().
 */
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { decodeStoreDirectory } from './format-review-decoder.js';
import { loadHash } from './format-review-hash.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

beforeAll(loadHash);
afterEach(removeTemporaryDirectories);

describe('docs/FORMAT.md read alone decodes a live store, a repair and a rewrite at close', () => {
  it('a live store\'s WAL grows from 64 KiB by doubling; repair\'s version marker and a close after 16 edits are as documented', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory);
    for (let index = 0; index < 1100; index++) await store.put(`live-${String(index).padStart(5, '0')}`, 'v'.repeat(100));
    const copy = temporaryDirectory();
    cpSync(directory, copy, { recursive: true }); // the files of a store that is open (as a crash leaves them)
    for (let edit = 0; edit < 17; edit++) { await store.put(`edit-${edit}`, edit); await store.checkpoint(); }
    await store.close();

    const problems: string[] = [];
    const live = decodeStoreDirectory(copy, problems)!;
    expect(problems).toEqual([]);
    expect(live.lock?.released).toBe(false);
    const sizes = live.segments.map((segment) => segment.size);
    expect(sizes.slice(0, 2)).toEqual([65_536, 131_072]); // the first segment, then doubling
    expect(live.segments.flatMap((segment) => segment.commits).length).toBe(1100);

    // after 17 checkpoints (an edit each) the close rewrote the manifest: one full-state record
    const closed = decodeStoreDirectory(directory, problems)!;
    expect(problems).toEqual([]);
    expect([closed.manifest.records, closed.manifest.generation > 1]).toEqual([1, true]);

    // repair: a damaged record in the middle of the first segment; the kept prefix ends with a version marker
    const first = join(copy, 'wal', readdirSync(join(copy, 'wal')).sort()[0]!);
    const bytes = readFileSync(first);
    bytes.writeUInt8(bytes.readUInt8(64 + 32 * 160 + 100) ^ 0xff, 64 + 32 * 160 + 100);
    writeFileSync(first, bytes);
    const repaired = await openStore(copy, { repair: true, checkpointOnClose: false });
    const dropped = repaired.stats().recovery.repair;
    expect(dropped).toBeDefined();
    await repaired.close();
    const after = decodeStoreDirectory(copy, problems)!;
    expect(problems).toEqual([]);
    const commits = after.segments.flatMap((segment) => segment.commits);
    const marker = commits.at(-1)!;
    expect(marker.operations).toEqual([]);
    expect(marker.version).toBe(1100); // the highest dropped version
    expect(after.segments.at(-1)!.recordCommits.at(-1)).toBe(1);
  });
});
