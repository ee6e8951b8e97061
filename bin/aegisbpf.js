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
// The long-running commands start with memory settings chosen for a small, steady RSS (docs/benchmarks.md, "Memory";
// issue 23). V8 reads its flags and glibc its malloc tunables only at start-up (v8.setFlagsFromString has no effect
// on a running heap), so the launcher re-executes itself with them: same pid, same stdio, nothing loaded yet.
// - --max-semi-space-size=16: Node 24 lets the young generation grow to 64 MiB per semi-space, which took the
//   pipeline's peak RSS from 125 to 205 MiB for no measurable CPU gain ("Node 20 → Node 24").
// - --heap-growing-percent=100: a major GC once the old generation has doubled over what the last one left
//   alive. V8's own growth factor (up to 4×) let ~100 MiB of dead formatted records and request bodies pile up
//   between the few major GCs of a run. What stays alive is bounded by the sinks' byte bounds (buffer.max_bytes,
//   batch.max_bytes × request.concurrency), so the heap follows them; unlike --max-old-space-size this is no hard
//   cap: a configuration with larger bounds gets a larger heap, never an out-of-memory abort.
// - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool compressing request bodies) an arena of
//   its own, whose freed pages stay in RSS.
// Overrides: a flag of the same name given to node (command line or NODE_OPTIONS) or MALLOC_ARENA_MAX in the
// environment wins; AEGIS_NODE_FLAGS replaces the launcher's flags altogether ("" for none). Where process.execve
// does not exist (Node < 22.15) aegisbpf runs as it is.
const LONG_RUNNING = new Set(['run', 'replay']);
const DEFAULT_NODE_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=100'];
const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)].map((f) => f.split('=')[0]);
const wanted =
  process.env.AEGIS_NODE_FLAGS === undefined
    ? DEFAULT_NODE_FLAGS
    : process.env.AEGIS_NODE_FLAGS.split(/\s+/).filter((f) => f !== '');
const missing = wanted.filter((f) => !given.includes(f.split('=')[0]));
const arenaSet = process.env.MALLOC_ARENA_MAX !== undefined;
if (LONG_RUNNING.has(command) && typeof process.execve === 'function' && (missing.length > 0 || !arenaSet)) {
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, __filename, ...process.argv.slice(2)],
    arenaSet ? process.env : { ...process.env, MALLOC_ARENA_MAX: '2' },
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
