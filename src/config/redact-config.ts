/**
 * The configuration as `aegisbpf debug bundle` includes it: every secret replaced by `[REDACTED]`. A secret is a key
 * a sink or processor declares secret (`token`, `password`, …, src/sinks/core/definition.ts `secrets`), or any key
 * whose name says it is one (password, secret, token, api_key, private key, credentials, authorization): what an
 * operator wrote inline or through `${ENV}` (already substituted in the document). `*_file` keys are paths, kept.
 * The values removed are returned too, so that the bundle's other files (logs) can be scrubbed of them.
 */
import { getSinkDefinition } from '../sinks/registry';

export const REDACTED = '[REDACTED]';
const SECRET_NAME = /(pass(word|phrase)?|secret|token|api_?key|private_?key|credential|authorization|^key$)/i;

function redactNode(value: unknown, secretKeys: ReadonlySet<string>, found: string[], depth: number): unknown {
  if (depth > 32) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactNode(v, secretKeys, found, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const isSecret = !k.endsWith('_file') && (secretKeys.has(k) || SECRET_NAME.test(k));
    if (isSecret && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
      if (String(v) !== '') found.push(String(v));
      out[k] = REDACTED;
    } else out[k] = redactNode(v, secretKeys, found, depth + 1);
  }
  return out;
}

export function redactConfigDocument(doc: Readonly<Record<string, unknown>>): {
  document: Record<string, unknown>;
  secretValues: string[];
} {
  const found: string[] = [];
  const sinks = (doc.sinks ?? {}) as Record<string, unknown>;
  const secretKeys = new Set<string>();
  for (const raw of Object.values(sinks)) {
    const type = (raw as { type?: unknown } | null)?.type;
    for (const s of (typeof type === 'string' ? getSinkDefinition(type)?.secrets : undefined) ?? []) secretKeys.add(s);
  }
  const document = redactNode(doc, secretKeys, found, 0) as Record<string, unknown>;
  return { document, secretValues: found };
}
