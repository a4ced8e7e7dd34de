/**
 * An option value of the wrong type is refused with InvalidOptionError naming the option,
 * whatever the value is: also an object with no prototype (Object.create(null), what a
 * parsed-and-sanitised configuration often is) and an object whose conversion to a
 * string throws. The message describing the refused value must not convert it: String()
 * of a null-prototype object throws a bare TypeError ('Cannot convert object to
 * primitive value'), which reached the caller instead of the typed refusal, and the
 * conversion ran the caller's own toPrimitive/toString.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore, type Store } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

type Site = [string, (store: Store, value: unknown, fileSystem: FaultFileSystem) => unknown];

const SITES: Site[] = [
  ['openStore maxValueBytes', (_s, v, fileSystem) => openStore('/other', { fileSystem, maxValueBytes: v as number })],
  ['openStore keyEncoding', (_s, v, fileSystem) => openStore('/other', { fileSystem, keyEncoding: v as 'utf8' })],
  ['openStore debug', (_s, v, fileSystem) => openStore('/other', { fileSystem, debug: v as boolean })],
  ['openStore snapshotMaxAgeMs', (_s, v, fileSystem) => openStore('/other', { fileSystem, snapshotMaxAgeMs: v as number })],
  ['batch operation type', (s, v) => s.batch([{ type: v, key: 'k', value: 1 }] as never)],
  ['get asOf', (s, v) => s.get('a', { asOf: v as number })],
  ['history limit', (s, v) => s.history('a', { limit: v as number })],
  ['scan limit', async (s, v) => { for await (const _ of s.scan({ limit: v as number })) break; }],
  ['scan reverse', async (s, v) => { for await (const _ of s.scan({ reverse: v as boolean })) break; }],
  ['scan asOf', async (s, v) => { for await (const _ of s.scan({ asOf: v as number })) break; }],
  ['transaction isolation', (s, v) => s.transaction(() => 1, { isolation: v as 'snapshot' })],
  ['transaction retries', (s, v) => s.transaction(() => 1, { retries: v as number })],
  ['tx.requireLease token', (s, v) => s.transaction((tx) => tx.requireLease('lease', v as number))],
  ['compact retainFrom', (s, v) => s.compact({ retainFrom: v as number })],
  ['metrics format', (s, v) => s.metrics({ format: v as 'data' })],
  ['leases.acquire ttlMs', (s, v) => s.leases.acquire('lease', { owner: 'o', ttlMs: v as number })],
  ['leases.acquire waitMs', (s, v) => s.leases.acquire('lease', { owner: 'o', ttlMs: 1000, waitMs: v as number })],
  ['leases.renew ttlMs', (s, v) => s.leases.renew('lease', { owner: 'o', token: 1, ttlMs: v as number })],
  ['leases.release token', (s, v) => s.leases.release('lease', { owner: 'o', token: v as number })],
  ['watch sinceVersion', (s, v) => s.watch({ sinceVersion: v as number }).next()],
  ['watch untilVersion', (s, v) => s.watch({ untilVersion: v as number }).next()],
  ['watch includeReserved', (s, v) => s.watch({ sinceVersion: 0, includeReserved: v as boolean }).next()],
  ['watch catchUpBatchChanges', (s, v) => s.watch({ sinceVersion: 0, catchUpBatchChanges: v as number }).next()],
];

const ownError = new Error('the value was converted');
const VALUES: [string, () => unknown][] = [
  ['Object.create(null)', () => Object.create(null)],
  ['a null-prototype object with keys', () => Object.assign(Object.create(null), { n: 5 })],
  ['an object whose toPrimitive throws', () => ({ [Symbol.toPrimitive]() { throw ownError; } })],
  ['an object whose toString throws', () => ({ toString() { throw ownError; } })],
];

async function ending(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return 'accepted';
}

describe('an option value that cannot be converted to a string is still refused with InvalidOptionError', () => {
  let fileSystem: FaultFileSystem;
  let store: Store;
  beforeEach(async () => {
    fileSystem = new FaultFileSystem(7);
    store = await openStore('/db', { fileSystem });
    await store.put('a', 1);
  });
  afterEach(async () => {
    await store.close();
  });

  for (const [valueName, make] of VALUES) {
    it(`${valueName}, at every numeric, boolean or enumerated option`, async () => {
      const wrong: string[] = [];
      for (const [site, call] of SITES) {
        const error = await ending(() => call(store, make(), fileSystem));
        if (!(error instanceof InvalidOptionError) || error.code !== ErrorCode.InvalidOption) {
          wrong.push(`${site}: ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`);
        }
      }
      expect(wrong).toEqual([]);
      expect(await store.get('a')).toBe(1);
      expect(store.version).toBe(1);
    });
  }
});
