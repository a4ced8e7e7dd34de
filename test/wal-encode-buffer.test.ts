/**
 * The WAL writer's encoding buffer does not keep the size of an outsized record
 * (issue 7, peak RSS while loading): a 100,000-operation batch encoded to about
 * 14 MiB and the writer held that buffer for the life of the store. After such a
 * record is written the buffer is back to WAL_ENCODE_BUFFER_BYTES_INITIAL, and the
 * record itself is on disk intact (read back through the recovery decoder's path:
 * the store reopens with every key).
 */
import { describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { openStore } from '../src/index.js';
import { abandonStore } from '../src/store/store.js';
import { WAL_ENCODE_BUFFER_BYTES_INITIAL, WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX } from '../src/limits.js';
import { createSegment } from '../src/wal/segment-files.js';
import { COMMIT_HEADER_BYTES, OPERATION_PUT, operationsSizeBytes, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, type EncodableOperation } from '../src/wal/wal-format.js';
import { WalWriter } from '../src/wal/wal-writer.js';

const MEBIBYTE = 1024 * 1024;

function commitOf(version: number, operationCount: number, valueBytes: number) {
  const value = new Uint8Array(valueBytes).fill(version & 0xff);
  const operations: EncodableOperation[] = [];
  for (let index = 0; index < operationCount; index++) operations.push({ type: OPERATION_PUT, key: `key-${version}-${index}`, value });
  return { version, operations, sizeBytes: COMMIT_HEADER_BYTES + operationsSizeBytes(operations) };
}

describe('WAL encode buffer', () => {
  it('drops a buffer grown for an outsized record once the record is written, keeps a small one', async () => {
    const fileSystem = new FaultFileSystem();
    await fileSystem.mkdir('/wal');
    const hash = await loadHash64();
    const segmentSizeBytes = 16 * MEBIBYTE;
    const created = await createSegment(fileSystem, '/wal', 1, segmentSizeBytes, hash);
    const writer = new WalWriter({ fileSystem, walDir: '/wal', hash, segmentSizeBytes }, { ...created, offset: SEGMENT_HEADER_BYTES });
    expect(writer.encodeBufferBytes).toBe(WAL_ENCODE_BUFFER_BYTES_INITIAL);

    const small = commitOf(1, 100, 100); // ~13 KiB: fits the first buffer
    await writer.writeGroup([small]);
    expect(writer.encodeBufferBytes).toBe(WAL_ENCODE_BUFFER_BYTES_INITIAL);

    const large = commitOf(2, 20_000, 100); // ~2.5 MiB: over what the writer keeps
    expect(large.sizeBytes).toBeGreaterThan(WAL_ENCODE_BUFFER_BYTES_RETAINED_MAX);
    const result = await writer.writeGroup([large]);
    expect(result.commitCount).toBe(1);
    expect(writer.encodeBufferBytes).toBe(WAL_ENCODE_BUFFER_BYTES_INITIAL);

    // The next small record still encodes correctly into the fresh buffer.
    const last = commitOf(3, 10, 100);
    await writer.writeGroup([last]);
    expect(writer.stats().bytesWritten).toBe(3 * RECORD_HEADER_BYTES + small.sizeBytes + large.sizeBytes + last.sizeBytes);
    await writer.close();
  });

  it('a store reopens with every key of a batch larger than the retained buffer, and of the small commits after it', async () => {
    const fileSystem = new FaultFileSystem();
    const store = await openStore('/store', { fileSystem });
    const operations = Array.from({ length: 20_000 }, (_, index) => ({ type: 'put' as const, key: `bulk-${index}`, value: new Uint8Array(100).fill(index & 0xff) }));
    await store.batch(operations);
    await store.put('after', 'small');
    const image = fileSystem.crash('drop-unsynced');
    store[abandonStore](); // the process 'died': its lock goes with it
    const reopened = await openStore('/store', { fileSystem: image });
    expect(await reopened.get('after')).toBe('small');
    for (const index of [0, 1, 9_999, 19_999]) expect(await reopened.get(`bulk-${index}`)).toEqual(new Uint8Array(100).fill(index & 0xff));
    await reopened.close();
  });
});
