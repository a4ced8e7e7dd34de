/**
 * The stores and runs of earlier formats kept in test/fixtures decode, byte for byte, as
 * docs/FORMAT.md describes them (the decoder written from the document alone:
 * test/format-review-decoder.ts, test/format-review-run-decoder.ts), and between them
 * they hold every format version the changelogs name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBackupJson, decodeStoreDirectory } from './format-review-decoder.js';
import { loadHash } from './format-review-hash.js';
import { decodeRun } from './format-review-run-decoder.js';

beforeAll(loadHash);

describe('docs/FORMAT.md read alone decodes the fixtures of earlier formats', () => {
  it('the stores and runs of earlier formats in test/fixtures decode as the document describes them', () => {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const seen: string[] = [];
    for (const name of ['format-review-current', 'format-review-manifest-v2', 'format-review-run-v4', 'format-review-run-v2-cold', 'format-review-run-v3-k8', 'store-cold-format3', 'store-wal-v1', 'store-lease-pre-counts', 'review-io-bytes-pre-84a7c56']) {
      const problems: string[] = [];
      const decoded = decodeStoreDirectory(join(fixtures, name), problems)!;
      expect(problems, name).toEqual([]);
      seen.push(...decoded.runs.map((run) => `run ${run.format}/${run.compression}/K${run.stripeDataPages}/filter ${[...run.filterKinds].join()}`), `manifest ${decoded.manifest.formatVersion}`, ...decoded.segments.map((segment) => `wal ${segment.format}`));
    }
    const backupProblems: string[] = [];
    decodeBackupJson(join(fixtures, 'format-review-current-backup'), backupProblems);
    decodeStoreDirectory(join(fixtures, 'format-review-current-backup'), backupProblems, true);
    expect(backupProblems).toEqual([]);
    for (const name of ['run-v2', 'run-v3-bloom']) {
      const descriptor = JSON.parse(readFileSync(join(fixtures, name, 'descriptor.json'), 'utf8')) as Parameters<typeof decodeRun>[1];
      const problems: string[] = [];
      const run = decodeRun(readFileSync(join(fixtures, name, descriptor.fileName)), descriptor, problems);
      expect(problems, name).toEqual([]);
      seen.push(`run ${run.format}/${run.compression}/K${run.stripeDataPages}/filter ${[...run.filterKinds].join()}`);
    }
    expect([...new Set(seen)].sort()).toEqual([
      'manifest 1', 'manifest 2', 'manifest 3', 'run 2/0/K4/filter 0', 'run 2/0/K8/filter 0', 'run 2/2/K8/filter 0', 'run 3/0/K16/filter 0', 'run 3/0/K8/filter 0', 'run 3/2/K16/filter 0', 'run 3/2/K8/filter 0',
      'run 4/3/K16/filter 0', 'run 5/0/K16/filter 1', 'run 6/3/K16/filter 1', 'wal 1', 'wal 2',
    ]);
  });
});
