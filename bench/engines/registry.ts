/**
 * All engines the harness knows, in report order: the subject, the peers,
 * then the two raw-limit variants.
 */
import { betterSqlite3Engine } from './better-sqlite3.js';
import { classicLevelEngine } from './classic-level.js';
import type { EngineDefinition } from './engine.js';
import { ladybugEngine } from './ladybug.js';
import { lmdbEngine } from './lmdb.js';
import { rawEngines } from './raw-fdatasync.js';

export interface EngineSetup {
  readonly rawPreallocatedBytes: number;
  /** Extra openStore options for ladybug (--ladybug-options). */
  readonly ladybugStoreOptions: Readonly<Record<string, unknown>>;
}

export function allEngines(setup: EngineSetup): EngineDefinition[] {
  return [ladybugEngine(setup.ladybugStoreOptions), lmdbEngine, classicLevelEngine, betterSqlite3Engine, ...rawEngines(setup.rawPreallocatedBytes)];
}
