import type { HealthResult } from '../core/types';

/** stdout is healthy while it is writable. */
export function checkStdout(stream: NodeJS.WritableStream & { destroyed?: boolean; writable?: boolean }): HealthResult {
  return stream.destroyed === true || stream.writable === false
    ? { healthy: false, reason: 'stdout is closed' }
    : { healthy: true };
}
