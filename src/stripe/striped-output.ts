/**
 * StripedOutput: sequential writes of pages through one handle, laid out in
 * stripes of K data pages plus one XOR parity page (src/stripe/stripe-layout.ts).
 *
 * Bytes are appended at increasing *logical* offsets. They are copied into a chunk
 * buffer that holds whole physical stripes; when a stripe's K data pages are full,
 * its parity page is computed from those very bytes in the chunk, and the chunk is
 * handed to the file system as it is. Nothing changes the chunk between the parity
 * computation and the write (appends wait for the write), so the parity on disk is
 * always the XOR of exactly the data written beside it: seed race 5 (parity
 * computed after the data lock was released, from bytes that had changed since)
 * cannot happen. Stripes are written whole and never rewritten by the writer, so
 * there is no read-modify-write and no write hole.
 *
 * finish() pads the last stripe with zero pages, writes it, and returns the
 * physical end of the striped area (where the footer goes).
 *
 * Invariants: memory is one chunk (about `chunkBytes`, at least one stripe); the
 * logical offset is page-aligned except after a packed append (padToPage ends the
 * page with zeros); a page's first append that does not fill it zeroes the rest, and
 * finish() zeroes the pages never appended, so no earlier bytes of the chunk (its
 * previous stripes', or a previous run's) reach a written stripe.
 *
 * A `StripedChunkHolder` lets one owner that writes one run at a time (the flush and
 * merge threads) keep the chunk across runs (issue 7): taken from the holder when its
 * size fits, given back by a finish(); a run that fails keeps it, and the next one
 * allocates. A new chunk per run was 1 MiB of ArrayBuffer freed only at the thread's
 * next full collection.
 */
import { Buffer } from 'node:buffer';
import type { FileHandle } from '../fs/file-system.js';
import { assert } from '../util/assert.js';
import { computeParity } from './parity.js';
import type { StripeLayout } from './stripe-layout.js';

/** Where an owner keeps a StripedOutput chunk between its runs (see the header). */
export interface StripedChunkHolder {
  chunk: Buffer | undefined;
}

export class StripedOutput {
  readonly #handle: FileHandle;
  readonly #layout: StripeLayout;
  readonly #chunk: Buffer;
  readonly #stripesPerChunk: number;
  /** Stripe number of the chunk's first stripe. */
  #chunkFirstStripe = 0;
  /** Logical bytes appended so far. */
  #logicalBytes = 0;
  #finished = false;
  /** Physical bytes handed to the file system (the striped area's size once finished). */
  #physicalBytesWritten = 0;
  readonly #holder: StripedChunkHolder | undefined;

  constructor(handle: FileHandle, layout: StripeLayout, chunkBytes: number, holder?: StripedChunkHolder) {
    this.#handle = handle;
    this.#layout = layout;
    this.#stripesPerChunk = Math.max(1, Math.floor(chunkBytes / layout.stripeBytes));
    const bytes = this.#stripesPerChunk * layout.stripeBytes;
    const kept = holder?.chunk;
    if (holder !== undefined && kept !== undefined && kept.length === bytes) {
      holder.chunk = undefined; // this run's until finish() gives it back
      this.#chunk = kept;
    } else {
      this.#chunk = Buffer.alloc(bytes);
    }
    this.#holder = holder;
  }

  /** Logical offset the next appended byte lands at. */
  get offset(): number {
    return this.#logicalBytes;
  }

  /**
   * Appends `bytes` (copied; the caller may reuse `bytes` once this returns undefined
   * or its promise resolves). Blocks of page-aligned runs are whole pages; the packed
   * data blocks of a compressed run (run format 4) are any length, so a page may hold
   * the end of one block and the start of the next. A stripe is sealed (its parity
   * computed) when its last data page is full. Returns a promise only when the chunk
   * is full and has to be written first: a flush of 4 KiB values appends a block per
   * entry, and an async call per append was a promise and a frame of garbage each.
   */
  append(bytes: Uint8Array): Promise<void> | undefined {
    assert(!this.#finished, 'append after finish');
    assert(bytes.length > 0, 'appends are not empty');
    const copied = this.#copy(bytes, 0);
    return copied === bytes.length ? undefined : this.#appendAfterWrites(bytes, copied);
  }

  /** The rest of an append from `start`, writing the chunk whenever it is full. */
  async #appendAfterWrites(bytes: Uint8Array, start: number): Promise<void> {
    let copied = start;
    while (copied < bytes.length) {
      await this.#flush();
      const before = copied;
      copied = this.#copy(bytes, copied);
      assert(copied > before, 'a written chunk makes room for the next page');
    }
  }

  /** Copies `bytes` from `start` into the chunk until they end or the chunk is full; returns where it stopped. */
  #copy(bytes: Uint8Array, start: number): number {
    const pageBytes = this.#layout.pageBytes;
    while (start < bytes.length) {
      const logicalPage = Math.floor(this.#logicalBytes / pageBytes);
      const inPage = this.#logicalBytes - logicalPage * pageBytes;
      const count = Math.min(bytes.length - start, pageBytes - inPage);
      const stripe = this.#layout.stripeOfLogicalPage(logicalPage);
      if (stripe >= this.#chunkFirstStripe + this.#stripesPerChunk) return start;
      const slot = (stripe - this.#chunkFirstStripe) * this.#layout.stripeBytes + (logicalPage % this.#layout.stripeDataPages) * pageBytes + inPage;
      if (inPage === 0 && count < pageBytes) this.#chunk.fill(0, slot, slot + pageBytes); // a reused chunk: the page's unwritten rest is zeros
      // A plain view: Buffer#subarray (species lookup, a Buffer) per page was garbage per appended block.
      this.#chunk.set(new Uint8Array(bytes.buffer, bytes.byteOffset + start, count), slot);
      this.#logicalBytes += count;
      start += count;
      if (inPage + count === pageBytes && (logicalPage + 1) % this.#layout.stripeDataPages === 0) this.#sealStripe(stripe);
    }
    return start;
  }

  /** Ends a page left partly filled by packed appends with zeros, so the next block starts on a page. */
  async padToPage(): Promise<void> {
    const pageBytes = this.#layout.pageBytes;
    const rest = this.#logicalBytes % pageBytes;
    if (rest !== 0) await this.append(Buffer.alloc(pageBytes - rest));
  }

  /** Pads the last stripe with zero pages, writes what is left; returns the striped area's size in bytes. */
  async finish(): Promise<number> {
    assert(!this.#finished, 'finish once');
    await this.padToPage();
    const pageBytes = this.#layout.pageBytes;
    const logicalPages = this.#logicalBytes / pageBytes;
    const stripes = this.#layout.stripeCount(logicalPages);
    const lastStripe = stripes - 1;
    const filled = logicalPages - lastStripe * this.#layout.stripeDataPages;
    if (filled < this.#layout.stripeDataPages) {
      const stripeStart = (lastStripe - this.#chunkFirstStripe) * this.#layout.stripeBytes;
      this.#chunk.fill(0, stripeStart + Math.max(0, filled) * pageBytes, stripeStart + this.#layout.stripeDataPages * pageBytes);
      this.#sealStripe(lastStripe);
    }
    await this.#write(lastStripe - this.#chunkFirstStripe + 1);
    this.#finished = true;
    assert(this.#physicalBytesWritten === stripes * this.#layout.stripeBytes, 'the striped area is whole stripes');
    if (this.#holder !== undefined) this.#holder.chunk = this.#chunk; // every write of it has completed
    return this.#physicalBytesWritten;
  }

  /** Computes stripe `stripe`'s parity from the data pages sitting in the chunk, in the same synchronous step. */
  #sealStripe(stripe: number): void {
    const start = (stripe - this.#chunkFirstStripe) * this.#layout.stripeBytes;
    const dataBytes = this.#layout.stripeDataPages * this.#layout.pageBytes;
    computeParity(this.#chunk.subarray(start, start + dataBytes), this.#layout.pageBytes, this.#chunk.subarray(start + dataBytes, start + this.#layout.stripeBytes));
  }

  async #flush(): Promise<void> {
    await this.#write(this.#stripesPerChunk);
    this.#chunkFirstStripe += this.#stripesPerChunk;
  }

  async #write(stripes: number): Promise<void> {
    const bytes = this.#chunk.subarray(0, stripes * this.#layout.stripeBytes);
    const position = this.#layout.stripeOffset(this.#chunkFirstStripe);
    assert(position === this.#physicalBytesWritten, 'stripes are written in order, each once');
    await this.#handle.write(bytes, position);
    this.#physicalBytesWritten += bytes.length;
  }
}
