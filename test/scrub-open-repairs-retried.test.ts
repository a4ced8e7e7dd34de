/**
 * A scrub reports an open's repairs once (eb0e9a1): RunHandle kept every repair made
 * while its reader was unset, across opens, so a run whose open repaired a block and
 * then failed (a later metadata read of the same open beyond repair) carried that
 * repair into every later open: each later scrub that opened the run again reported the
 * first open's repair as its own (the block, rewritten then, was sound), and
 * stats().storage.scrub.repaired counted it once per scrub. Now each open starts with
 * no repairs of its own.
 *
 * The run is the format-2 fixture (index and filter read at open, stripes of 4 data
 * pages: the index is logical page 12, the filter 13, both in stripe 3; physical pages
 * 15 and 16, the stripe's parity 19). The index page is damaged on disk, and once the
 * first write was made (the index's rewrite) the disk fails every read of the filter
 * page and of the stripe's parity (EIO): the open rebuilds and rewrites the index, then
 * cannot read or rebuild the filter and fails.
 */
import { Buffer } from 'node:buffer';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { RunHandle } from '../src/engine/run-set.js';
import { fileSystemError, type FileHandle } from '../src/fs/file-system.js';
import { NodeFileSystem } from '../src/fs/node-file-system.js';
import { BlockCache } from '../src/run/block-cache.js';
import type { RunDescriptor } from '../src/run/run-descriptor.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { scrubRuns } from '../src/stripe/scrub.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { ForwardingFileSystem, replaceMethods } from './support/file-system-wrappers.js';

const INDEX_PHYSICAL_PAGE = 15;
const FAILING_PAGES = [16, 19]; // the filter, the stripe's parity

/** Once anything was written, reads touching FAILING_PAGES fail EIO (no readSync: every read comes here). */
class FailingAfterWriteFileSystem extends ForwardingFileSystem {
  written = false;
  protected wrapHandle(handle: FileHandle, path: string): FileHandle {
    return replaceMethods(handle, {
      write: async (data, position) => {
        await handle.write(data, position);
        this.written = true;
      },
      read: async (buffer, offset, length, position) => {
        const first = Math.floor(position / RUN_PAGE_BYTES);
        const last = Math.floor((position + length - 1) / RUN_PAGE_BYTES);
        if (this.written && FAILING_PAGES.some((page) => page >= first && page <= last)) throw fileSystemError('EIO', 'read', path);
        return handle.read(buffer, offset, length, position);
      },
    });
  }
}

let hash: Hash64;
beforeAll(async () => {
  hash = await loadHash64();
});
afterEach(() => removeTemporaryDirectories());

describe('scrub: an open that repaired a block and then failed', () => {
  it('its repair is reported by the scrub that made it, not again by the next scrub that opens the run', async () => {
    const descriptor = JSON.parse(readFileSync('test/fixtures/run-v2/descriptor.json', 'utf8')) as RunDescriptor;
    const runsDirectory = join(temporaryDirectory(), 'runs');
    mkdirSync(runsDirectory);
    const runFile = join(runsDirectory, descriptor.fileName);
    copyFileSync(join('test/fixtures/run-v2', descriptor.fileName), runFile);
    const original = readFileSync(runFile);
    const damaged = Buffer.from(original);
    damaged.fill(0x5a, INDEX_PHYSICAL_PAGE * RUN_PAGE_BYTES + 100, INDEX_PHYSICAL_PAGE * RUN_PAGE_BYTES + 200);
    writeFileSync(runFile, damaged);

    const fileSystem = new FailingAfterWriteFileSystem(new NodeFileSystem());
    const repairs: unknown[] = [];
    const run = new RunHandle({ fileSystem, runsDirectory, hash, cache: new BlockCache(1024 * 1024), onRepair: (event) => repairs.push(event) }, descriptor);

    const first = await scrubRuns([run]);
    expect(repairs, 'the open rebuilt the index').toHaveLength(1);
    expect(readFileSync(runFile).equals(original), 'and rewrote it').toBe(true);
    expect(run.opened, 'the filter could not be read: the open failed').toBe(false);
    expect(first.repaired).toHaveLength(1);
    expect(first.repaired[0]).toMatchObject({ kind: 'index', logicalOffset: 12 * RUN_PAGE_BYTES, stripe: 3, outcome: 'repaired' });
    expect(first.unrecoverable).toHaveLength(1);

    // The next scrub opens the run again: the index is sound now, nothing is repaired.
    const second = await scrubRuns([run]);
    expect(repairs, 'no block was rebuilt again').toHaveLength(1);
    expect(second.unrecoverable).toHaveLength(1);
    expect(second.repaired, 'the first open\'s repair is not reported again').toEqual([]);
  });
});
