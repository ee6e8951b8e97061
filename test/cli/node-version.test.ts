import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../helpers/tmp';
import { packagePath } from '../../src/util/paths';

const bin = packagePath('bin', 'aegisbpf.js');
// The machine's own Node (Debian's /usr/bin/node here is 20, end of life since 2026-04-30).
const machineNode = '/usr/bin/node';

function nodeVersionOf(exe: string): string | undefined {
  const r = spawnSync(exe, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function olderThan(version: string, min: [number, number]): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major !== min[0] ? major < min[0] : minor < min[1];
}

const machineVersion = fs.existsSync(machineNode) ? nodeVersionOf(machineNode) : undefined;
const machineSkip =
  machineVersion === undefined
    ? `no runnable ${machineNode} on this machine`
    : olderThan(machineVersion, [22, 12])
      ? false
      : `${machineNode} is ${machineVersion}, a supported Node: nothing to refuse`;

test(
  'bin/aegisbpf.js under an unsupported Node: one line on stderr (found, needed, how to get it), exit 1',
  { skip: machineSkip },
  () => {
    const r = spawnSync(machineNode, [bin, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 2, `exactly one line, got: ${r.stderr}`);
    assert.equal(lines[1], '');
    assert.ok(lines[0]!.includes(`Node.js ${machineVersion!}`), lines[0]);
    assert.match(lines[0]!, />= 22\.12\.0/);
    assert.match(lines[0]!, /bash scripts\/setup\.sh/);
  },
);

test('bin/aegisbpf.js under the Node the project runs on starts normally', () => {
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^aegisbpf /);
});

test('the Node floor is one number: package.json engines, bin/aegisbpf.js and scripts/lib/node.sh agree', () => {
  const engines = (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { engines: { node: string } })
    .engines.node;
  const floor = /^>=(\d+)\.(\d+)$/.exec(engines);
  assert.ok(floor, `engines.node is a plain floor: ${engines}`);
  const binMin = /const MIN_NODE = \[(\d+), (\d+), 0\];/.exec(fs.readFileSync(bin, 'utf8'));
  assert.deepEqual(binMin?.slice(1, 3), floor.slice(1, 3));
  const shMin = /^AEGIS_NODE_MIN=(\d+)\.(\d+)\.0\b/m.exec(
    fs.readFileSync(packagePath('scripts', 'lib', 'node.sh'), 'utf8'),
  );
  assert.deepEqual(shMin?.slice(1, 3), floor.slice(1, 3));
  assert.ok(
    !olderThan(process.versions.node, [Number(floor[1]), Number(floor[2])]),
    `the suite runs on ${process.versions.node}`,
  );
});

// aegis_node_supported with a stand-in `node` that reports VERSION, on the day TODAY.
function supported(dir: string, version: string, today: string): boolean {
  const fake = path.join(dir, `node-${version}`);
  fs.writeFileSync(fake, `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  const r = spawnSync('bash', ['-c', 'source scripts/lib/node.sh && aegis_node_supported "$1"', 'x', fake], {
    cwd: packagePath(),
    env: { ...process.env, AEGIS_TODAY: today },
  });
  return r.status === 0;
}

test('setup uses the machine node only when it is an LTS line still supported on that day, at or above the floor', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    assert.equal(supported(dir, '20.20.2', '2026-12-06'), false, '20: end of life 2026-04-30');
    assert.equal(supported(dir, '20.20.2', '2026-04-01'), false, '20 is below the engines floor, whatever the day');
    assert.equal(supported(dir, '22.11.0', '2026-12-06'), false, 'below 22.12');
    assert.equal(supported(dir, '22.12.0', '2026-12-06'), true);
    assert.equal(supported(dir, '22.22.0', '2027-04-30'), true, 'last day of 22');
    assert.equal(supported(dir, '22.22.0', '2027-05-01'), false, '22 ended 2027-04-30');
    assert.equal(supported(dir, '23.11.0', '2026-12-06'), false, 'odd lines are never LTS');
    assert.equal(supported(dir, '24.22.3', '2026-12-06'), true);
    assert.equal(supported(dir, '24.22.3', '2028-05-01'), false, '24 ends 2028-04-30');
    assert.equal(supported(dir, '26.12.1', '2026-12-06'), true);
  } finally {
    cleanup();
  }
});

// scripts/lib/steps.sh: one line per step, output in the log, the failed step's output shown in full.
function runSteps(dir: string, script: string): { status: number | null; stderr: string; log: string } {
  const r = spawnSync(
    'bash',
    [
      '-c',
      `set -euo pipefail; source "$1"; aegis_log_open t; ${script}`,
      'x',
      packagePath('scripts', 'lib', 'steps.sh'),
    ],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, AEGIS_STEP_LOG: '' },
    },
  );
  return {
    status: r.status,
    stderr: r.stderr,
    log: fs.readFileSync(path.join(dir, '.cache', 'logs', 't.log'), 'utf8'),
  };
}

test('set-up steps: one line each, package-manager output only in the log; a failing step prints its output and exits non-zero', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const ok = runSteps(
      dir,
      `aegis_step "apt packages (x) for y" bash -c 'for i in $(seq 500); do echo dpkg line $i; done'; aegis_note "already z"`,
    );
    assert.equal(ok.status, 0);
    const lines = ok.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 3, ok.stderr);
    assert.match(lines[0]!, /^setup: .*output goes to .*\.cache\/logs\/t\.log$/);
    assert.match(lines[1]!, /^setup: apt packages \(x\) for y … \d+\.\d s$/);
    assert.equal(lines[2], 'setup: already z');
    assert.match(ok.log, /dpkg line 500\n/);

    const skipped = runSteps(dir, `aegis_step "syslog-ng" bash -c 'echo noise; echo not available here; exit 3'`);
    assert.equal(skipped.status, 0);
    assert.match(skipped.stderr, /setup: syslog-ng … skipped: not available here \(\d+\.\d s\)\n$/);

    const failed = runSteps(
      dir,
      `aegis_step "first" true; aegis_step "npm ci" bash -c 'echo ERR the cause >&2; exit 7'; echo not reached`,
    );
    assert.equal(failed.status, 7);
    assert.match(failed.stderr, /setup: npm ci … FAILED \(exit 7\)/);
    assert.match(failed.stderr, /ERR the cause/);
    assert.doesNotMatch(failed.stderr, /not reached/);
  } finally {
    cleanup();
  }
});
