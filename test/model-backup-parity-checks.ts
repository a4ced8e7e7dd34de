/**
 * The checks of the backup and parity model test (model-backup-parity-driver.ts): a
 * store's reads against the model (the exact value, or a CorruptionError naming a file
 * that holds damage parity cannot rebuild: never a wrong value, never a silent miss),
 * and a restored backup against the model at the backup's version (every key exact at
 * that version; as-of reads below it exact or VersionNotRetainedError; history the
 * newest versions, at least what retention keeps, all of them with nothing reclaimed).
 */
import { Buffer } from 'node:buffer';
import { expect } from 'vitest';
import type { Store } from '../src/index.js';
import { type Change, hexOf, type Model } from './model-review-model.js';
import { brief } from './model-review-driver.js';

/** The store's argument form of a model key (keys here are UTF-8 strings). */
export const keyText = (key: string): string => Buffer.from(key, 'hex').toString('utf8');

/** True when `error` is a CorruptionError naming one of `files` (paths, or their names at the end). */
export function namesDamagedFile(error: unknown, files: ReadonlySet<string>): boolean {
  const code = (error as { code?: string }).code;
  const file = (error as { file?: string }).file;
  if (code !== 'LADYBUG_CORRUPTION' || typeof file !== 'string') return false;
  return [...files].some((damaged) => file === damaged || file.endsWith(damaged) || damaged.endsWith(file));
}

const present = (model: Model, key: string, version: number): boolean => {
  const found = model.visible(key, version);
  return found !== undefined && !found.change.deleted;
};

async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

/**
 * Every key of the model, a key never written, and a full scan (one way or the other), at the current
 * version: exact, or (only with `damaged` files) CorruptionError naming one of them.
 * Returns how many reads failed so.
 */
export async function checkCurrent(store: Store, model: Model, keys: readonly string[], damaged: ReadonlySet<string>, label: string): Promise<number> {
  expect(store.version, `${label}: store.version`).toBe(model.version);
  let corrupt = 0;
  for (const key of [...keys, hexOf('never-written')]) {
    const outcome = await settle(store.get(keyText(key)));
    if (outcome.error !== undefined) {
      expect(namesDamagedFile(outcome.error, damaged), `${label}: get ${keyText(key).slice(0, 20)} failed: ${String(outcome.error)} (damaged ${[...damaged].join(', ') || 'none'})`).toBe(true);
      corrupt++;
      continue;
    }
    expect(outcome.value, `${label}: get ${keyText(key).slice(0, 20)}`).toEqual(model.valueAt(key, model.version));
  }
  for (const reverse of [keys.length % 2 === 1]) {
    const seen: Array<[string, unknown]> = [];
    const outcome = await settle((async () => {
      for await (const [key, stored] of store.scan({ reverse })) seen.push([hexOf(key), stored]);
    })());
    const expected = model.keysIn({}, reverse).filter((key) => present(model, key, model.version)).map((key): [string, unknown] => [key, model.valueAt(key, model.version)]);
    if (outcome.error !== undefined) {
      expect(namesDamagedFile(outcome.error, damaged), `${label}: scan reverse ${reverse} failed: ${String(outcome.error)}`).toBe(true);
      corrupt++;
      // What it gave before the failure is still exactly the model's, in order.
      expect(seen, `${label}: scan before its CorruptionError`).toEqual(expected.slice(0, seen.length));
      continue;
    }
    expect(seen.length, `${label}: scan reverse ${reverse} entries`).toBe(expected.length);
    expect(seen, `${label}: scan reverse ${reverse}`).toEqual(expected);
  }
  return corrupt;
}

/** As-of reads of a few versions: the model's value or VersionNotRetainedError where retention allows it; nothing else. */
export async function checkAsOf(store: Store, model: Model, key: string, versions: readonly number[], reference: number, label: string): Promise<void> {
  for (const version of versions) {
    const outcome = await settle(store.get(keyText(key), { asOf: version }));
    const where = `${label}: get ${keyText(key).slice(0, 20)} asOf ${version} (reference ${reference})`;
    if (outcome.error !== undefined) {
      expect((outcome.error as { code?: string }).code, `${where}: ${String(outcome.error)}`).toBe('LADYBUG_VERSION_NOT_RETAINED');
      expect(version, `${where}: the backup version itself must answer`).not.toBe(reference);
      continue;
    }
    expect(outcome.value, where).toEqual(model.valueAt(key, version));
  }
}

/** A history read from a store holding the model's state at `reference`: the newest changes, none skipped, at least the retained ones. */
export function checkHistory(actual: Change[], model: Model, key: string, reference: number, label: string): void {
  const all = model.history(key, reference, Infinity, true);
  const retained = model.history(key, reference);
  const where = `${label}: history ${keyText(key).slice(0, 20)} at ${reference} got ${brief(actual)} all ${brief(all)}`;
  expect(actual, where).toEqual(all.slice(0, actual.length));
  expect(actual.length, `${where}: retained ${retained.length}`).toBeGreaterThanOrEqual(retained.length);
}

/** A store restored from a backup of version `version`: every key exact there, as-of reads and histories consistent. */
export async function checkRestored(store: Store, model: Model, keys: readonly string[], version: number, rng: () => number, label: string): Promise<void> {
  expect(store.version, `${label}: restored store.version`).toBe(version);
  for (const key of keys) {
    const outcome = await settle(store.get(keyText(key)));
    expect(outcome.error, `${label}: restored get ${keyText(key).slice(0, 20)}: ${String(outcome.error)}`).toBeUndefined();
    expect(outcome.value, `${label}: restored get ${keyText(key).slice(0, 20)} at backup version ${version}`).toEqual(model.valueAt(key, version));
    checkHistory(await store.history(keyText(key)), model, key, version, `${label}: restored`);
    await checkAsOf(store, model, key, [version, Math.floor(rng() * (version + 1))], version, `${label}: restored`);
  }
  const seen: string[] = [];
  for await (const [key] of store.scan()) seen.push(hexOf(key));
  const expected = model.keysIn({}, false).filter((key) => present(model, key, version));
  expect(seen, `${label}: restored scan keys`).toEqual(expected);
}
