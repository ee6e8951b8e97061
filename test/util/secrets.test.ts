/**
 * resolveSecretFiles: `<secret>_file` values become secrets; every problem reading one is a configuration error that
 * names the key and the path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { resolveSecretFiles } from '../../src/util/secrets';
import { makeTempDir } from '../helpers/tmp';

function codeOf(fn: () => unknown): { code: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
  assert.fail('expected a throw');
}

test('regression: a missing or directory secret file is AEGIS_ERR_CONFIG_READ; an empty or blank one is refused like an empty value', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const missing = path.join(dir, 'missing');
    const resolve = (file: string) => () => resolveSecretFiles('sinks.hec', { token_file: file }, ['token']);
    assert.deepEqual(codeOf(resolve(missing)), {
      code: 'AEGIS_ERR_CONFIG_READ',
      message: `sinks.hec.token_file: cannot read ${missing}: ENOENT: no such file or directory, stat '${missing}'`,
    });
    assert.deepEqual(codeOf(resolve(dir)), {
      code: 'AEGIS_ERR_CONFIG_READ',
      message: `sinks.hec.token_file: cannot read ${dir}: it is a directory, not a file`,
    });
    for (const [content, what] of [
      ['', 'empty'],
      ['\n', 'empty'],
      [' \t\r\n \n', 'only whitespace'],
    ] as const) {
      const f = path.join(dir, 'token');
      fs.writeFileSync(f, content, { mode: 0o600 });
      assert.deepEqual(codeOf(resolve(f)), {
        code: 'AEGIS_ERR_CONFIG_INVALID',
        message: `sinks.hec.token_file: ${f} is ${what}; sinks.hec.token: must NOT have fewer than 1 characters`,
      });
    }
    const f = path.join(dir, 'token');
    fs.writeFileSync(f, 'tok-123\r\n', { mode: 0o600 });
    assert.deepEqual(resolveSecretFiles('sinks.hec', { token_file: f, x: 1 }, ['token']), { token: 'tok-123', x: 1 });
  } finally {
    cleanup();
  }
});
