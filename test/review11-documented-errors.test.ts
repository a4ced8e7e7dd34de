/**
 * Outside review (new user, public surface): the README's Self-repair section says a
 * block parity cannot rebuild is a `CorruptionError` (`LADYBUG_CORRUPTION`) that is "a
 * `StripeCorruptionError` naming the run, the stripe and the blocks" (FORMAT.md: run
 * id, stripes, the offsets of every bad block), and a get over such a block throws one
 * (src/run/run-file.ts). The class was not exported from 'ladybug-store': a user could
 * neither `instanceof` it nor name its fields (runId, stripes, badBlockOffsets) under
 * tsc --strict; `import { StripeCorruptionError }` was a type error and undefined at
 * run time.
 *
 * The check reads the README and asserts that every error class it names in backticks
 * (the JavaScript built-ins and the DOMException names aside) is exported by the
 * package entry as a class, so a class documented later cannot be left out again; and
 * that the exported StripeCorruptionError is the CorruptionError the store throws.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import * as levelApi from '../src/level/index.js';
import { StripeCorruptionError as InternalStripeCorruptionError } from '../src/stripe/stripe-errors.js';

const root = join(import.meta.dirname, '..');
/** Names the README uses for errors that are not this package's classes. */
const NOT_OURS = new Set(['Error', 'TypeError', 'RangeError', 'AbortError', 'TimeoutError']);

function documentedErrorClasses(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const names = new Set<string>();
  for (const match of readme.matchAll(/`([A-Z][A-Za-z]*(?:Error|Violation))`/g)) {
    const name = match[1] as string;
    if (!NOT_OURS.has(name)) names.add(name);
  }
  return [...names].sort();
}

describe('error classes the README documents are exported', () => {
  it('exports every error class the README names', () => {
    const documented = documentedErrorClasses();
    expect(documented).toContain('StripeCorruptionError');
    const exported = api as unknown as Record<string, unknown>;
    // The level adapter's own error (LevelLockedError) is exported by its entry, ladybug-store/level.
    const levelExported = levelApi as unknown as Record<string, unknown>;
    const missing = documented.filter((name) => typeof exported[name] !== 'function' && typeof levelExported[name] !== 'function');
    expect(missing).toEqual([]);
  });

  it('exports the StripeCorruptionError the store throws, a CorruptionError with its fields', () => {
    const exported = (api as unknown as Record<string, unknown>)['StripeCorruptionError'];
    expect(exported).toBe(InternalStripeCorruptionError);
    const error = new InternalStripeCorruptionError('/store/runs/0000000007.run', 7, 8192, [0], [8192, 12288], 'two bad blocks');
    expect(error).toBeInstanceOf(api.CorruptionError);
    expect(api.isLadybugError(error)).toBe(true);
    expect(error.code).toBe(api.ErrorCode.Corruption);
    expect(error.name).toBe('StripeCorruptionError');
    expect([error.runId, error.stripes, error.badBlockOffsets, error.file, error.offset]).toEqual([7, [0], [8192, 12288], '/store/runs/0000000007.run', 8192]);
  });
});
