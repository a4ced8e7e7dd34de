/**
 * Outside review of ladybug-store/level by differential testing against classic-level
 * (LevelDB, the same abstract-level 3 API): seeded sequences of put/del/batch (array and
 * chained, with the sublevel option), get/getMany/has/hasMany, iterators/keys()/values()
 * with random ranges, limits, reverse, next/nextv/all and seek, iterators and explicit
 * snapshots held across writes, clear(), reopens, checkpoints, five encodings, three
 * sublevels, write/clear events and a prewrite hook; see model-level-driver.ts for what
 * is compared and which documented differences the model allows.
 *
 * MODEL_LEVEL_SEEDS=a-b runs other seeds, MODEL_LEVEL_STEPS their length.
 */
import { describe, expect, it } from 'vitest';
import { LadybugLevel } from '../src/level/index.js';
import { runSeed } from './model-level-driver.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { seedList } from './model-sequences.js';

const STEPS = Number(process.env['MODEL_LEVEL_STEPS'] ?? 60);
const seeds = seedList(process.env['MODEL_LEVEL_SEEDS'] ?? '1-8');

describe('level adapter against classic-level', () => {
  it.each(seeds)('seed %i', async (seed) => {
    await runSeed(seed, STEPS);
  }, 600_000);
});

describe('level adapter and classic-level declare the same support', () => {
  it('supports agrees except where README "Using it with level" says it differs', async () => {
    const { ClassicLevel } = await import('classic-level');
    const ladybug = new LadybugLevel(temporaryDirectory());
    const classic = new ClassicLevel(temporaryDirectory());
    // Documented: no getSync, no iterator signals; classic's own extra methods; encodings
    // classic stores natively are transcoded to view by abstract-level for ladybug.
    const masked = (supports: object) => ({ ...supports, getSync: undefined, signals: undefined, additionalMethods: undefined, encodings: undefined });
    expect(masked(ladybug.supports)).toEqual(masked(classic.supports));
    expect(Object.keys(ladybug.supports.encodings).sort()).toEqual(Object.keys(classic.supports.encodings).sort());
    expect([(ladybug.supports as { getSync?: boolean }).getSync, (classic.supports as { getSync?: boolean }).getSync]).toEqual([false, true]);
    await ladybug.open();
    expect(() => ladybug.getSync('a')).toThrow(expect.objectContaining({ code: 'LEVEL_NOT_SUPPORTED' }));
    await Promise.all([ladybug.close(), classic.close()]);
    removeTemporaryDirectories();
  });
});
