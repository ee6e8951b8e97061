/**
 * scripts/check-imports.js: the real tree has no import circle and nothing imports upward, and the check does catch
 * both (named by file and line) in a small tree made up for the purpose.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { packagePath } from '../../src/util/paths';
import { makeTempDir } from '../helpers/tmp';

const SCRIPT = packagePath('scripts', 'check-imports.js');

function check(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}

void test('the source tree has no import circle and nothing imports upward', () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\d+ files, no import circles, nothing imports upward/);
});

void test('docs/development.md shows the layer table the check enforces', () => {
  const layers = check('--layers').stdout.trim();
  assert.match(layers, /^util → .* → cli$/);
  assert.ok(
    fs.readFileSync(packagePath('docs', 'development.md'), 'utf8').includes(layers),
    `docs/development.md quotes: ${layers}`,
  );
});

void test('a circle and an upward import in a synthetic tree are reported with the files, lines and layers', () => {
  const { dir, cleanup } = makeTempDir('aegis-imports-');
  try {
    writeTree(dir, {
      // A circle of type-only imports still counts.
      'src/util/a.ts': "import type { B } from './b';\nexport type A = B | 'a';\n",
      'src/util/b.ts':
        "// a line first, so the line number is checked\nimport type { A } from './a';\nexport type B = A | 'b';\n",
      // A three-file circle through export-from, require() and import().
      'src/event/e1.ts': "export { two } from './e2';\n",
      'src/event/e2.ts': "export const two = 2;\nconst three = require('./e3');\nvoid three;\n",
      'src/event/e3.ts': "export const e1 = () => import('./e1');\n",
      // native (layer 1) importing sensor (layer 2): upward. Specifiers in comments, strings and after a regex
      // literal containing a quote must be read correctly.
      'src/native/binding.ts': [
        "// import { nope } from '../cli/main';",
        'const text = "import x from \'../cli/main\'";',
        "const re = /'/;",
        "import { thing } from '../sensor/thing';",
        'export { text, re, thing };',
        '',
      ].join('\n'),
      'src/sensor/thing.ts': "import type { A } from '../util/a';\nexport const thing: A = 'a';\n",
      // formatters importing sensor, its sibling in the same row: also refused.
      'src/formatters/f.ts': "import { thing } from '../sensor/thing';\nexport const f = thing;\n",
      'src/cli/main.ts': "import { thing } from '../sensor/thing';\nexport const main = thing;\n",
    });
    const r = check('--root', dir);
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.includes('import circle: src/util/a.ts:1 → src/util/b.ts:2 → src/util/a.ts'), r.stderr);
    assert.ok(
      lines.includes('import circle: src/event/e1.ts:1 → src/event/e2.ts:2 → src/event/e3.ts:1 → src/event/e1.ts'),
      r.stderr,
    );
    assert.ok(
      lines.includes(
        'upward import: src/native/binding.ts:4 → src/sensor/thing.ts (native, layer 1, imports sensor, layer 2)',
      ),
      r.stderr,
    );
    assert.ok(
      lines.includes(
        'sideways import: src/formatters/f.ts:1 → src/sensor/thing.ts (formatters, layer 2, imports sensor, layer 2)',
      ),
      r.stderr,
    );
    // Nothing else: not the comment, not the string, not the downward imports (sensor → util, cli → sensor).
    assert.equal(lines.filter((l) => !l.startsWith('check-imports:')).length, 4, r.stderr);
    assert.match(lines.at(-1) ?? '', /^check-imports: 4 problem\(s\) in 9 files/);
  } finally {
    cleanup();
  }
});

void test('a folder missing from the layer table is reported, not ignored', () => {
  const { dir, cleanup } = makeTempDir('aegis-imports-');
  try {
    writeTree(dir, {
      'src/util/a.ts': 'export const a = 1;\n',
      'src/newthing/x.ts': "import { a } from '../util/a';\nexport const x = a;\n",
    });
    const r = check('--root', dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /folder not in the layer table \(scripts\/check-imports\.js LAYERS\): src\/newthing/);
  } finally {
    cleanup();
  }
});
