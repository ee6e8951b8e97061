/**
 * `aegisbpf run --enforce` / `--audit` (the monitoring guide's flag): the sensor's mode while the daemon runs,
 * whatever the policy's `mode:` says, for the stored policy and for a policy applied meanwhile; the policy's own mode
 * again once the daemon is gone. Refused where nothing would carry it out.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli';
import { samples, startDaemon, until } from '../helpers/daemon';
import { skipUnlessKernel, tempDir } from '../sensor/helpers';

void test('run --enforce --audit: usage error; --enforce without a sensor source: refused with the reason', () => {
  const both = runCli(['run', '--enforce', '--audit']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--enforce and --audit exclude each other/);
  const tmp = tempDir('aegis-run-mode-usage');
  const cfg = tmp.file(
    'replay.yml',
    `data_dir: ${tmp.dir}\nsources: { r: { type: replay, path: samples/events.ndjson } }\nsinks: { o: { type: stdout } }\n`,
  );
  const r = runCli(['run', '--config', cfg, '--enforce', '--metrics-port=off']);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /--enforce sets the eBPF sensor's mode, and this configuration has no sensor source \(sources: r \(replay\)\)/,
  );
});

void test('run --enforce: an audit-mode policy is enforced while the daemon runs, also one applied meanwhile; its own mode after', async (t) => {
  if (skipUnlessKernel(t)) return;
  const tmp = tempDir('aegis-run-mode');
  const pinDir = `/sys/fs/bpf/aegis-test-mode-${process.pid}`;
  const policyDir = path.join(tmp.dir, 'policy');
  const auditPolicy = tmp.file(
    'policy.yml',
    `version: 1\nmode: audit\nrules:\n  - { id: watch, match: { path: ${tmp.file('x')} }, action: KILL }\n`,
  );
  // Stored before the daemon starts (no sensor running: apply only stores it).
  const stored = runCli(['policy', 'apply', auditPolicy, '--state-dir', policyDir, '--pin-dir', pinDir]);
  assert.equal(stored.code, 0, stored.stderr);
  const d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { kernel: { type: sensor, network_hooks: false, pin_dir: ${pinDir}, policy_dir: ${policyDir} } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { listen: 127.0.0.1 }',
    ].join('\n'),
    {},
    ['--enforce'],
  );
  try {
    const info = async (): Promise<string | undefined> =>
      samples((await d.get('/metrics')).body, 'aegisbpf_sensor_info')[0]?.labels.mode;
    await until('the stored audit policy in the kernel in enforce mode', async () =>
      (await info()) === 'enforce' ? true : undefined,
    );
    assert.ok(d.logs().some((l) => l.msg === 'The stored policy is enforced.' && l.mode === 'enforce'));
    assert.equal(fs.readFileSync(path.join(policyDir, 'mode-override'), 'utf8').trim(), 'enforce');
    // Applied while the daemon runs, from another process: forced too, and said so.
    const again = runCli(['policy', 'apply', auditPolicy, '--state-dir', policyDir, '--pin-dir', pinDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /mode enforce, forced by run --enforce/);
    assert.equal(await info(), 'enforce');
  } finally {
    await d.stop();
    fs.rmSync(pinDir, { recursive: true, force: true });
  }
  assert.equal(fs.existsSync(path.join(policyDir, 'mode-override')), false, 'the forced mode ends with the daemon');
  const show = runCli(['policy', 'show', '--state-dir', policyDir, '--pin-dir', pinDir, '--json']);
  assert.equal(
    (JSON.parse(show.stdout) as { current: { mode: string } }).current.mode,
    'audit',
    'the stored policy keeps its mode',
  );
  tmp.remove();
});
