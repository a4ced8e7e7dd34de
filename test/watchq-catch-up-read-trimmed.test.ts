/**
 * A catch-up batch reads each change's value back at its exact version (src/watch/
 * catch-up-read.ts). In a memtable chain that per-key retention trimmed after the index
 * pass saw the change, the read is VersionNotRetainedError naming the key and the oldest
 * version kept, never the slot of another version (an "as of" read would give the next
 * older entry, or nothing) and never a change skipped. A delete reads back as a delete.
 */
import { describe, expect, it } from 'vitest';
import { VersionNotRetainedError } from '../src/errors.js';
import type { ReadView } from '../src/engine/read-view.js';
import { MemoryIndex } from '../src/memory/memory-index.js';
import { TOMBSTONE } from '../src/memory/version-chain.js';
import { readBatch } from '../src/watch/catch-up-read.js';

const noTurns = (): undefined => undefined;
const nameKey = (key: string): string => key;

describe('a catch-up batch read from a memtable', () => {
  it('reads each version exactly, deletes included, and refuses a version trimmed since', async () => {
    const memtable = new MemoryIndex(2);
    memtable.apply(1, [{ key: 'a', slot: 'a1' }, { key: 'b', slot: 'b1' }], 1);
    memtable.apply(2, [{ key: 'a', slot: TOMBSTONE }], 2);
    const view = { memtables: [memtable], runs: [] } as unknown as ReadView;
    const batch = [{ version: 1, key: 'a', source: 0 }, { version: 1, key: 'b', source: 0 }, { version: 2, key: 'a', source: 0 }];
    expect(await readBatch(view, batch, 0, nameKey, noTurns)).toEqual(['a1', 'b1', TOMBSTONE]);
    // A commit after the pass: 'a' keeps two versions, version 1 goes.
    memtable.apply(3, [{ key: 'a', slot: 'a3' }], 3);
    expect(memtable.chain('a')!.trimmedBelow).toBe(2);
    const refused = await readBatch(view, batch, 0, nameKey, noTurns).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(VersionNotRetainedError);
    expect(refused).toMatchObject({ version: 0, oldestRetained: 2, key: 'a' });
    // The versions still held read as before.
    expect(await readBatch(view, batch.slice(1), 1, nameKey, noTurns)).toEqual(['b1', TOMBSTONE]);
  });
});
