/**
 * The kernel sensor inside the real daemon: `aegisbpf run` with a `sensor` source, a policy applied with `aegisbpf
 * policy apply` while it runs, a rule hit enforced by the kernel, and the numbers where operators look for them —
 * /metrics, /ready, `aegisbpf stats`, `aegisbpf health` — and, once the daemon is gone without cleaning up, the
 * pinned maps through `aegisbpf stats` / `aegisbpf metrics`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { userDevToKernel } from '../../src/sensor/text';
import { runCli } from '../helpers/cli';
import { samples, sampleValue, startDaemon, until } from '../helpers/daemon';
import { checkMetricsText, promtoolMissing } from '../helpers/promtool';
import { run, sharedFeatures, skipUnlessKernel, startPipelineRig, tempDir } from './helpers';

void test('a KILL enforced by the sensor of a running daemon shows in /metrics, /ready, stats and health; the pinned maps outlive a crash', async (t) => {
  if (skipUnlessKernel(t)) return;
  const features = sharedFeatures();
  if (!features.capabilities.signals) {
    t.skip(`bpf_send_signal unavailable: ${features.sendSignal.detail}`);
    return;
  }
  const tmp = tempDir('aegis-daemon-telemetry');
  // A pin directory of this test's own (bpffs is mounted at /sys/fs/bpf on this machine family; the sensor mounts
  // it when missing): never the default one, which a real daemon may use.
  const pinDir = `/sys/fs/bpf/aegis-test-${process.pid}`;
  const policyDir = path.join(tmp.dir, 'policy');
  const d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { kernel: { type: sensor, network_hooks: false, pin_dir: ${pinDir}, policy_dir: ${policyDir} } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never, batch: { timeout_ms: 10 } } }`,
      'metrics: { listen: 127.0.0.1 }',
    ].join('\n'),
    { AEGIS_OTEL_SPANS: '1' },
  );
  let killed = false;
  try {
    const env = { AEGIS_CONTROL_SOCKET: d.socket };
    const ready = await until('/ready 200 with the sensor attached', async () => {
      const r = await d.get('/ready');
      return r.status === 200 ? r : undefined;
    });
    const backend = features.backend as string;
    assert.match(ready.body, new RegExp(`^sensor: ok \\(attached, ${backend} mode`, 'm'));

    const before = (await d.get('/metrics')).body;
    assert.equal(sampleValue(before, 'aegisbpf_sensor_attached'), 1);
    assert.deepEqual(
      samples(before, 'aegisbpf_sensor_info').map((s) => s.labels),
      [{ mode: 'audit', backend }],
      'no policy yet: the kernel is in audit mode',
    );
    assert.equal(sampleValue(before, 'aegisbpf_map_capacity', { map: 'deny_path' }), 16384);
    assert.equal(sampleValue(before, 'aegisbpf_map_capacity', { map: 'deny_inode' }), 65536);
    assert.equal(sampleValue(before, 'aegisbpf_map_entries', { map: 'deny_path' }), 0);
    assert.equal(sampleValue(before, 'aegisbpf_blocks_total', { action: 'KILL' }), 0);
    assert.ok(sampleValue(before, 'aegisbpf_ringbuf_events_total')! >= 0);

    // The policy goes into the running sensor's pinned maps, from another process.
    const target = tmp.file('forbidden');
    const watched = tmp.file('watched');
    const policyFile = tmp.file(
      'policy.yml',
      `version: 1\nmode: enforce\nrules:\n  - { id: kill-forbidden, match: { path: ${target} }, action: KILL }\n  - { id: audit-watched, match: { inode: ${watched} }, action: AUDIT }\n`,
    );
    const applied = runCli(['policy', 'apply', policyFile, '--state-dir', policyDir, '--pin-dir', pinDir]);
    assert.equal(applied.code, 0, applied.stderr);

    const victim = await run(['/bin/cat', target]);
    assert.equal(victim.signal, 'SIGKILL', `cat exited with code ${victim.code} / signal ${victim.signal}`);
    for (let i = 0; i < 3; i++) assert.equal((await run(['/bin/cat', watched])).code, 0, 'AUDIT only reports');
    const st = fs.statSync(watched);
    const watchedInode = `${userDevToKernel(st.dev)}:${st.ino}`; // the events' `dev` encoding

    const after = await until('the KILL in aegisbpf_blocks_total', async () => {
      const body = (await d.get('/metrics')).body;
      return (sampleValue(body, 'aegisbpf_blocks_total', { action: 'KILL' }) ?? 0) >= 1 ? body : undefined;
    });
    assert.equal(
      sampleValue(after, 'aegisbpf_blocks_total', { action: 'KILL' }),
      1,
      'one process opened the file once',
    );
    assert.equal(sampleValue(after, 'aegisbpf_blocks_total', { action: 'BLOCK' }), 0);
    assert.deepEqual(
      samples(after, 'aegisbpf_sensor_info').map((s) => s.labels),
      [{ mode: 'enforce', backend }],
    );
    assert.equal(sampleValue(after, 'aegisbpf_map_entries', { map: 'deny_path' }), 1);
    assert.equal(sampleValue(after, 'aegisbpf_deny_path_entries'), 1);
    assert.equal(sampleValue(after, 'aegisbpf_deny_inode_entries'), 1);
    assert.doesNotMatch(after, /^aegisbpf_blocks_by_(path|inode)\{/m, 'no paths in labels without --detailed');
    assert.equal(sampleValue(after, 'aegisbpf_map_utilization', { map: 'deny_path' }), 1 / 16384);
    assert.deepEqual(
      samples(after, 'aegisbpf_net_rules_total').map((s) => s.value),
      [0, 0, 0],
    );
    assert.ok(sampleValue(after, 'aegisbpf_ringbuf_events_total')! > 0);
    if (promtoolMissing() === false) {
      const check = checkMetricsText(after);
      assert.ok(check.parsed, check.output);
      assert.deepEqual(check.unexpected, []);
    }

    const stats = runCli(['stats'], { env });
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^ {2}Total blocks: 1$/m);
    assert.match(stats.stdout, /^ {2}Blocks by action: BLOCK 0, TERM 0, KILL 1, INT 0$/m);
    assert.match(stats.stdout, new RegExp(`^Sensor: attached \\(mode enforce, backend ${backend}\\)$`, 'm'));
    assert.match(stats.stdout, /^ {2}deny_path: 1\/16384 entries/m);
    assert.match(stats.stdout, /^ {2}sensor: ok \(attached/m);
    // --detailed: the kernel's per-entry hit counters, by path and by dev:ino (AUDIT hits count: they are rule hits).
    const detailedStats = runCli(['stats', '--detailed'], { env });
    assert.equal(detailedStats.code, 0, detailedStats.stderr);
    assert.match(
      detailedStats.stdout,
      new RegExp(`^ {4}${JSON.stringify(target).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 1$`, 'm'),
    );
    assert.match(detailedStats.stdout, new RegExp(`^ {4}${watchedInode}: 3$`, 'm'));
    const detailed = runCli(['metrics', '--detailed'], { env });
    assert.equal(sampleValue(detailed.stdout, 'aegisbpf_blocks_by_path', { path: target }), 1);
    assert.equal(sampleValue(detailed.stdout, 'aegisbpf_blocks_by_inode', { inode: watchedInode }), 3);
    assert.equal(samples(detailed.stdout, 'aegisbpf_blocks_by_path').length, 1, 'only entries that were hit');

    // The same counts by rule in `policy show` (all entries of a rule summed), from another process.
    const show = runCli(['policy', 'show', '--state-dir', policyDir, '--pin-dir', pinDir]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^ {2}kill-forbidden: KILL on path .*, 1 hits$/m);
    assert.match(show.stdout, /^ {2}audit-watched: AUDIT on inode .*, 3 hits$/m);
    const showJson = JSON.parse(
      runCli(['policy', 'show', '--json', '--state-dir', policyDir, '--pin-dir', pinDir]).stdout,
    ) as { kernel: { hits: Record<string, number> } };
    assert.deepEqual(showJson.kernel.hits, { 'kill-forbidden': 1, 'audit-watched': 3 });

    // Applying a policy that keeps a rule keeps its count; a changed rule starts again.
    const policy2 = tmp.file(
      'policy2.yml',
      `version: 1\nmode: enforce\nrules:\n  - { id: kill-forbidden, match: { path: ${target} }, action: KILL }\n  - { id: audit-watched, match: { inode: ${watched} }, action: TERM }\n`,
    );
    const reapplied = runCli(['policy', 'apply', policy2, '--state-dir', policyDir, '--pin-dir', pinDir]);
    assert.equal(reapplied.code, 0, reapplied.stderr);
    const kept = runCli(['metrics', '--detailed'], { env });
    assert.equal(
      sampleValue(kept.stdout, 'aegisbpf_blocks_by_path', { path: target }),
      1,
      'unchanged rule: count kept',
    );
    assert.equal(
      sampleValue(kept.stdout, 'aegisbpf_blocks_by_inode', { inode: watchedInode }),
      undefined,
      'changed rule: count restarts',
    );

    // health: the kernel probe, then the daemon's readiness; --ready asks only the daemon.
    const health = runCli(['health', '--socket', d.socket]);
    assert.equal(health.code, features.status === 'healthy' ? 0 : 1, health.stdout + health.stderr);
    assert.match(health.stdout, /^backend: /m);
    assert.match(health.stdout, /^daemon: ready \(control socket .*\)$/m);
    assert.match(health.stdout, /^ {2}sensor: ok \(attached/m);
    const probe = runCli(['health', '--ready', '--json', '--socket', d.socket]);
    assert.equal(probe.code, 0, probe.stdout);
    assert.equal((JSON.parse(probe.stdout) as { ready: boolean }).ready, true);

    // Start-up spans: the load and the attach, both ok, in the daemon's trace.
    const spans = d
      .logs()
      .filter(
        (l) =>
          l.msg === 'otel_span_end' && (l.span_name === 'daemon.load_bpf' || l.span_name === 'daemon.attach_programs'),
      );
    assert.deepEqual(spans.map((s) => [s.span_name, s.status]).slice(-2), [
      ['daemon.load_bpf', 'ok'],
      ['daemon.attach_programs', 'ok'],
    ]);

    // A crash leaves the pins: stats and metrics read the kernel counters from them.
    d.child.kill('SIGKILL');
    killed = true;
    await d.exited();
    const offline = runCli(['stats', '--pin-dir', pinDir], { env });
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stdout, /no running daemon; kernel counters from the pinned maps/);
    assert.match(offline.stdout, /^ {2}Total blocks: 1$/m);
    assert.match(offline.stdout, /^ {2}deny_path: 1\/16384 entries/m);
    const textfile = runCli(['metrics', '--pin-dir', pinDir], { env });
    assert.equal(textfile.code, 1, 'no daemon: exit 1 even with pinned maps');
    assert.equal(sampleValue(textfile.stdout, 'aegisbpf_up'), 0);
    assert.equal(sampleValue(textfile.stdout, 'aegisbpf_blocks_total', { action: 'KILL' }), 1);
    assert.equal(sampleValue(textfile.stdout, 'aegisbpf_sensor_attached'), 0);
    assert.equal(sampleValue(textfile.stdout, 'aegisbpf_map_entries', { map: 'deny_path' }), 1);
    const offlineDetailed = runCli(['metrics', '--detailed', '--pin-dir', pinDir], { env });
    assert.equal(
      sampleValue(offlineDetailed.stdout, 'aegisbpf_blocks_by_path', { path: target }),
      1,
      'per-path hits from the pinned map',
    );
    const down = runCli(['health', '--ready', '--socket', d.socket]);
    assert.equal(down.code, 1);
    assert.match(down.stdout, /^daemon: not running/m);
  } finally {
    if (!killed) await d.stop();
    fs.rmSync(pinDir, { recursive: true, force: true });
    tmp.remove();
  }
});

void test('the sensor readiness and stats follow the sensor: ready while attached, not ready with the counters kept after it stops', async (t) => {
  if (skipUnlessKernel(t)) return;
  const rig = await startPipelineRig('readiness');
  const { stats } = rig.pipeline;
  try {
    assert.equal(stats.readiness.evaluate().checks.find((c) => c.name === 'sensor')?.ready, true);
    assert.equal(stats.sensor.read().attached, true);
  } finally {
    await rig.close();
  }
  const check = stats.readiness.evaluate().checks.find((c) => c.name === 'sensor');
  assert.deepEqual([check?.ready, check?.detail], [false, 'the sensor stopped']);
  const after = stats.sensor.read();
  assert.deepEqual([after.attached, after.maps, after.mode], [false, [], undefined]);
  assert.equal(stats.sensor.absentReason, 'the sensor stopped');
});
