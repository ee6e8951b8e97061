/** Every error code in src/util/errors.ts is documented in docs/errors.md and every documented code exists. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ERROR_CODES } from '../../src/util/errors';
import { packagePath } from '../../src/util/paths';

test('docs/errors.md documents exactly the codes in ERROR_CODES', () => {
  const doc = fs.readFileSync(packagePath('docs', 'errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^## `(AEGIS_ERR_[A-Z0-9_]+)`/gm)].map((m) => m[1]));
  const defined = new Set(Object.keys(ERROR_CODES));
  assert.deepEqual(
    [...defined].filter((c) => !documented.has(c)),
    [],
    'codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...documented].filter((c) => !defined.has(c as string)),
    [],
    'documented codes that do not exist',
  );
});

test('every code used in src/ is defined', () => {
  const used = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts'))
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/'(AEGIS_ERR_[A-Z0-9_]+)'/g)) used.add(m[1] as string);
    }
  };
  walk(packagePath('src'));
  assert.deepEqual(
    [...used].filter((c) => !(c in ERROR_CODES)),
    [],
  );
});
