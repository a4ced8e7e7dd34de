/**
 * Options of the wrong type that were taken instead of refused (found by the input
 * fuzz's review of every option with null and non-functions; README: an option of the
 * wrong type is refused with InvalidOptionError naming it, never ignored):
 * - transaction(body, { retries: null }) and { isolation: null } ran with the defaults
 *   (10 retries, serializable): `??` took null for absent, where every other option of
 *   the store (openStore's, asOf, limit, signal, retainFrom, fence) refuses null;
 * - compact({ onProgress }) was never checked: a number, string, object or null was
 *   taken, the compaction started, and it failed at the first progress report with a
 *   bare TypeError ('onProgress is not a function', no code), after work was done.
 * Nothing runs and nothing is written when they are refused.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError, openStore } from '../src/index.js';
import { FaultFileSystem } from '../src/fs/fault-file-system.js';

async function refusal(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(() => 'resolved', (error: unknown) => error);
}

function expectOption(error: unknown, option: string): void {
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option });
}

describe('options of the wrong type are refused, not taken for their defaults', () => {
  it('transaction({ retries: null }) and ({ isolation: null }): InvalidOptionError, the body never runs', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    let ran = 0;
    const body = (tx: { put(key: string, value: unknown): void }): void => {
      ran++;
      tx.put('a', 1);
    };
    expectOption(await refusal(() => store.transaction(body, { retries: null as never })), 'retries');
    expectOption(await refusal(() => store.transaction(body, { isolation: null as never })), 'isolation');
    expect(ran).toBe(0);
    expect(store.version).toBe(0);
    await store.transaction(body, { retries: 0, isolation: 'snapshot' });
    expect(await store.get('a')).toBe(1);
    await store.close();
  });

  it('compact({ onProgress }) other than a function: InvalidOptionError before any work', async () => {
    const store = await openStore('/db', { fileSystem: new FaultFileSystem(1) });
    await store.put('a', 1);
    await store.checkpoint();
    await store.put('b', 2);
    await store.checkpoint();
    const compactions = store.stats().storage.compaction;
    for (const onProgress of [5, 'progress', {}, null]) {
      expectOption(await refusal(() => store.compact({ onProgress: onProgress as never })), 'onProgress');
    }
    expect(store.stats().storage.compaction).toEqual(compactions);
    expect(store.stats().storage.runs).toBe(2);
    const reports: number[] = [];
    await store.compact({ onProgress: (entriesRead) => reports.push(entriesRead) });
    expect(reports.length).toBeGreaterThan(0);
    expect([await store.get('a'), await store.get('b')]).toEqual([1, 2]);
    await store.close();
  });
});
