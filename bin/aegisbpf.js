#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is TypeScript compiled to dist/. Keep this file free of logic, and parseable by old Nodes:
// the version check below must run before anything that needs a newer one.
// The floor is package.json "engines" (test/cli/node-version.test.ts keeps the two equal).
const MIN_NODE = [22, 12, 0];
const found = process.versions.node.split('.').map(Number);
const tooOld = found[0] !== MIN_NODE[0] ? found[0] < MIN_NODE[0] : found[1] < MIN_NODE[1];
if (tooOld) {
  process.stderr.write(
    `aegisbpf: Node.js ${process.versions.node} (${process.execPath}) is too old: aegisbpf needs Node.js >= ${MIN_NODE.join('.')} ` +
      '(LTS 22, 24 or 26). `bash scripts/setup.sh` installs Node 24 into ~/.cache/aegisbpf/node; then start aegisbpf with `bash scripts/run.sh`.\n',
  );
  process.exit(1);
}
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
try {
  require.resolve(entry);
} catch {
  process.stderr.write(
    'aegisbpf: not built yet (dist/ is missing). Run `npm ci` and `npm run build`, or `bash scripts/run.sh`.\n',
  );
  process.exit(2);
}
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(
        JSON.stringify({ ts: new Date().toISOString(), level: 'FATAL', msg: String((err && err.stack) || err) }) + '\n',
      );
      process.exitCode = 1;
    },
  );
