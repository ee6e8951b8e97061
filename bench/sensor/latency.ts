/**
 * Latency, kernel timestamp -> event in the pipeline: p99 <= 1 ms at 10 000 events/s.
 *
 * A generator opens an AUDIT-ed file at 10 000/s (paced every millisecond) for 10 s; each open is a FILE record
 * stamped with bpf_ktime_get_ns() in the kernel. When the mapped events reach the consumer (onEvents, which is
 * what the pipeline source hands on), the consumer reads CLOCK_MONOTONIC once per batch and takes
 * now - ktime for every event of the batch: ring wait + wakeup + copy + decode + mapping.
 * Phase 1 measures at the sensor's output; phase 2 moves the probe behind the real pipeline source.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OP } from '../../src/sensor/abi';
import { createPolicyEngine } from '../../src/sensor/policy/policy-engine';
import { createPolicyStore } from '../../src/sensor/policy/policy-store';
import type { DecodedRecord } from '../../src/sensor/records';
import { createSensor } from '../../src/sensor/sensor';
import type { BenchResult } from './common';
import { hostLoad, kernelBenchSkipReason, percentile, printResult, runLoadgen, sleep } from './common';

export async function runLatencyBench(options: { seconds?: number; rate?: number; coalesceMicros?: number } = {}): Promise<BenchResult> {
  const seconds = options.seconds ?? 10;
  const rate = options.rate ?? 10_000;
  const skip = kernelBenchSkipReason();
  if (skip !== undefined) return { name: 'latency', target: 'p99 <= 1 ms at 10 000 events/s', measured: 'skipped', pass: 'skipped', details: { reason: skip } };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-lat-'));
  const file = path.join(tmp, 'audited');
  fs.writeFileSync(file, 'x');
  const samples = new Float64Array(rate * (seconds + 5));
  let n = 0;
  let pending: number[] = [];
  let measuring = false;
  const sensor = createSensor({
    statsIntervalMillis: 0,
    cgroupAttachPath: null,
    ...(options.coalesceMicros !== undefined ? { coalesceMicros: options.coalesceMicros } : {}),
    // onRecords runs right before mapping, in the same batch: remember the kernel stamps of our records
    onRecords(records: readonly DecodedRecord[]) {
      pending = [];
      if (!measuring) return;
      for (const r of records) if (r.op === OP.FILE) pending.push(r.ktime);
    },
    onEvents() {
      if (pending.length === 0) return;
      const now = Number(process.hrtime.bigint());
      for (const k of pending) if (n < samples.length) samples[n++] = (now - k) / 1000;
      pending = [];
    },
  });
  try {
    createPolicyEngine({ store: createPolicyStore(path.join(tmp, 'state')), capabilities: sensor.features.capabilities, maps: sensor.maps }).apply(
      `version: 1\nmode: enforce\nrules:\n  - { id: latency-probe, match: { path: ${file} }, action: AUDIT }\n`,
      'bench',
    );
    sensor.start();
    await sleep(200);
    measuring = true;
    const k0 = sensor.stats().kernel;
    const load = await runLoadgen(['open-rate', String(rate), String(seconds), file]);
    await sleep(100);
    sensor.drain();
    measuring = false;
    const k1 = sensor.stats().kernel;
    const sorted = samples.slice(0, n).sort();
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const p999 = percentile(sorted, 99.9);
    const reader = sensor.stats().reader;
    return {
      name: 'latency',
      target: `p99 <= 1 ms at ${rate} events/s`,
      measured: `p99 ${(p99 / 1000).toFixed(3)} ms (p50 ${(p50 / 1000).toFixed(3)} ms) at ${(load.ops / load.seconds).toFixed(0)} events/s`,
      pass: p99 <= 1000,
      details: {
        backend: sensor.backend,
        coalesceMicros: options.coalesceMicros ?? 'sensor default',
        events: n,
        generated: load.ops,
        drops: k1.drops.FILE - k0.drops.FILE,
        p50Micros: Math.round(p50),
        p90Micros: Math.round(percentile(sorted, 90)),
        p99Micros: Math.round(p99),
        p999Micros: Math.round(p999),
        maxMicros: Math.round(sorted[sorted.length - 1] ?? 0),
        drains: reader.batches,
        hostLoadAvg: hostLoad(),
      },
    };
  } finally {
    sensor.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const coalesce = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  runLatencyBench(coalesce === undefined ? {} : { coalesceMicros: coalesce }).then(printResult, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
