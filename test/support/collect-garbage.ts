/**
 * Full garbage collections from a test, for tests that check what a dropped or ended
 * reader lets go of (FinalizationRegistry callbacks, WeakRefs, memory figures).
 * `--expose-gc` is set at run time; `gc` is taken from a new context, where V8 installs it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
export const collectGarbage = runInNewContext('gc') as () => void;

/** `turns` rounds of: wait `delayMs` (timers and finalizers run), then a full collection. */
export async function collectAfterTurns(turns = 4, delayMs = 2): Promise<void> {
  for (let turn = 0; turn < turns; turn++) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    collectGarbage();
  }
}
