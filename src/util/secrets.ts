/**
 * Secrets: `<key>_file` values are read when a component is built (not while validating), and secret values are
 * redacted wherever configuration is printed or logged.
 */
import fs from 'node:fs';
import { AegisError, describeError } from './errors';
import type { Logger } from './logger';

/**
 * Return a copy of `raw` in which every `<secret>_file` is replaced by `<secret>` read from that file (one trailing
 * newline removed). Every problem is a configuration error (exit 2, nothing started), named by key and path:
 * AEGIS_ERR_CONFIG_READ when the file cannot be read (missing, a directory, no permission), AEGIS_ERR_CONFIG_INVALID
 * when it is empty or only whitespace, in the words the schema uses for an empty inline value (`minLength: 1` on
 * every secret), since an empty secret fails later and less clearly (an empty HEC token is a 401 per batch).
 */
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
    const key = `${where}.${s}_file`;
    let text: string;
    try {
      const st = fs.statSync(file);
      if (st.isDirectory()) throw new Error('it is a directory, not a file');
      if ((st.mode & 0o004) !== 0)
        logger?.warn('A secret file is world-readable; restrict it to the aegisbpf user (chmod 600).', {
          key,
          path: file,
        });
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new AegisError('AEGIS_ERR_CONFIG_READ', `${key}: cannot read ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
    const value = text.replace(/\r?\n$/, '');
    if (value.trim() === '')
      throw new AegisError(
        'AEGIS_ERR_CONFIG_INVALID',
        `${key}: ${file} is ${value === '' ? 'empty' : 'only whitespace'}; ${where}.${s}: must NOT have fewer than 1 characters`,
      );
    out[s] = value;
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
