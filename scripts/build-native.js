#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
'use strict';
// Builds the BPF objects (make -C bpf) and the native addon (node-gyp) during
// `npm ci` (package.json "install" script).
//
// When a prerequisite is missing (clang, bpftool, libbpf headers, kernel BTF,
// a C++ toolchain, Node headers) it says exactly what is missing, writes the
// reason to native/build/unavailable.json and exits 0: replay-only users are
// not blocked, and `aegisbpf health` reports the sensor cannot run, with this
// reason. When everything is present, a failing build fails the install, so
// CI never silently skips the sensor. AEGIS_SKIP_NATIVE=1 skips on purpose.
//
// Nothing is downloaded: node-gyp gets --nodedir pointing at the headers of
// the Node that runs this script. The addon uses Node-API (ABI-stable across
// majors), but it is still rebuilt from clean when that Node changes, so the
// build always matches the headers of the Node that runs it:
// native/build/aegis-node.json records which one built it.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const nativeDir = path.join(root, 'native');
const statusFile = path.join(nativeDir, 'build', 'unavailable.json');
const builtWithFile = path.join(nativeDir, 'build', 'aegis-node.json');

function log(msg) {
  process.stdout.write(`aegisbpf native build: ${msg}\n`);
}

function hasCommand(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

// The version in DIR/include/node/node_version.h, e.g. "24.22.3", or undefined.
function headersVersion(dir) {
  try {
    const h = fs.readFileSync(path.join(dir, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => (h.match(new RegExp(`#define ${name} (\\d+)`)) || [])[1];
    const v = [part('NODE_MAJOR_VERSION'), part('NODE_MINOR_VERSION'), part('NODE_PATCH_VERSION')];
    return v.every(Boolean) ? v.join('.') : undefined;
  } catch {
    return undefined;
  }
}

// Headers of the Node that runs this script: its own install prefix first (the official layout, also the cached
// build scripts/setup.sh installs), then npm_config_nodedir, but only when it holds the same version (a nodedir in
// ~/.npmrc may point at another Node).
function findNodeDir() {
  const candidates = [path.resolve(path.dirname(process.execPath), '..')];
  if (process.env.npm_config_nodedir) candidates.push(path.resolve(process.env.npm_config_nodedir));
  return candidates.find(
    (dir) =>
      fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) && headersVersion(dir) === process.versions.node,
  );
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.resolve(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a dependency: npm's bundled copy is enough
  }
  return candidates.find((p) => p && fs.existsSync(p));
}

function missingPrerequisites(nodeDir, nodeGyp) {
  const missing = [];
  const btf = process.env.VMLINUX_BTF || '/sys/kernel/btf/vmlinux';
  if (process.platform !== 'linux') missing.push(`Linux (this is ${process.platform})`);
  if (!hasCommand(process.env.CLANG || 'clang', ['--version'])) missing.push('clang (apt-get install clang llvm)');
  if (!hasCommand(process.env.BPFTOOL || 'bpftool', ['version'])) missing.push('bpftool (apt-get install bpftool)');
  if (!fs.existsSync('/usr/include/bpf/libbpf.h') && !hasCommand('pkg-config', ['--exists', 'libbpf'])) {
    missing.push('libbpf headers and library (apt-get install libbpf-dev libelf-dev zlib1g-dev)');
  }
  if (!fs.existsSync(btf)) missing.push(`kernel BTF at ${btf} (a kernel built with CONFIG_DEBUG_INFO_BTF=y)`);
  if (!hasCommand('make', ['--version'])) missing.push('make');
  if (!hasCommand(process.env.CXX || 'c++', ['--version'])) missing.push('a C++ compiler (apt-get install g++)');
  if (!nodeDir)
    missing.push(`Node.js ${process.versions.node} headers (include/node/node_api.h next to ${process.execPath})`);
  if (!nodeGyp) missing.push('node-gyp (ships with npm)');
  try {
    require.resolve('node-addon-api', { paths: [root] });
  } catch {
    missing.push('node-addon-api (npm dependency; run npm ci)');
  }
  return missing;
}

function run(cmd, args, opts) {
  log(`${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    log(
      `FAILED: ${cmd} exited with ${r.status ?? r.signal}. The prerequisites are present, so this is a real build error.`,
    );
    process.exit(1);
  }
}

function main() {
  fs.rmSync(statusFile, { force: true });
  process.chdir(root);
  if (process.env.AEGIS_SKIP_NATIVE === '1') {
    fs.mkdirSync(path.dirname(statusFile), { recursive: true });
    fs.writeFileSync(statusFile, JSON.stringify({ reason: 'skipped: AEGIS_SKIP_NATIVE=1 at install time' }) + '\n');
    log('skipped (AEGIS_SKIP_NATIVE=1). The sensor will report that it cannot run.');
    return;
  }
  const nodeDir = findNodeDir();
  const nodeGyp = findNodeGyp();
  const missing = missingPrerequisites(nodeDir, nodeGyp);
  if (missing.length > 0) {
    const reason = `missing build prerequisites: ${missing.join('; ')}`;
    fs.mkdirSync(path.dirname(statusFile), { recursive: true });
    fs.writeFileSync(statusFile, JSON.stringify({ reason, missing }, null, 2) + '\n');
    log(`NOT BUILT, ${reason}.`);
    log('Replay and other non-sensor sources still work; the eBPF sensor will report that it cannot run.');
    return;
  }
  run('make', ['-C', path.join(root, 'bpf')]);
  // Incremental after the first build (scripts/setup.sh runs this on every set-up): configure once, then build;
  // from clean when another Node (version or headers) built it last.
  const builtWith = JSON.stringify({ node: process.versions.node, nodeDir });
  let previous = '';
  try {
    previous = fs.readFileSync(builtWithFile, 'utf8').trim();
  } catch {
    // never built, or built before this file existed: configure from clean below
  }
  // node-gyp lets npm_config_nodedir (npm exports it from a nodedir in ~/.npmrc) win over --nodedir: set both.
  const gypEnv = { env: { ...process.env, npm_config_nodedir: nodeDir } };
  if (previous !== builtWith) {
    log(
      `building from clean for Node ${process.versions.node} (headers in ${nodeDir}; last build: ${previous || 'none recorded'})`,
    );
    run(process.execPath, [nodeGyp, 'clean', '--directory', nativeDir], gypEnv);
  }
  if (!fs.existsSync(path.join(nativeDir, 'build', 'Makefile')))
    run(process.execPath, [nodeGyp, 'configure', '--directory', nativeDir, `--nodedir=${nodeDir}`], gypEnv);
  run(process.execPath, [nodeGyp, 'build', '--directory', nativeDir, `--nodedir=${nodeDir}`], gypEnv);
  fs.writeFileSync(builtWithFile, builtWith + '\n');
  log('ok: bpf/build/aegis.bpf.o, bpf/build/probe.bpf.o, native/build/Release/aegis_native.node');
}

main();
