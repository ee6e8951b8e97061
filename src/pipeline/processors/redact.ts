/**
 * `redact`: remove or pseudonymize fields before they leave the host.
 * - `mode: drop` removes optional fields (required ones cannot be dropped: the event would no longer be valid).
 * - `mode: hash` replaces string values (and each element of `args`) with `sha256:<32 hex>`, an HMAC-SHA256 keyed
 *   by `salt` (or `salt_file`), so equal values still correlate in the SIEM without revealing them. Fields whose
 *   schema bound is shorter than the hash (comm) cannot be hashed.
 */
import { createHmac } from 'node:crypto';
import { EVENT_FIELDS, FIELD_KINDS } from '../../event/fields';
import type { AegisEvent } from '../../event/types';
import { fieldListSchema } from './common';
import type { ProcessorDefinition } from './types';

const NOT_HASHABLE = new Set([
  'comm',
  'parent_comm',
  'ts',
  'start_ts',
  'parent_start_ts',
  'type',
  'exec_id',
  'parent_exec_id',
  'family',
  'action',
  'mode',
  'direction',
  'status',
]);

function requiredSomewhere(field: string): boolean {
  return Object.values(EVENT_FIELDS).some((t) => t[field]?.required === true);
}

export const redactProcessor: ProcessorDefinition = {
  type: 'redact',
  description: 'Drop optional fields or replace string fields with a keyed hash.',
  secrets: ['salt'],
  optionsSchema: {
    properties: {
      fields: fieldListSchema('Fields to redact.'),
      mode: { type: 'string', enum: ['drop', 'hash'], description: 'drop (default) or hash.' },
      salt: {
        type: 'string',
        minLength: 16,
        description: 'HMAC key for mode hash (or salt_file). Keep it secret and stable to keep correlation.',
      },
    },
    required: ['fields'],
  },
  check(raw) {
    const problems: string[] = [];
    const mode = raw.mode === 'hash' ? 'hash' : 'drop';
    const fields = Array.isArray(raw.fields) ? (raw.fields as unknown[]) : [];
    fields.forEach((f, i) => {
      if (typeof f !== 'string') return;
      const kind = FIELD_KINDS.get(f);
      if (kind === undefined) problems.push(`fields.${i}: unknown field '${f}'`);
      else if (mode === 'drop' && requiredSomewhere(f))
        problems.push(`fields.${i}: '${f}' is required by the event schema and cannot be dropped; use mode: hash`);
      else if (mode === 'hash' && (NOT_HASHABLE.has(f) || (kind !== 'string' && kind !== 'string[]')))
        problems.push(`fields.${i}: '${f}' cannot be hashed (only free-text string fields can)`);
    });
    if (mode === 'hash' && raw.salt === undefined && raw.salt_file === undefined)
      problems.push('salt: mode hash needs a salt (or salt_file)');
    return problems;
  },
  create(raw, ctx) {
    const fields = raw.fields as string[];
    const hash = raw.mode === 'hash';
    const salt = typeof raw.salt === 'string' ? raw.salt : '';
    const digest = (v: string): string => 'sha256:' + createHmac('sha256', salt).update(v).digest('hex').slice(0, 32);
    const redactOne = (event: AegisEvent): AegisEvent => {
      const out: Record<string, unknown> = { ...event };
      for (const f of fields) {
        const v = out[f];
        if (v === undefined) continue;
        if (!hash) delete out[f];
        else if (typeof v === 'string') out[f] = digest(v);
        else if (Array.isArray(v)) out[f] = v.map((x) => digest(String(x)));
      }
      return out as unknown as AegisEvent;
    };
    return { name: ctx.name, type: 'redact', process: (events) => events.map(redactOne) };
  },
};
