/**
 * StripedOutput#append returns no promise while the chunk has room (issue 12: a flush
 * of 4 KiB values appends a block per entry, and an async append was a promise and a
 * frame of garbage per entry), a promise only when the chunk must be written first,
 * and the file is the same either way: every stripe's data as appended, its parity the
 * XOR of its data pages.
 */
import { describe, expect, it } from 'vitest';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';
import { STRIPE_DATA_PAGES_DEFAULT } from '../src/stripe/parity.js';
import { StripeLayout } from '../src/stripe/stripe-layout.js';
import { StripedOutput } from '../src/stripe/striped-output.js';

const PAGE_BYTES = 4096;

describe('StripedOutput#append', () => {
  it('answers undefined while the chunk has room, a promise when it is written, and writes the same stripes', async () => {
    const fileSystem = new FaultFileSystem(3);
    await fileSystem.mkdir('/d');
    const handle = await fileSystem.open('/d/striped', 'createExclusive');
    const layout = new StripeLayout(STRIPE_DATA_PAGES_DEFAULT, PAGE_BYTES);
    const output = new StripedOutput(handle, layout, layout.stripeBytes); // one stripe per chunk
    const blocks: Uint8Array[] = [];
    const answers: boolean[] = [];
    // Two-page blocks (a 4 KiB value's), 12 of them: 24 pages, a stripe and a half.
    for (let number = 0; number < 12; number++) {
      const block = new Uint8Array(2 * PAGE_BYTES).fill(number + 1);
      block[0] = 0xf0 ^ number;
      blocks.push(block);
      const answer = output.append(block);
      answers.push(answer !== undefined);
      await answer;
      block.fill(0xee); // the caller reuses its buffer once append returned
    }
    // The 9th block starts the second stripe, past the one-stripe chunk: only it waits for a write.
    expect(answers).toEqual([false, false, false, false, false, false, false, false, true, false, false, false]);
    const end = await output.finish();
    expect(end).toBe(2 * layout.stripeBytes);
    await handle.close();
    const file = await fileSystem.readFile('/d/striped');
    for (let stripe = 0; stripe < 2; stripe++) {
      const start = stripe * layout.stripeBytes;
      const parity = new Uint8Array(PAGE_BYTES);
      for (let page = 0; page < STRIPE_DATA_PAGES_DEFAULT; page++) {
        const logicalPage = stripe * STRIPE_DATA_PAGES_DEFAULT + page;
        const bytes = file.subarray(start + page * PAGE_BYTES, start + (page + 1) * PAGE_BYTES);
        const number = logicalPage >> 1;
        const expected = new Uint8Array(PAGE_BYTES).fill(number < 12 ? number + 1 : 0);
        if (number < 12 && logicalPage % 2 === 0) expected[0] = 0xf0 ^ number;
        expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
        for (let index = 0; index < PAGE_BYTES; index++) parity[index] = parity[index]! ^ bytes[index]!;
      }
      expect(Buffer.from(file.subarray(start + STRIPE_DATA_PAGES_DEFAULT * PAGE_BYTES, start + layout.stripeBytes)).equals(Buffer.from(parity))).toBe(true);
    }
  });
});
