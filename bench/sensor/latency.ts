/**
 * Latency, kernel timestamp -> event in the pipeline: p99 <= 1 ms at 10 000 events/s.
 *
 * A generator opens an AUDIT-ed file at 10 000/s (paced every millisecond) for 10 s; each open is a FILE record
 * stamped with bpf_ktime_get_ns() in the kernel. The sensor runs as the `sensor` source of a real pipeline (file
 * sink); the probe sits where the engine takes a chunk from the source, reads CLOCK_MONOTONIC there and takes
 * now - ktime for each of our events (ktime recovered exactly from the event's `ts` through the same boot clock):
 * ring wait + wakeup + copy + decode + mapping + the source's queue.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateConfigDocument } from '../../src/config/load';
import { createPipeline } from '../../src/pipeline/engine';
import type { SensorSource } from '../../src/pipeline/sources/sensor';
import { createSensorSource, parseSensorSourceOptions } from '../../src/pipeline/sources/sensor';
import type { Source } from '../../src/pipeline/sources/types';
import type { BootClock } from '../../src/sensor/boot-clock';
import { createSourceStats } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import { parseTimestampMicros } from '../../src/util/time';
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
  let measuring = false;
  let clock: BootClock | undefined;
  const raw = {
    type: 'sensor',
    network_hooks: false,
    pin: false,
    policy_dir: path.join(tmp, 'policy'),
    ...(options.coalesceMicros !== undefined ? { coalesce_us: options.coalesceMicros } : {}),
  };
  const validated = validateConfigDocument({
    data_dir: tmp,
    sources: { sensor: raw },
    sinks: { out: { type: 'file', path: path.join(tmp, 'events.ndjson'), fsync: 'never', rotate: { max_bytes: 0 } } },
  });
  if (validated.config === undefined) throw new Error(validated.problems.join('; '));
  let sensorSource: SensorSource | undefined;
  const pipeline = createPipeline(validated.config, {
    logger: silentLogger,
    version: 'bench',
    sources: (c) => {
      const stats = createSourceStats('sensor', 'sensor');
      c.stats.sources.set('sensor', stats);
      const src = createSensorSource(parseSensorSourceOptions(raw, tmp), { name: 'sensor', logger: silentLogger, stats, deadLetter: c.deadLetter, hostname: c.hostname, dataDir: tmp });
      sensorSource = src;
      // The probe: where the engine takes each chunk from the source.
      const probed: Source = {
        name: src.name,
        type: src.type,
        async *read(signal) {
          for await (const chunk of src.read(signal)) {
            if (measuring && clock !== undefined) {
              // the sensor's own clock: the same offset as in `ts`, so it cancels exactly
              const nowWallMicros = clock.wallMicros(clock.nowMonotonicNs());
              for (const e of chunk) {
                if (e.type !== 'block' || e.policy !== 'latency-probe' || n >= samples.length) continue;
                samples[n++] = nowWallMicros - Number(parseTimestampMicros(e.ts));
              }
            }
            yield chunk;
          }
        },
      };
      return [probed];
    },
  });
  await pipeline.start();
  const running = pipeline.run();
  try {
    const { sensor, policy } = await (sensorSource as SensorSource).ready;
    clock = sensor.clock;
    policy.apply(`version: 1\nmode: enforce\nrules:\n  - { id: latency-probe, match: { path: ${file} }, action: AUDIT }\n`, 'bench');
    await sleep(200);
    measuring = true;
    const k0 = sensor.stats().kernel;
    const load = await runLoadgen(['open-rate', String(rate), String(seconds), file]);
    await sleep(200);
    measuring = false;
    const k1 = sensor.stats().kernel;
    const reader = sensor.stats().reader;
    const sorted = samples.slice(0, n).sort();
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    return {
      name: 'latency',
      target: `p99 <= 1 ms at ${rate} events/s`,
      measured: `p99 ${(p99 / 1000).toFixed(3)} ms (p50 ${(p50 / 1000).toFixed(3)} ms) at ${(load.ops / load.seconds).toFixed(0)} events/s`,
      pass: p99 <= 1000,
      details: {
        backend: sensor.backend,
        coalesceMicros: options.coalesceMicros ?? 0,
        events: n,
        generated: load.ops,
        drops: k1.drops.FILE - k0.drops.FILE,
        p50Micros: Math.round(p50),
        p90Micros: Math.round(percentile(sorted, 90)),
        p99Micros: Math.round(p99),
        p999Micros: Math.round(percentile(sorted, 99.9)),
        maxMicros: Math.round(sorted[sorted.length - 1] ?? 0),
        drains: reader.batches,
        hostLoadAvg: hostLoad(),
      },
    };
  } finally {
    pipeline.stop();
    await pipeline.shutdown(5000);
    await running;
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
