/**
 * Open storm: openat of non-policy paths as fast as 2 threads can go. Target: host slowdown with the sensor
 * <= 10 %, against a run without it.
 *
 * Alternates runs without and with the sensor (A B A B …, each `seconds` long) so drift in the host's background
 * load hits both sides alike, and compares the medians of open+close per second. The sensor runs with a 200-rule
 * policy (100 path rules, 100 inode rules) that the stormed file does not match, so every open pays the real
 * per-open cost: the enter stash, fd -> file -> inode lookup and the leaf-name pre-filter.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPolicyEngine } from '../../src/sensor/policy/policy-engine';
import { createPolicyStore } from '../../src/sensor/policy/policy-store';
import type { Sensor } from '../../src/sensor/sensor';
import { createSensor } from '../../src/sensor/sensor';
import type { BenchResult } from './common';
import { hostLoad, kernelBenchSkipReason, printResult, runLoadgen } from './common';
import { bpfProgStats, withBpfStats } from './exec-storm';
import { benchPolicy } from './policy-fixture';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export async function runOpenStorm(options: { seconds?: number; rounds?: number; threads?: number } = {}): Promise<BenchResult> {
  const seconds = options.seconds ?? 5;
  const rounds = options.rounds ?? 4;
  const threads = options.threads ?? 2;
  const skip = kernelBenchSkipReason();
  if (skip !== undefined) return { name: 'open-storm', target: 'slowdown <= 10 %', measured: 'skipped', pass: 'skipped', details: { reason: skip } };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-open-'));
  const file = path.join(tmp, 'not-in-policy.dat');
  fs.writeFileSync(file, 'x');
  const policy = benchPolicy(tmp, 100);
  const without: number[] = [];
  const withSensor: number[] = [];
  let bpf: Record<string, string> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      const a = await runLoadgen(['open', String(threads), String(seconds), file]);
      without.push(a.ops / a.seconds);
      let sensor: Sensor | undefined;
      try {
        sensor = createSensor({ statsIntervalMillis: 0, onEvents: () => undefined });
        createPolicyEngine({ store: createPolicyStore(path.join(tmp, `state-${round}`)), capabilities: sensor.features.capabilities, maps: sensor.maps }).apply(policy, 'bench');
        sensor.start();
        const s = sensor;
        const b = await withBpfStats(async () => {
          const p0 = bpfProgStats();
          const r = await runLoadgen(['open', String(threads), String(seconds), file]);
          const p1 = bpfProgStats();
          bpf = Object.fromEntries(
            p1
              .filter((p) => /open/.test(p.name))
              .map((p) => {
                const before = p0.find((x) => x.name === p.name);
                const runs = p.runCount - (before?.runCount ?? 0);
                return [p.name, runs > 0 ? `${Math.round((p.runTimeNs - (before?.runTimeNs ?? 0)) / runs)} ns/run` : 'not run'];
              }),
          );
          s.drain();
          return r;
        });
        withSensor.push(b.ops / b.seconds);
      } finally {
        sensor?.stop();
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const base = median(without);
  const loaded = median(withSensor);
  const slowdown = ((base - loaded) / base) * 100;
  return {
    name: 'open-storm',
    target: `${threads} threads open+close as fast as possible: slowdown <= 10 % with the sensor`,
    measured: `slowdown ${slowdown.toFixed(1)} % (${Math.round(base).toLocaleString('en-US')} -> ${Math.round(loaded).toLocaleString('en-US')} opens/s, medians of ${rounds})`,
    pass: slowdown <= 10,
    details: {
      opensPerSecondWithout: without.map(Math.round),
      opensPerSecondWith: withSensor.map(Math.round),
      bpfCostPerOpen: bpf,
      hostLoadAvg: hostLoad(),
    },
  };
}

if (require.main === module) {
  runOpenStorm().then(printResult, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
