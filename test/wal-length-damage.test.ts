/**
 * A flipped bit in a WAL record's length field (docs/FORMAT.md, "Records"). The damaged
 * record's header still looks plausible and claims an extent over the records after
 * it; the resync search starts past that extent (a torn record's own value may hold
 * record images), so before the structural check in wal-recovery.ts the acknowledged
 * records inside the claimed extent were zeroed as a "torn tail" and the store opened
 * without them. Now the payload's structure says where the record really ends, a valid
 * record there means damage, and the open is refused naming the file and offset.
 */
import { describe, expect, it } from 'vitest';
import { CorruptionError, ErrorCode } from '../src/errors.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import type { Store } from '../src/store/store.js';
import { openOn, scanAll, segmentPath } from './workload.js';

const SEGMENT_HEADER_BYTES = 64;
const RECORD_HEADER_BYTES = 32;

function durable(fileSystem: FaultFileSystem, path: string): Uint8Array {
  const content = fileSystem.durableContent(path);
  if (content === undefined) throw new Error(`${path} is not durable`);
  return content;
}

/** Offsets and lengths of a clean segment's records, by their length fields. */
function recordExtents(image: Uint8Array): Array<{ offset: number; lengthBytes: number }> {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const records: Array<{ offset: number; lengthBytes: number }> = [];
  let offset = SEGMENT_HEADER_BYTES;
  while (offset + RECORD_HEADER_BYTES <= image.length && image.subarray(offset, offset + RECORD_HEADER_BYTES).some((byte) => byte !== 0)) {
    const lengthBytes = RECORD_HEADER_BYTES + view.getUint32(offset + 12, true);
    records.push({ offset, lengthBytes });
    offset += lengthBytes;
  }
  return records;
}

async function storeOf(count: number): Promise<FaultFileSystem> {
  const fileSystem = new FaultFileSystem(71);
  const store = await openOn(fileSystem);
  for (let index = 0; index < count; index++) await store.put(`k${String(index).padStart(3, '0')}`, { index, pad: 'p'.repeat(10) });
  await store.close();
  return fileSystem;
}

describe('a flipped bit in a WAL record length field', () => {
  for (const bit of [8, 9, 10]) {
    it(`bit ${bit} of the length of the fourth-last record: the open is refused (CorruptionError at that record), not a torn tail over the last three acknowledged records`, async () => {
      const fileSystem = await storeOf(12);
      const path = segmentPath(1);
      const records = recordExtents(durable(fileSystem, path));
      expect(records).toHaveLength(12);
      const target = records[records.length - 4]!;
      const lastEnd = records[records.length - 1]!.offset + records[records.length - 1]!.lengthBytes;
      // The flip makes the length claim past every later record, still inside the segment.
      expect(target.offset + target.lengthBytes + (1 << bit)).toBeGreaterThan(lastEnd);
      expect(target.offset + target.lengthBytes + (1 << bit)).toBeLessThan(durable(fileSystem, path).length);
      expect((target.lengthBytes - RECORD_HEADER_BYTES) & (1 << bit)).toBe(0);
      fileSystem.flipBit(path, target.offset + 12 + (bit >> 3), bit & 7);
      const before = durable(fileSystem, path).slice();

      const outcome = await openOn(fileSystem).catch((error: unknown) => error);
      if (!(outcome instanceof CorruptionError)) {
        const store = outcome as Store;
        const keys = (await scanAll(store)).size;
        await store.close();
        throw new Error(`expected CorruptionError, opened with ${keys} of 12 keys`);
      }
      expect(outcome.code).toBe(ErrorCode.Corruption);
      expect(outcome).toMatchObject({ file: path, offset: target.offset });
      // Refused, not repaired: the acknowledged records are still on disk for `repair` or an operator.
      expect(Buffer.from(durable(fileSystem, path)).equals(Buffer.from(before))).toBe(true);
    });
  }

  it('a torn last record (its tail never written) is still an ordinary torn tail: the open keeps every earlier record', async () => {
    const fileSystem = await storeOf(12);
    const path = segmentPath(1);
    const records = recordExtents(durable(fileSystem, path));
    const last = records[records.length - 1]!;
    // Zero the last record's second half, as a write that never reached the disk.
    const image = durable(fileSystem, path);
    const half = last.offset + Math.floor(last.lengthBytes / 2);
    for (let offset = half; offset < last.offset + last.lengthBytes; offset++) {
      for (let bit = 0; bit < 8; bit++) if ((image[offset]! >> bit) & 1) fileSystem.flipBit(path, offset, bit);
    }
    const store = await openOn(fileSystem);
    try {
      expect((await scanAll(store)).size).toBe(11);
    } finally {
      await store.close();
    }
  });
});
