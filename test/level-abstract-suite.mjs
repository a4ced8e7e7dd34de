// Runs abstract-level's own test suite (tape) against the built adapter,
// dist/src/level/index.js (npm test builds first). Spawned by
// test/level-abstract-suite.test.ts, which reads the TAP summary it prints.
// Every database lives in its own directory under one temporary directory,
// removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'tape';
import suite from 'abstract-level/test/index.js';
import { LadybugLevel } from '../dist/src/level/index.js';

const root = mkdtempSync(join(tmpdir(), 'ladybug-level-suite-'));
let databases = 0;

suite({
  test,
  factory(options) {
    databases += 1;
    return new LadybugLevel(join(root, `db-${databases}`), options);
  },
});

test.onFinish(() => {
  rmSync(root, { recursive: true, force: true });
});
