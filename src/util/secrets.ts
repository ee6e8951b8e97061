/**
 * Secrets: `<key>_file` values are read when a component is built (not while validating), and secret values are
 * redacted wherever configuration is printed or logged.
 */
import fs from 'node:fs';
import { AegisError, describeError } from './errors';
import type { Logger } from './logger';

/** Return a copy of `raw` in which every `<secret>_file` is replaced by `<secret>` read from that file. */
export function resolveSecretFiles(
  where: string,
  raw: Readonly<Record<string, unknown>>,
  secrets: readonly string[] | undefined,
  logger?: Logger,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const s of secrets ?? []) {
    const file = raw[`${s}_file`];
    if (typeof file !== 'string') continue;
    let text: string;
    try {
      const st = fs.statSync(file);
      if ((st.mode & 0o004) !== 0)
        logger?.warn('A secret file is world-readable; restrict it to the aegisbpf user (chmod 600).', {
          key: `${where}.${s}_file`,
          path: file,
        });
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new AegisError('AEGIS_ERR_CONFIG_READ', `${where}.${s}_file: cannot read ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    out[s] = text.replace(/\r?\n$/, '');
    delete out[`${s}_file`];
  }
  return out;
}

/** A copy of `raw` with the values of secret keys replaced by "<redacted>". */
export function redactSecrets(
  raw: Readonly<Record<string, unknown>>,
  secrets: readonly string[] | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const s of secrets ?? []) if (out[s] !== undefined) out[s] = '<redacted>';
  return out;
}
