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
// The long-running commands keep V8's young generation at 16 MiB per semi-space (Node 20's default). Node 24 lets it
// grow to 64 MiB, which took the pipeline's peak RSS from 125 to 205 MiB for no measurable CPU gain (docs/benchmarks.md,
// "Node 20 → Node 24"); a security agent should stay small on the hosts it protects. V8 reads the flag only at start-up
// (v8.setFlagsFromString has no effect on a running heap), so the launcher re-executes itself with it: same pid, same
// stdio, nothing loaded yet. A semi-space flag the user gave (command line or NODE_OPTIONS) wins; where process.execve
// does not exist (Node < 22.15) aegisbpf runs as it is.
const LONG_RUNNING = new Set(['run', 'replay']);
const SEMI_SPACE = '--max-semi-space-size';
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const nodeFlags = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)];
if (
  LONG_RUNNING.has(command) &&
  typeof process.execve === 'function' &&
  !nodeFlags.some((f) => f.startsWith(SEMI_SPACE))
) {
  process.execve(
    process.execPath,
    [process.execPath, `${SEMI_SPACE}=16`, ...process.execArgv, __filename, ...process.argv.slice(2)],
    process.env,
  );
}
// The process is called aegisbpf, not node, so that the guides' `pgrep aegisbpf`, `top -p $(pgrep aegisbpf)`, ps and
// systemd's "Main PID: … (aegisbpf)" find it: the kernel's comm (/proc/PID/comm, what pgrep, top and ps match and
// show) is set here, after the re-execution above (execve resets it to the executable's name). The command line
// (/proc/PID/cmdline, `ps -f`, `pgrep -f aegisbpf`) stays node's own, flags included: process.title would overwrite it.
try {
  require('node:fs').writeFileSync('/proc/self/comm', 'aegisbpf');
} catch {
  // not Linux, or /proc not mounted: the process keeps the name node
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
