/**
 * Review of the manifest under single bit flips, on a real store's manifest (format 3:
 * cold and flushed runs with reserved counts, compaction and checkpoint edits;
 * test/review-runs-helpers.ts). One flipped bit at EVERY byte of either copy: open
 * gives exactly the pristine state and leaves both copies whole again (a new
 * generation), and `verify` (Manifest.inspect) names a damaged copy without writing.
 * The same bit flipped in both copies: CorruptionError naming copy a, never another
 * state. A sample through the whole store: every read exact.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadHash64 } from '../src/codec/checksum.js';
import { CorruptionError } from '../src/errors.js';
import { Manifest } from '../src/manifest/manifest.js';
import type { Hash64 } from '../src/wal/wal-format.js';
import { verifyStore } from '../src/store/verify-store.js';
import { buildStore, fileName, fileSystemOf, openAndRead, seeded, STORE, type BuiltStore } from './review-runs-helpers.js';

let built: BuiltStore;
let hash: Hash64;
let pristine: string;
let copyA: string;
let copyB: string;
beforeAll(async () => {
  hash = await loadHash64();
  built = await buildStore();
  [copyA, copyB] = built.manifestFiles.sort() as [string, string];
  expect(copyA.endsWith('.a') && copyB.endsWith('.b')).toBe(true);
  expect(built.image.get(copyA)).toEqual(built.image.get(copyB));
  pristine = JSON.stringify((await Manifest.inspect(await fileSystemOf(built.image), STORE, hash)).state);
}, 60_000);

const bitOf = (offset: number) => (offset * 5 + 3) % 8;

describe('manifest bit flips', () => {
  it('one flip at every byte of either copy: open gives the pristine state and rewrites both copies whole', async () => {
    const size = (built.image.get(copyA) as Uint8Array).length;
    for (const copy of [copyA, copyB]) {
      for (let offset = 0; offset < size; offset++) {
        const fileSystem = await fileSystemOf(built.image);
        fileSystem.flipBit(copy, offset, bitOf(offset));
        const where = `${copy} @${offset} bit ${bitOf(offset)}`;
        const inspected = await Manifest.inspect(fileSystem, STORE, hash);
        expect(JSON.stringify(inspected.state), where).toBe(pristine);
        expect(inspected.damagedCopies, where).toBe(1);
        const manifest = await Manifest.open(fileSystem, STORE, hash, { create: false });
        expect(JSON.stringify(manifest.state), where).toBe(pristine);
        await manifest.close();
        const after = await Manifest.inspect(fileSystem, STORE, hash);
        expect(after.damagedCopies, where).toBe(0);
        expect(JSON.stringify(after.state), where).toBe(pristine);
      }
    }
  });

  it('the same flip in both copies: CorruptionError naming copy a (every 3rd byte)', async () => {
    const size = (built.image.get(copyA) as Uint8Array).length;
    for (let offset = 0; offset < size; offset += 3) {
      const fileSystem = await fileSystemOf(built.image);
      fileSystem.flipBit(copyA, offset, bitOf(offset));
      fileSystem.flipBit(copyB, offset, bitOf(offset));
      const opened = await Manifest.open(fileSystem, STORE, hash, { create: false }).then(
        async (manifest) => {
          const state = JSON.stringify(manifest.state);
          await manifest.close();
          return state;
        },
        (error: unknown) => error,
      );
      expect(opened, `@${offset}`).toBeInstanceOf(CorruptionError);
      expect((opened as CorruptionError).file, `@${offset}`).toContain(fileName(copyA));
    }
  });

  it('a sample of flips through the whole store: every read exact, verify names the damaged copy', async () => {
    const random = seeded(23);
    const size = (built.image.get(copyA) as Uint8Array).length;
    for (let trial = 0; trial < 40; trial++) {
      const copy = trial % 2 === 0 ? copyA : copyB;
      const offset = Math.floor(random() * size);
      const bit = Math.floor(random() * 8);
      const fileSystem = await fileSystemOf(built.image);
      fileSystem.flipBit(copy, offset, bit);
      const report = await verifyStore(STORE, { fileSystem });
      expect(report.manifest?.damagedCopies, `${copy} @${offset}`).toBe(1);
      const outcome = await openAndRead(fileSystem, built);
      expect(outcome, `${copy} @${offset} bit ${bit}`).toEqual({ kind: 'exact' });
    }
  });
});
