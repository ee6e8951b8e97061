/**
 * Contract of every registered formatter, whoever wrote it and whenever it was added (the list comes from the
 * registry, not from this file):
 * - every golden case (test/formatters/golden/events/*.json) has exactly one golden file
 *   test/formatters/golden/<format>/<case>.<ext> for the default options, and the output matches it byte for byte
 *   (a string output followed by one newline, or, tolerated, without it; a record as indented JSON + newline).
 *   Other files in the directory (a format's own option variants) are that format's test's business;
 * - a string formatter never writes a raw CR or LF (one event, one line) unless its definition says `multiLine`;
 * - output is deterministic: the same event gives the same bytes from the same instance (also after other events,
 *   which catches caches keyed wrongly) and from a fresh instance.
 * `AEGIS_UPDATE_GOLDEN=1` writes missing or changed golden files (review the diff).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { createFormatter, formatterNames, getFormatterDefinition } from '../../src/formatters/registry';
import type { Formatter } from '../../src/formatters/types';
import { adversarialEvent } from '../helpers/adversarial';
import { generateEvents } from '../helpers/events';
import { GOLDEN_CONTEXT, GOLDEN_DIR, goldenBytes, goldenCases, goldenFilesFor } from './golden';

const cases = goldenCases();
const names = formatterNames();
const update = process.env.AEGIS_UPDATE_GOLDEN === '1';

const build = (name: string): Formatter<unknown> => createFormatter<unknown>(name, GOLDEN_CONTEXT);
const bytesOf = (output: unknown): string => goldenBytes(output);

function extensionFor(f: Formatter<unknown>, output: unknown): string {
  if (typeof output !== 'string' || f.contentType.startsWith('application/json')) return 'json';
  return f.name;
}

test('the registry lists at least the formats of this branch', () => {
  for (const n of ['json', 'cef', 'leef', 'ocsf', 'kafka']) assert.ok(names.includes(n), n);
});

for (const name of names) {
  test(`${name}: every golden case has one golden file and matches it byte for byte`, () => {
    const f = build(name);
    const problems: string[] = [];
    for (const { name: caseName, event } of cases) {
      const output = f.format(event);
      const expected = bytesOf(output);
      const files = goldenFilesFor(name, caseName);
      if (update) {
        const file = files[0] ?? path.join(GOLDEN_DIR, name, `${caseName}.${extensionFor(f, output)}`);
        const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
        if (current !== expected && !(typeof output === 'string' && current === output)) {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, expected);
        }
        continue;
      }
      if (files.length !== 1) {
        problems.push(
          `${name}/${caseName}: ${files.length} golden files (expected 1; AEGIS_UPDATE_GOLDEN=1 writes missing ones)`,
        );
        continue;
      }
      const actual = fs.readFileSync(files[0] as string);
      const ok =
        Buffer.compare(actual, Buffer.from(expected, 'utf8')) === 0 ||
        (typeof output === 'string' && Buffer.compare(actual, Buffer.from(output, 'utf8')) === 0);
      if (!ok)
        problems.push(
          `${path.relative(GOLDEN_DIR, files[0] as string)} differs from the output:\n  golden: ${JSON.stringify(actual.toString('utf8').slice(0, 300))}\n  output: ${JSON.stringify(expected.slice(0, 300))}`,
        );
    }
    assert.deepEqual(problems, []);
  });

  test(`${name}: one event is one line (no raw CR/LF) unless documented multi-line`, (t) => {
    const def = getFormatterDefinition(name)!;
    if (def.output !== 'string') {
      t.skip(`${name} produces ${def.output}s, which are not line-framed`);
      return;
    }
    if (def.multiLine === true) {
      t.skip(`${name} is documented as multi-line`);
      return;
    }
    const f = build(name);
    for (const { name: caseName, event } of cases) {
      const out = f.format(event) as string;
      assert.ok(!/[\r\n]/.test(out), `${name}/${caseName} contains a raw CR or LF`);
    }
    fc.assert(
      fc.property(adversarialEvent, (e) => {
        assert.ok(!/[\r\n]/.test(f.format(e) as string));
      }),
      { numRuns: 200 },
    );
  });

  test(`${name}: deterministic (same event, same bytes; after other events; from a fresh instance)`, () => {
    const f = build(name);
    const others: AegisEvent[] = generateEvents(20, { seed: 7, adversarial: true, startMillis: Date.UTC(2031, 0, 1) });
    for (const { event } of cases) {
      const first = bytesOf(f.format(event));
      for (const o of others) f.format(o);
      assert.equal(bytesOf(f.format(event)), first, 'same instance, after other events');
      assert.equal(bytesOf(build(name).format(event)), first, 'fresh instance');
    }
    fc.assert(
      fc.property(adversarialEvent, adversarialEvent, (a, b) => {
        const once = bytesOf(f.format(a));
        f.format(b);
        assert.equal(bytesOf(f.format(a)), once);
      }),
      { numRuns: 100 },
    );
  });
}
