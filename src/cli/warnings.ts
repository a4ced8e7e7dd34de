/**
 * Process warnings under the `ladybug` command. The library reports what nobody awaits
 * through them (a block a read or a scrub rebuilt from parity, LADYBUG_BLOCK_REPAIRED; a
 * background scrub's damage or failure; a lost lock heartbeat) and leaves the printing to
 * the application. Node's own printer wrote two lines, "(node:<pid>) [CODE] Warning: ..."
 * and a "--trace-warnings" hint, beside the command's output, where README promises one
 * `ladybug: ` line: the command prints each warning as `ladybug: warning: <message> [<code>]`
 * instead, escaped as the error lines are. With warnings silenced (node --no-warnings,
 * NODE_NO_WARNINGS=1: Node then installs no printer) it prints none either.
 */
import { printableJson } from './output.js';

export function printWarningsAsLines(): void {
  const silenced = process.listenerCount('warning') === 0;
  process.removeAllListeners('warning'); // Node's printer, the only listener at start
  if (silenced) return;
  process.on('warning', (warning: Error & { code?: unknown }) => {
    const code = typeof warning.code === 'string' ? ` [${warning.code}]` : '';
    process.stderr.write(`ladybug: warning: ${printableJson(warning.message)}${code}\n`);
  });
}
