/**
 * The peak resident set of this process, for the bench children's "peak RSS" figures.
 *
 * Linux: VmHWM from /proc/self/status, the high-water mark of this process's address
 * space, which starts afresh at exec. Not `process.resourceUsage().maxRSS` (getrusage's
 * ru_maxrss): Linux carries it across exec, so a child forked from the bench harness
 * starts with the harness's RSS as its peak (a child of a parent holding 300 MiB
 * reported maxRSS 304 MiB with VmHWM 41 MiB), and every engine's figure was at least
 * the harness's size. Elsewhere (no /proc): maxRSS, and `source` says so.
 *
 * Invariant: never throws; the figure is bytes; `source` names what the figure is.
 */
import { readFileSync } from 'node:fs';

export type PeakRssSource = 'VmHWM' | 'maxRSS';

export interface PeakRss {
  readonly bytes: number;
  readonly source: PeakRssSource;
}

const KIBIBYTE = 1024;

export function peakRss(): PeakRss {
  const highWaterKibibytes = statusKibibytes('VmHWM');
  if (highWaterKibibytes !== undefined) return { bytes: highWaterKibibytes * KIBIBYTE, source: 'VmHWM' };
  return { bytes: process.resourceUsage().maxRSS * KIBIBYTE, source: 'maxRSS' };
}

/** A report's figure for the source: 1 for VmHWM, 0 for maxRSS (figures maps hold numbers only). */
export function peakRssFromHighWater(peak: PeakRss): number {
  return peak.source === 'VmHWM' ? 1 : 0;
}

/** A `kB` line of /proc/self/status, or undefined where there is none (not Linux, no procfs). */
function statusKibibytes(field: string): number | undefined {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match === null ? undefined : Number(match[1]);
}
