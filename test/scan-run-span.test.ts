/**
 * A scan opens only the runs whose key span (held by the manifest) meets its range:
 * a clean reopen reads no run file, even though open scans the lease key space, and
 * a scan of one prefix opens the one run that holds it.
 */
import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { spanOverlaps } from '../src/engine/merged-scan.js';

/** Counts the run files opened or read through `fileSystem`. */
function countRunOpens(fileSystem: FaultFileSystem): { opened: string[] } {
  const counter = { opened: [] as string[] };
  const open = fileSystem.open.bind(fileSystem);
  const readFile = fileSystem.readFile.bind(fileSystem);
  fileSystem.open = (path, mode) => {
    if (path.includes('/runs/')) counter.opened.push(path);
    return open(path, mode);
  };
  fileSystem.readFile = (path) => {
    if (path.includes('/runs/')) counter.opened.push(path);
    return readFile(path);
  };
  return counter;
}

describe('scans and run key spans', () => {
  it('spanOverlaps follows each bound, inclusive and exclusive', () => {
    expect(spanOverlaps({}, 'b', 'd')).toBe(true);
    expect(spanOverlaps({ gte: 'd' }, 'b', 'd')).toBe(true);
    expect(spanOverlaps({ gt: 'd' }, 'b', 'd')).toBe(false);
    expect(spanOverlaps({ lte: 'b' }, 'b', 'd')).toBe(true);
    expect(spanOverlaps({ lt: 'b' }, 'b', 'd')).toBe(false);
    expect(spanOverlaps({ gte: 'a', lt: 'c' }, 'b', 'd')).toBe(true);
    expect(spanOverlaps({ gte: 'e' }, 'b', 'd')).toBe(false);
    expect(spanOverlaps({ lt: 'a' }, 'b', 'd')).toBe(false);
  });

  it('a reopen reads no run file; a prefix scan opens only the run holding the prefix', async () => {
    let fileSystem = new FaultFileSystem(7);
    const store = await openStore('/db', { fileSystem });
    for (const prefix of ['a', 'b', 'c']) {
      await store.batch(Array.from({ length: 200 }, (_, index) => ({ type: 'put' as const, key: `${prefix}-${String(index).padStart(4, '0')}`, value: index })));
      await store.checkpoint(); // one run per prefix, with disjoint key spans
    }
    expect(store.stats().storage.runs).toBe(3);
    await store.close();

    fileSystem = fileSystem.crash('keep-all');
    const counter = countRunOpens(fileSystem);
    const reopened = await openStore('/db', { fileSystem });
    expect(counter.opened).toEqual([]);
    const keys: string[] = [];
    for await (const [key] of reopened.scan({ gte: 'b', lt: 'c' })) keys.push(String(key));
    expect(keys).toHaveLength(200);
    expect(keys[0]).toBe('b-0000');
    expect(new Set(counter.opened).size).toBe(1);
    // Every run is still read when the range spans them all.
    let count = 0;
    for await (const _ of reopened.scan({})) count++;
    expect(count).toBe(600);
    expect(new Set(counter.opened).size).toBe(3);
    await reopened.close();
  });
});
