/** `journald` sink configuration: pure schema, checks and parsing. */
import type { JsonSchemaObject } from '../../formatters/types';

export interface JournaldSinkConfig {
  /** journald's native-protocol datagram socket. */
  readonly socketPath: string;
  /** SYSLOG_IDENTIFIER of every entry (what `journalctl -t` selects). */
  readonly identifier: string;
}

export const DEFAULT_JOURNAL_SOCKET = '/run/systemd/journal/socket';
export const DEFAULT_IDENTIFIER = 'aegisbpf';
/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export const journaldConfigSchema: { properties: Record<string, JsonSchemaObject> } = {
  properties: {
    socket_path: {
      type: 'string',
      minLength: 1,
      description: `journald's native protocol socket (default ${DEFAULT_JOURNAL_SOCKET}; a journal namespace NS listens on /run/systemd/journal.NS/socket).`,
    },
    identifier: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[^\\s=]+$',
      description: `SYSLOG_IDENTIFIER of the entries (default "${DEFAULT_IDENTIFIER}"; \`journalctl -t\` selects by it).`,
    },
  },
};

export function checkJournaldConfig(raw: Readonly<Record<string, unknown>>): string[] {
  const p = raw.socket_path;
  if (typeof p !== 'string') return [];
  if (!p.startsWith('/')) return ['socket_path: must be an absolute path'];
  if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES)
    return [`socket_path: must be at most ${MAX_SOCKET_PATH_BYTES} bytes (a unix socket address)`];
  return [];
}

export function parseJournaldConfig(raw: Readonly<Record<string, unknown>>): JournaldSinkConfig {
  return {
    socketPath: typeof raw.socket_path === 'string' ? raw.socket_path : DEFAULT_JOURNAL_SOCKET,
    identifier: typeof raw.identifier === 'string' ? raw.identifier : DEFAULT_IDENTIFIER,
  };
}
