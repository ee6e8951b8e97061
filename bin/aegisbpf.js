#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is TypeScript compiled to dist/. Keep this file free of logic.
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
try {
  require.resolve(entry);
} catch {
  process.stderr.write('aegisbpf: not built yet (dist/ is missing). Run `npm ci` and `npm run build`, or `bash scripts/run.sh`.\n');
  process.exit(2);
}
require(entry).main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'FATAL', msg: String(err && err.stack || err) }) + '\n');
    process.exitCode = 1;
  },
);
