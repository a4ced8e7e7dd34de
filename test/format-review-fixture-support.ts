/**
 * What the tests of the fixtures written by test/fixtures/make-format-review-fixture.mjs
 * share: the values the writer put (recomputed from index and round), a fixture copied
 * into a temporary directory with its expected.json, the footers' versions and the
 * manifest's state as stored, and the exact read of every key now and as of the floor.
 */
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { expect } from 'vitest';
import { VersionNotRetainedError, type Store } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const FOOTER_VERSION_OFFSET = 16;
const FOOTER_COMPRESSION_OFFSET = 52;
const RUN_PAGE = 4096;
const MANIFEST_FRAME_BYTES = 24;
const unpackr = new Unpackr({ useRecords: false, moreTypes: true });

export const key = (index: number) => `item-${String(index).padStart(6, '0')}`;
const value = (index: number, round: number) => ({ id: index, round, text: `value ${index} of round ${round}`, tags: ['alpha', 'beta'] });

/** The fixture writer's rounds: 0 every key, 1 every 3rd, 2 every 5th, (floor), 3 every 7th, deletes every 11th, 4 keys 2000..2099. */
export function expectedNow(index: number): unknown {
  if (index >= 2100) return value(index, 5);
  if (index >= 2000) return value(index, 4);
  if (index % 11 === 0) return undefined;
  if (index % 7 === 0) return value(index, 3);
  return expectedAtFloor(index);
}

export function expectedAtFloor(index: number): unknown {
  if (index >= 2000) return undefined;
  if (index % 5 === 0) return value(index, 2);
  if (index % 3 === 0) return value(index, 1);
  return value(index, 0);
}

export function footers(directory: string): Array<{ version: number; compression: number }> {
  return readdirSync(join(directory, 'runs')).filter((name) => name.endsWith('.run')).sort().map((name) => {
    const bytes = readFileSync(join(directory, 'runs', name));
    const footer = bytes.length - RUN_PAGE;
    return { version: bytes.readUInt32LE(footer + FOOTER_VERSION_OFFSET), compression: bytes.readUInt32LE(footer + FOOTER_COMPRESSION_OFFSET) };
  });
}

/** The full-state record of the manifest's copy a (docs/FORMAT.md, "Manifest"). */
export function manifestState(directory: string): { formatVersion: number; retentionFloor: unknown } {
  const name = readdirSync(join(directory, 'manifest')).filter((entry) => entry.endsWith('.a')).sort().at(-1)!;
  const bytes = readFileSync(join(directory, 'manifest', name));
  const length = bytes.readUInt32LE(4);
  const payload = unpackr.unpack(bytes.subarray(MANIFEST_FRAME_BYTES, MANIFEST_FRAME_BYTES + length)) as {
    kind: string; formatVersion: number; state: { retentionFloor?: number };
  };
  expect(payload.kind).toBe('state');
  return { formatVersion: payload.formatVersion, retentionFloor: payload.state.retentionFloor };
}

/** Checks every key of the fixture's first `keys` (2100; 2150 with the current store's WAL-only round). */
export async function expectExact(store: Store, expected: { version: number; floorAt: number }, keys = 2100): Promise<void> {
  expect(store.version).toBe(expected.version);
  for (let index = 0; index < keys; index++) {
    expect(await store.get(key(index)), key(index)).toEqual(expectedNow(index));
    expect(await store.get(key(index), { asOf: expected.floorAt }), `${key(index)} as of the floor`).toEqual(expectedAtFloor(index));
  }
  const scanned: string[] = [];
  for await (const [name, stored] of store.scan({ gte: 'item-', lt: 'item.' })) {
    expect(stored).toEqual(expectedNow(Number(String(name).slice(5))));
    scanned.push(String(name));
  }
  expect(scanned.length).toBe(keys - Math.ceil(2000 / 11));
  await expect(store.get(key(1), { asOf: expected.floorAt - 1 })).rejects.toBeInstanceOf(VersionNotRetainedError);
}

export interface Expected { version: number; floorAt: number; retentionFloor: number; backupVersion?: number }

export function fixture(name: string, expectedName = name): { directory: string; expected: Expected } {
  const directory = temporaryDirectory();
  cpSync(join(FIXTURES, name), directory, { recursive: true });
  const expected = JSON.parse(readFileSync(join(FIXTURES, `${expectedName}.expected.json`), 'utf8')) as Expected;
  expect(expected.retentionFloor).toBe(expected.floorAt);
  return { directory, expected };
}

