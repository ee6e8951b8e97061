#!/usr/bin/env node
'use strict';
// Runs the compiled test files (dist/test/**/*.test.js) with Node's built-in test runner.
// Usage: node scripts/run-tests.js [substring ...]   (only files whose path contains one of the substrings)
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', 'dist', 'test');
if (!fs.existsSync(root)) {
  console.error('dist/test is missing: run `npm run build` first.');
  process.exit(2);
}
const files = [];
(function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (entry.name.endsWith('.test.js')) files.push(p);
  }
})(root);
// tsc never deletes outputs: a test that was moved or removed leaves its old compiled copy (and the old compiled
// modules it imports) in dist/. Run only compiled tests whose test/**/*.test.ts still exists.
const sourceOf = (f) =>
  path.join(__dirname, '..', path.relative(path.join(__dirname, '..', 'dist'), f).replace(/\.js$/, '.ts'));
for (let i = files.length - 1; i >= 0; i--) if (!fs.existsSync(sourceOf(files[i]))) files.splice(i, 1);
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(2);
}
const reporter = process.env.AEGIS_TEST_REPORTER || 'spec';
const args = ['--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout'];
if (process.env.AEGIS_TEST_CONCURRENCY) args.push(`--test-concurrency=${process.env.AEGIS_TEST_CONCURRENCY}`);
const result = spawnSync(process.execPath, [...args, ...selected], { stdio: 'inherit' });
process.exit(result.status === null ? 1 : result.status);
