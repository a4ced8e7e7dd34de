/**
 * Debug mode: the lock-order checker and the expensive consistency checks.
 * On when LADYBUG_DEBUG=1 (every test run sets it, see vitest.config.ts) or when
 * a store is opened with `{ debug: true }`. Read once at load so the hot path pays
 * one boolean test.
 */
let enabled = process.env.LADYBUG_DEBUG === '1' || process.env.LADYBUG_DEBUG === 'true';

export function debugEnabled(): boolean {
  return enabled;
}

/** Turns debug mode on for the whole process (it is never turned back off). */
export function enableDebug(): void {
  enabled = true;
}

/** Test-only: switches debug mode on or off, so one process can test both paths. */
export function setDebugForTesting(on: boolean): void {
  enabled = on;
}
