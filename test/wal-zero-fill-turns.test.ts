/**
 * The WAL's zero fill ahead (src/wal/zero-fill-ahead.ts) keeps ahead of a single writer
 * whose commits never hand the event loop a turn (issue 12). With syncMode 'adaptive'
 * on a quiet machine, a lone awaited writer's fdatasync runs inline: every step of its
 * commit is a settled promise, and the loop turns only now and then (a thread-pool
 * probe every 128th commit). A fill step that waited for a turn of the loop between its
 * 256 KiB zero chunks (segment-files.ts zeroFillRange) besides its own I/O completions
 * was overtaken by 4 KiB records: 22 of 32 fill steps in a run of 20,000 puts, each
 * record then waiting for the rest of the fill in the foreground (ensureFilled).
 *
 * Here the file system is in memory (FaultFileSystem: no I/O completion needs a turn),
 * so a fill step that needs none either finishes between two commits; the writer
 * writes 8 MiB of 4 KiB records (past the 4 MiB filled at creation, several fill steps)
 * back to back, and the loop must not have turned meanwhile. Then every record is
 * recovered from a crash image that drops unsynced writes.
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { WAL_ZERO_FILL_AHEAD_BYTES } from '../src/limits.js';
import { createSegment } from '../src/wal/segment-files.js';
import { recoverWal } from '../src/wal/wal-recovery.js';
import { COMMIT_HEADER_BYTES, type EncodableOperation, OPERATION_PUT, operationsSizeBytes, SEGMENT_HEADER_BYTES } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const KIBIBYTE = 1024;
const MEBIBYTE = 1024 * KIBIBYTE;
const WAL_DIR = '/wal';
const SEGMENT_BYTES = 16 * MEBIBYTE;
const RECORD_VALUE_BYTES = 4 * KIBIBYTE;
const COMMITS = (8 * MEBIBYTE) / RECORD_VALUE_BYTES;

function commitOf(version: number) {
  const operations: EncodableOperation[] = [{ type: OPERATION_PUT, key: `key-${version}`, value: new Uint8Array(RECORD_VALUE_BYTES).fill((version % 250) + 1) }];
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

describe('WAL zero fill ahead of a writer that never yields', () => {
  it('fills ahead between commits: 8 MiB of 4 KiB records back to back without a turn of the event loop', async () => {
    expect(COMMITS * RECORD_VALUE_BYTES).toBeGreaterThan(WAL_ZERO_FILL_AHEAD_BYTES);
    const fileSystem = new FaultFileSystem();
    const hash = await loadHash64();
    await fileSystem.mkdir(WAL_DIR);
    await fileSystem.syncDirectory('/');
    const first = await createSegment(fileSystem, WAL_DIR, 1, SEGMENT_BYTES, hash);
    const writer = new WalWriter({ fileSystem, walDir: WAL_DIR, hash, segmentSizeBytes: SEGMENT_BYTES }, { ...first, offset: SEGMENT_HEADER_BYTES });

    let turns = 0;
    const turned = setImmediate(() => turns++);
    for (let version = 1; version <= COMMITS; version++) await writer.writeGroup([commitOf(version)], undefined, true);
    const turnsDuringWrites = turns;
    clearImmediate(turned);
    expect(turnsDuringWrites).toBe(0);
    expect(writer.stats().segmentNumber).toBe(1);
    await writer.close();

    const versions: number[] = [];
    await recoverWal(fileSystem.crash('drop-unsynced'), WAL_DIR, hash, false, (commits) => {
      for (const commit of commits) versions.push(commit.version);
    });
    expect(versions).toEqual(Array.from({ length: COMMITS }, (_, index) => index + 1));
  });
});
