/**
 * The store's scrub passes (store.scrub() and the background scrub): one pass reads
 * and checks the engine's scrub targets (src/stripe/scrub.ts) and records its report
 * in the engine's ScrubCounters; the background scrub runs passes on a timer
 * (src/stripe/background-scrub.ts).
 *
 * Invariants:
 * - REQUIRES for scrubPass: the caller holds store.lifecycle (Store#scrub takes it),
 *   so a pass never overlaps checkpoint, compact, backup or close.
 * - Every pass that starts is counted (started), and every pass that ends with a
 *   report is recorded once, as background or called.
 * - Nobody awaits a background pass: its unrecoverable damage and its failures are
 *   reported as process warnings (LADYBUG_SCRUB_UNRECOVERABLE, LADYBUG_SCRUB_FAILED);
 *   repairs are logged by the engine.
 */
import type { StorageEngine } from '../engine/storage-engine.js';
import { BackgroundScrub } from '../stripe/background-scrub.js';
import { scrubStore, type ScrubOptions, type ScrubReport } from '../stripe/scrub.js';
import type { ResolvedOptions } from './options.js';

/** One scrub pass over the store in `directory`. REQUIRES: store.lifecycle held. */
export async function scrubPass(engine: StorageEngine, directory: string, options: ScrubOptions, background: boolean): Promise<ScrubReport> {
  engine.scrubCounters.started();
  const report = await scrubStore(engine.scrubTargets(), options);
  engine.scrubCounters.record(report, background);
  const first = report.unrecoverable[0];
  if (background && first !== undefined) {
    // Nobody awaits a background pass: say it once per pass (repairs are logged by the engine).
    process.emitWarning(
      `ladybug-store background scrub of ${directory} found ${report.unrecoverable.length} unrecoverable ${first.kind} damage(s), the first in ${first.file} at offset ${first.logicalOffset}: ${first.reason}`,
      { code: 'LADYBUG_SCRUB_UNRECOVERABLE' },
    );
  }
  return report;
}

/**
 * Starts the background scrub when the scrubIntervalMs option is set (undefined
 * otherwise). `scrub` runs one pass as store.scrub() does, under store.lifecycle.
 */
export function startBackgroundScrub(
  store: { directory: string; options: ResolvedOptions; engine: StorageEngine },
  scrub: (options: ScrubOptions) => Promise<ScrubReport>,
): BackgroundScrub | undefined {
  const { scrubIntervalMs, scrubBytesPerSecond } = store.options;
  if (scrubIntervalMs === undefined) return undefined;
  const backgroundScrub = new BackgroundScrub({
    intervalMs: scrubIntervalMs,
    bytesPerSecond: scrubBytesPerSecond,
    scrub,
    onFailure: (error) => {
      store.engine.scrubCounters.failed();
      process.emitWarning(`ladybug-store background scrub of ${store.directory} failed: ${(error as Error).message}`, { code: 'LADYBUG_SCRUB_FAILED' });
    },
  });
  backgroundScrub.start();
  return backgroundScrub;
}
