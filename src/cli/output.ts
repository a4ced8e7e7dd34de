/**
 * One result object per command, printed as JSON or as aligned text. The text is
 * generated from the same object, field by field, so the two never disagree.
 */

export interface Output {
  title: string;
  data: unknown;
}

function replacer(_key: string, value: unknown): unknown {
  // undefined becomes null so JSON keeps every field the text rendering shows.
  if (value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

function renderValue(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'string') return value;
  return JSON.stringify(value, replacer);
}

function renderLines(data: unknown, indent: string, lines: string[]): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    if (Array.isArray(data) && data.every((item) => item !== null && typeof item === 'object')) {
      data.forEach((item, index) => {
        lines.push(`${indent}[${index}]`);
        renderLines(item, `${indent}  `, lines);
      });
      return;
    }
    lines.push(`${indent}${renderValue(data)}`);
    return;
  }
  const entries = Object.entries(data as Record<string, unknown>);
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  for (const [key, value] of entries) {
    if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      lines.push(`${indent}${key}:`);
      renderLines(value, `${indent}  `, lines);
    } else {
      lines.push(`${indent}${key.padEnd(width)}  ${renderValue(value)}`);
    }
  }
}

export function printResult(output: Output, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(output.data, replacer, 2)}\n`);
    return;
  }
  const lines = [output.title];
  renderLines(output.data, '  ', lines);
  process.stdout.write(`${lines.join('\n')}\n`);
}
