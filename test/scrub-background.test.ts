/**
 * The background scrub (scrubIntervalMs): a damaged run page is rebuilt from parity
 * and rewritten without any read touching it; passes are counted in stats; close()
 * stops a pass under way and awaits it; the options are validated.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../src/index.js';
import { RUN_PAGE_BYTES } from '../src/run/run-format.js';
import { BackgroundScrub } from '../src/stripe/background-scrub.js';
import type { ScrubReport } from '../src/stripe/scrub.js';
import { removeTemporaryDirectories, temporaryDirectory } from './helpers.js';
import { storeWithWarmRun } from './store-with-warm-run.js';

afterEach(() => {
  vi.useRealTimers();
  removeTemporaryDirectories();
});

const key = (index: number) => `key-${String(index).padStart(6, '0')}`;
const value = (index: number) => ({ index, text: 'y'.repeat(index % 50) });

/** Every key written, and a warm run of the first 600 again whose pages 0 and 1 are data blocks (test/store-with-warm-run.ts). */
const storeWithRun = () => storeWithWarmRun(2000, key, value, 600);

const emptyReport = (aborted: boolean): ScrubReport => ({
  runs: 0, blocksChecked: 0, bytesChecked: 0, repaired: [], unrecoverable: [], damaged: [], aborted, durationMs: 0,
});

describe('background scrub', () => {
  it('repairs a damaged page without any read, and counts the pass in stats', async () => {
    const { directory, runFile, original } = await storeWithRun();
    const damaged = Buffer.from(original);
    damaged.fill(0x5a, RUN_PAGE_BYTES, 2 * RUN_PAGE_BYTES);
    writeFileSync(runFile, damaged);

    const store = await openStore(directory, { memoryBudgetBytes: 256 * 1024, scrubIntervalMs: 5 });
    // No get, scan or history: only the background scrub reads the run.
    await vi.waitFor(() => expect(store.stats().storage.scrub.backgroundPasses).toBeGreaterThanOrEqual(1), { timeout: 20_000, interval: 10 });
    expect(readFileSync(runFile).equals(original)).toBe(true);
    const counted = store.stats().storage.scrub;
    expect(counted.repaired).toBe(1);
    expect(counted.unrecoverable).toBe(0);
    expect(counted.blocksChecked).toBeGreaterThan(0);
    expect(store.stats().storage.repairedBlocks).toBe(1);
    await store.close();

    const reopened = await openStore(directory);
    for (let index = 0; index < 2000; index += 97) expect(await reopened.get(key(index))).toEqual(value(index));
    await reopened.close();
  });

  it('is off by default', async () => {
    const { directory } = await storeWithRun();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = await openStore(directory);
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
    expect(store.stats().storage.scrub.passes).toBe(0);
    await store.close();
  });

  it('close() aborts a slow pass and awaits it; no pass starts afterwards', async () => {
    const { directory } = await storeWithRun();
    // 1 byte per second: the first block alone would take hours; only the abort ends the pass.
    const store = await openStore(directory, { scrubIntervalMs: 1, scrubBytesPerSecond: 1 });
    await vi.waitFor(() => expect(store.stats().storage.scrub.passesStarted).toBe(1), { timeout: 20_000, interval: 5 });
    expect(store.stats().storage.scrub.passes).toBe(0);
    await store.close();
    const stats = store.stats().storage.scrub;
    expect(stats.passes).toBe(1);
    expect(stats.abortedPasses).toBe(1);
    expect(stats.failedPasses).toBe(0);
  });

  it('refuses bad options with InvalidOptionError', async () => {
    const directory = temporaryDirectory();
    for (const options of [{ scrubIntervalMs: 0 }, { scrubIntervalMs: 1.5 }, { scrubIntervalMs: '10' }, { scrubIntervalMs: 2 ** 31 },
      { scrubBytesPerSecond: 0 }, { scrubBytesPerSecond: -5 }, { scrubBytesPerSecond: Number.NaN }]) {
      await expect(openStore(directory, options as never)).rejects.toMatchObject({ code: 'LADYBUG_INVALID_OPTION' });
    }
  });
});

describe('BackgroundScrub schedule (fake timers)', () => {
  it('never overlaps: the next pass is armed only after the previous one settled; failures are counted, not thrown', async () => {
    vi.useFakeTimers();
    let active = 0;
    let overlapSeen = false;
    const finishers: Array<() => void> = [];
    const failures: unknown[] = [];
    let calls = 0;
    const scrub = new BackgroundScrub({
      intervalMs: 1000,
      bytesPerSecond: 1024,
      scrub: () => {
        calls++;
        if (active > 0) overlapSeen = true;
        active++;
        if (calls === 2) {
          active--;
          return Promise.reject(new Error('disk went away'));
        }
        return new Promise<ScrubReport>((resolve) => finishers.push(() => {
          active--;
          resolve(emptyReport(false));
        }));
      },
      onFailure: (error) => failures.push(error),
    });
    scrub.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000); // the first pass is still running: no second one
    expect(calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    finishers.shift()?.();
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2); // rejected
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(3);
    expect(failures).toHaveLength(1);
    const stopping = scrub.stop();
    finishers.shift()?.();
    await stopping;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(3);
    expect(overlapSeen).toBe(false);
  });

  it('stop() aborts the running pass through its signal', async () => {
    let seen: AbortSignal | undefined;
    const scrub = new BackgroundScrub({
      intervalMs: 1,
      bytesPerSecond: 1024,
      scrub: ({ signal }) => {
        seen = signal;
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve(emptyReport(true))));
      },
      onFailure: () => undefined,
    });
    scrub.start();
    await vi.waitFor(() => expect(seen).toBeDefined());
    expect(scrub.running).toBe(true);
    await scrub.stop();
    expect(seen?.aborted).toBe(true);
    expect(scrub.running).toBe(false);
  });
});

describe('background scrub warnings', () => {
  it('a pass that finds unrecoverable damage (a damaged sealed WAL record) says so in a process warning, once per pass', async () => {
    const directory = temporaryDirectory();
    const store = await openStore(directory, { segmentSizeBytes: 16 * 1024, checkpointOnClose: false, walCheckpointBytes: 64 * 1024 * 1024 });
    for (let index = 0; index < 600; index++) await store.put(key(index), value(index));
    await store.close();
    const segments = readdirSync(join(directory, 'wal')).filter((name) => name.endsWith('.log')).sort();
    const warnings: Error[] = [];
    const listener = (warning: Error) => {
      if ((warning as { code?: string }).code === 'LADYBUG_SCRUB_UNRECOVERABLE') warnings.push(warning);
    };
    process.on('warning', listener);
    try {
      const reopened = await openStore(directory, {
        segmentSizeBytes: 16 * 1024, checkpointOnClose: false, walCheckpointBytes: 64 * 1024 * 1024, scrubIntervalMs: 5,
      });
      // Damaged after the open (which would refuse it): only a scrub can find it now.
      const sealed = join(directory, 'wal', segments[0] as string);
      const bytes = readFileSync(sealed);
      bytes.fill(0xee, 100, 104);
      writeFileSync(sealed, bytes);
      await vi.waitFor(() => expect(warnings.length).toBeGreaterThanOrEqual(1), { timeout: 20_000, interval: 10 });
      await reopened.close();
      expect(warnings[0]?.message).toContain(segments[0] as string);
      expect(reopened.stats().storage.scrub.unrecoverable).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(reopened.stats().storage.scrub.backgroundPasses);
    } finally {
      process.off('warning', listener);
    }
  });
});
