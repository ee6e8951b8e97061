/**
 * One journal entry in journald's native protocol (systemd's "Native Journal Protocol" document): a sequence of
 * fields, each either `NAME=value\n` or, when the value holds a newline (or is binary), `NAME\n` + the value's length
 * as a 64-bit little-endian integer + the value + `\n`. Names: uppercase ASCII letters, digits and underscores, not
 * starting with a digit or an underscore (underscore-prefixed names are journald's trusted fields), at most 64
 * characters.
 */
import type { AegisEvent } from '../../event/types';
import { syslogSeverity } from '../../formatters/common';

/** Prefix of the event fields copied into the entry (AEGIS_TYPE, AEGIS_PID, …). */
export const FIELD_PREFIX = 'AEGIS_';
const MAX_FIELD_NAME = 64;

/**
 * The journal field name for an event key: prefixed, uppercased, every character outside [A-Z0-9_] replaced by
 * `_`, cut at 64 characters. Event keys are lower-case snake case, so this is a plain uppercase for all of them.
 */
export function journalFieldName(key: string): string {
  return (FIELD_PREFIX + key.toUpperCase().replace(/[^A-Z0-9_]/g, '_')).slice(0, MAX_FIELD_NAME);
}

/** A value as it goes into the journal: strings as they are, numbers and booleans in decimal / true|false. */
function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

/**
 * The event's fields as journal fields: every top-level scalar (type, action, pid, uid, comm, path, ino, dev,
 * remote_ip, …), plus AEGIS_INODE = "dev:ino" as the monitoring guide writes it. Arrays and objects (args, labels)
 * stay in MESSAGE only: a journal field holds one value per name per entry line, and repeating names would make
 * `journalctl -o json` turn them into arrays of unpredictable shape.
 */
export function journalFields(event: AegisEvent): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(event)) {
    const v = scalar(value);
    if (v !== undefined) out.push([journalFieldName(key), v]);
  }
  if (event.type === 'block') out.push([journalFieldName('inode'), `${event.dev}:${event.ino}`]);
  return out;
}

function appendField(parts: Buffer[], name: string, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (!bytes.includes(0x0a)) {
    parts.push(Buffer.from(`${name}=`, 'ascii'), bytes, NEWLINE);
    return;
  }
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  parts.push(Buffer.from(`${name}\n`, 'ascii'), length, bytes, NEWLINE);
}

const NEWLINE = Buffer.from('\n');

/** The whole entry for one event and its formatted MESSAGE. */
export function encodeJournalEntry(event: AegisEvent, message: string, identifier: string): Buffer {
  const parts: Buffer[] = [];
  appendField(parts, 'MESSAGE', message);
  appendField(parts, 'PRIORITY', String(syslogSeverity(event)));
  appendField(parts, 'SYSLOG_IDENTIFIER', identifier);
  for (const [name, value] of journalFields(event)) appendField(parts, name, value);
  return Buffer.concat(parts);
}
