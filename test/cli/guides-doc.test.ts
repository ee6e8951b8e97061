/**
 * docs/guides.md, the one table of departures from the guides: every test file, page and anchor it points to exists,
 * its departures are numbered without gaps, and each row has the guide, what it says, what aegisbpf does and why.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { packagePath } from '../../src/util/paths';
import { headingAnchors } from '../helpers/markdown';

const DOC = fs.readFileSync(packagePath('docs', 'guides.md'), 'utf8');

void test('docs/guides.md: the test files and pages it names exist, with the anchors it links', () => {
  for (const m of DOC.matchAll(/\btest\/[\w./-]+/g)) {
    const p = m[0].replace(/[.)]+$/, '');
    assert.ok(fs.existsSync(packagePath(p)), `${p} exists`);
  }
  for (const m of DOC.matchAll(/\]\(([^)#\s]+)(?:#([^)\s]+))?\)/g)) {
    const file = path.join(packagePath('docs'), m[1]!);
    assert.ok(fs.existsSync(file), `${m[1]} exists`);
    if (m[2] !== undefined) assert.ok(headingAnchors(fs.readFileSync(file, 'utf8')).has(m[2]), `${m[1]}#${m[2]}`);
  }
});

void test('docs/guides.md: departures numbered 1…n, each with guide, statement, what aegisbpf does and why', () => {
  const rows = DOC.split('\n').filter((l) => /^\| \d+ \|/.test(l));
  assert.ok(rows.length >= 30);
  rows.forEach((row, i) => {
    const cells = row
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    assert.equal(cells[0], String(i + 1));
    assert.match(cells[1]!, /^(SIEM|monitoring|Blixard)$/);
    for (const c of cells.slice(2)) assert.ok(c.length > 3, `row ${i + 1} has every column filled`);
    assert.equal(cells.length, 5, `row ${i + 1}: 5 columns`);
  });
  // The corrections the issue names are among them.
  for (const needle of ['`dst=<path>`', 'Wazuh', 'QRadar', 'HighMemory at 100 MB'])
    assert.ok(
      rows.some((r) => r.includes(needle)),
      needle,
    );
});
