/**
 * The README names the figures of `store.stats()`, `store.leases.stats()` and
 * `store.metrics()` by name: a user reads `stats().storage.writeStalls` or
 * `ladybug_flush_seconds` there and looks for it. This holds those names to what a
 * store returns: every `stats().a.b` path and every `storage.x` figure the README names
 * is in a store's stats(), the fields the `store.leases.stats()` line lists are the
 * object's fields, and the Prometheus metric names the Metrics section lists are the
 * ones `metrics({ format: 'prometheus' })` declares.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';

afterEach(() => removeTemporaryDirectories());

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

function has(object: unknown, path: readonly string[]): boolean {
  let at = object;
  for (const name of path) {
    if (typeof at !== 'object' || at === null || !(name in at)) return false;
    at = (at as Record<string, unknown>)[name];
  }
  return true;
}

describe('the figures the README names are the ones a store returns', () => {
  it('stats(), leases.stats() and the Prometheus metric names', async () => {
    const store = await openStore(temporaryDirectory());
    try {
      await store.put('a', 1);
      const stats = store.stats();

      const paths = [...new Set([...readme.matchAll(/stats\(\)((?:\.[A-Za-z]+)+)/g)].map((match) => (match[1] as string).slice(1)))];
      const figures = [...new Set([...readme.matchAll(/\bstorage\.((?:compaction\.|scrub\.|tiers\.)?[A-Za-z]+)/g)].map((match) => `storage.${match[1] as string}`))];
      expect(paths.length + figures.length).toBeGreaterThan(10);
      expect([...paths, ...figures].filter((path) => !has(stats, path.split('.')))).toEqual([]);

      const leaseLine = /store\.leases\.stats\(\);\s*\/\/ \{ ([^}]*) \}/.exec(readme);
      expect(leaseLine).not.toBeNull();
      const documentedLeaseFields = (leaseLine?.[1] as string).split(',').map((name) => name.trim()).sort();
      expect(documentedLeaseFields).toEqual(Object.keys(store.leases.stats()).sort());

      const prometheus = store.metrics({ format: 'prometheus' }) as string;
      const declared = [...prometheus.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] as string).sort();
      const metricsSection = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
      const documented = [...new Set([...metricsSection.matchAll(/`(ladybug_[a-z_]+)/g)].map((match) => match[1] as string))].sort();
      expect(documented).toEqual(declared);
    } finally {
      await store.close();
    }
  });
});
