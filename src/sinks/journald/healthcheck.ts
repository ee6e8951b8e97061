/**
 * The journald sink's healthcheck: connect a datagram socket to journald's socket, which fails (ECONNREFUSED) when
 * the socket file is left over from a journald that stopped. It does not send: the native protocol has no empty
 * message, so a probe datagram would be an entry in the journal or a complaint in journald's own log.
 */
import type { NativeBinding } from '../../native/binding';
import type { HealthResult } from '../core/types';
import { errnoName } from './retry-policy';

export function checkJournalSocket(socketPath: string, native: Pick<NativeBinding, 'journalProbe'>): HealthResult {
  const rc = native.journalProbe(socketPath);
  if (rc === 0) return { healthy: true };
  return { healthy: false, reason: `no journald listening on ${socketPath} (${errnoName(-rc)})` };
}
