import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { formatHealth, healthExitCode, probeFeatures } from '../../src/sensor/feature-probe';
import type { SensorEvent } from '../../src/event/types';
import { sharedFeatures, skipUnlessKernel, startPipelineRig } from './helpers';

void test('without root the sensor cannot run, and health says why (exit 2)', () => {
  const r = probeFeatures({ isRoot: false, mountTracefs: false });
  assert.equal(r.status, 'cannot_run');
  assert.equal(r.backend, undefined);
  assert.equal(healthExitCode(r), 2);
  assert.match(r.reasons.join('\n'), /root: not running as root/);
  assert.match(formatHealth(r), /status: cannot_run/);
});

void test('the probe loads each capability for real and the backend follows from it', (t) => {
  if (skipUnlessKernel(t)) return;
  const r = sharedFeatures();
  assert.ok(r.btf.ok);
  assert.ok(r.rawTracepoints.ok, r.rawTracepoints.detail);
  assert.ok(r.ringBuffer.ok, r.ringBuffer.detail);
  if (r.lsm.ok) {
    assert.equal(r.backend, 'lsm');
    assert.equal(r.capabilities.fileBlock, true);
  } else {
    // This CI machine family: the kernel refuses BPF LSM programs at load (EPERM).
    assert.ok(r.lsm.errno !== undefined && r.lsm.errno > 0, 'a refusal carries the errno');
    assert.match(r.lsm.detail, /refused with E[A-Z]+|attach failed with E[A-Z]+/);
    assert.equal(r.backend, 'tracepoint');
    assert.equal(r.status, 'degraded');
    assert.equal(healthExitCode(r), 1);
    assert.equal(r.capabilities.fileBlock, false);
    const text = formatHealth(r);
    assert.match(text, /FAIL BPF LSM/);
    assert.match(text, /backend: tracepoint/);
    assert.match(text, /tracepoint mode: file open\/exec rules enforce TERM\/KILL\/INT with bpf_send_signal/);
  }
});

void test('a sensor in tracepoint mode says so in a `sensor` event that reaches the sink, and in its telemetry', async (t) => {
  if (skipUnlessKernel(t)) return;
  if (sharedFeatures().backend !== 'tracepoint') {
    t.skip('BPF LSM loads here: the sensor runs in lsm mode');
    return;
  }
  const rig = await startPipelineRig('degraded');
  try {
    const degraded = (await rig.events.waitFor(
      (e) => e.type === 'sensor' && e.status === 'degraded',
      'degraded sensor event',
    )) as SensorEvent;
    assert.equal(degraded.sensor, 'tracepoint');
    assert.match(degraded.message ?? '', /tracepoint mode/);
    assert.match(degraded.message ?? '', /BPF LSM/);
    assert.equal(rig.handle.sensor.stats().backend, 'tracepoint');
    // ... and for metrics and /ready: the daemon's sensor stats and its `sensor` readiness check
    spawnSync('/bin/true'); // fork, exec, exit: records the kernel writes and counts
    let stats = rig.pipeline.stats.sensor.read();
    for (let i = 0; i < 100 && stats.ringbufEvents === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      stats = rig.pipeline.stats.sensor.read();
    }
    assert.equal(stats.attached, true);
    assert.equal(stats.backend, 'tracepoint');
    assert.ok(stats.ringbufEvents > 0, 'the kernel counted the records it wrote');
    assert.equal(stats.maps.find((m) => m.map === 'deny_inode')?.capacity, 65536);
    const check = rig.pipeline.stats.readiness.evaluate().checks.find((c) => c.name === 'sensor');
    assert.equal(check?.ready, true);
    assert.match(check?.detail ?? '', /^attached, tracepoint mode, degraded: .*BPF LSM/);
  } finally {
    await rig.close();
  }
});
