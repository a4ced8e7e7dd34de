/**
 * GrowableBytes: the byte content of one in-memory file (part of FaultFileSystem,
 * src/fs/fault-file-system.ts).
 *
 * Invariants
 * - `sizeBytes` is the file's length; every byte of the backing array at or past
 *   `sizeBytes` is zero, so growing the file (a write past the end, an extending
 *   truncate) exposes zeros, as a sparse file would.
 * - Capacity only grows (by doubling, at least 64 bytes); shrinking zero-fills.
 * - `view()` aliases the backing array: callers copy it (`slice()`) before the
 *   next change if they keep it.
 */

/** A byte array that grows by doubling. Bytes past `sizeBytes` are always zero. */
export class GrowableBytes {
  private bytes: Uint8Array;
  private lengthBytes: number;

  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.bytes = initial.slice();
    this.lengthBytes = initial.length;
  }

  get sizeBytes(): number {
    return this.lengthBytes;
  }

  /** A live view of the content; valid until the next change. */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.lengthBytes);
  }

  copy(): GrowableBytes {
    return new GrowableBytes(this.view());
  }

  /** Writes `data` at `position`, zero-filling any gap; an empty write changes nothing. */
  write(data: Uint8Array, position: number): void {
    if (data.length === 0) return;
    const endBytes = position + data.length;
    this.ensureCapacity(endBytes);
    this.bytes.set(data, position);
    this.lengthBytes = Math.max(this.lengthBytes, endBytes);
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.lengthBytes) {
      this.bytes.fill(0, sizeBytes, this.lengthBytes);
    } else {
      this.ensureCapacity(sizeBytes);
    }
    this.lengthBytes = sizeBytes;
  }

  read(target: Uint8Array, targetOffset: number, length: number, position: number): number {
    const count = Math.max(0, Math.min(length, this.lengthBytes - position));
    target.set(this.bytes.subarray(position, position + count), targetOffset);
    return count;
  }

  /** Flips one bit if `byteOffset` is inside the content; returns whether it did. */
  flipBit(byteOffset: number, bit: number): boolean {
    if (byteOffset >= this.lengthBytes) return false;
    this.bytes[byteOffset] = (this.bytes[byteOffset] ?? 0) ^ (1 << bit);
    return true;
  }

  private ensureCapacity(requiredBytes: number): void {
    if (requiredBytes <= this.bytes.length) return;
    const capacityBytes = Math.max(requiredBytes, this.bytes.length * 2, 64);
    const grown = new Uint8Array(capacityBytes);
    grown.set(this.view());
    this.bytes = grown;
  }
}
