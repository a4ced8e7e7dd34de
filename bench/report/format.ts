/**
 * Number formatting shared by the console table, Markdown and SVG.
 */

export function formatRate(unitsPerSecond: number | undefined): string {
  if (unitsPerSecond === undefined) return '—';
  if (unitsPerSecond < 10) return unitsPerSecond.toFixed(2);
  return Math.round(unitsPerSecond).toLocaleString('en-US');
}

export function formatMicroseconds(microseconds: number | undefined): string {
  if (microseconds === undefined) return '—';
  if (microseconds < 10) return microseconds.toFixed(2);
  if (microseconds < 1_000) return microseconds.toFixed(1);
  return Math.round(microseconds).toLocaleString('en-US');
}

export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return '—';
  if (ratio >= 100) return `${Math.round(ratio)}×`;
  return ratio >= 0.1 ? `${ratio.toFixed(2)}×` : `${ratio.toPrecision(2)}×`;
}

export function formatBytes(bytes: number): string {
  const gibibytes = bytes / (1 << 30);
  return gibibytes >= 1 ? `${gibibytes.toFixed(1)} GiB` : `${(bytes / (1 << 20)).toFixed(0)} MiB`;
}

export function formatCount(count: number | undefined): string {
  if (count === undefined) return '—';
  return Number.isInteger(count) ? count.toLocaleString('en-US') : count.toFixed(2);
}

/** "2025-11-22-104012" from an ISO timestamp, for file names. */
export function fileStamp(isoTimestamp: string): string {
  return isoTimestamp.slice(0, 19).replace('T', '-').replaceAll(':', '');
}

export function formatMilliseconds(milliseconds: number | undefined): string {
  if (milliseconds === undefined) return '—';
  if (milliseconds < 10) return milliseconds.toFixed(2);
  if (milliseconds < 100) return milliseconds.toFixed(1);
  return Math.round(milliseconds).toLocaleString('en-US');
}
