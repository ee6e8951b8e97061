/**
 * Exec storm: about 2 000 exec/s for 30 s. Targets: zero ring drops, sensor CPU <= 10 % of one core.
 *
 * The sensor runs in this process with every hook attached (network hooks on the cgroup2 root, as in
 * production) and a 200-rule policy; events go to a consumer that only counts them. Sensor CPU is this process's
 * user+system time over wall time. The BPF programs' own run time is charged to the exec'ing processes, not to the
 * sensor; it is reported separately from the kernel's BPF stats (kernel.bpf_stats_enabled, restored afterwards).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPolicyEngine } from '../../src/sensor/policy/policy-engine';
import { createPolicyStore } from '../../src/sensor/policy/policy-store';
import { createSensor } from '../../src/sensor/sensor';
import type { BenchResult } from './common';
import { hostLoad, kernelBenchSkipReason, printResult, runLoadgen, sleep } from './common';
import { benchPolicy } from './policy-fixture';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

interface ProgStat {
  readonly name: string;
  readonly runTimeNs: number;
  readonly runCount: number;
}

/** run_time_ns / run_cnt of our programs, via bpftool (needs bpf_stats_enabled). */
export function bpfProgStats(): ProgStat[] {
  const r = spawnSync(process.env.BPFTOOL ?? 'bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return [];
  const progs = JSON.parse(r.stdout) as { name?: string; run_time_ns?: number; run_cnt?: number; pids?: { pid: number }[] }[];
  return progs
    .filter((p) => p.name?.startsWith('aegis_') === true && (p.pids ?? []).some((x) => x.pid === process.pid))
    .map((p) => ({ name: p.name as string, runTimeNs: p.run_time_ns ?? 0, runCount: p.run_cnt ?? 0 }));
}

export function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  let previous: string | undefined;
  try {
    previous = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
    fs.writeFileSync(STATS_SYSCTL, '1');
  } catch {
    previous = undefined;
  }
  return fn().finally(() => {
    if (previous !== undefined) fs.writeFileSync(STATS_SYSCTL, previous);
  });
}

export async function runExecStorm(options: { seconds?: number; rate?: number } = {}): Promise<BenchResult> {
  const seconds = options.seconds ?? 30;
  const rate = options.rate ?? 2000;
  const skip = kernelBenchSkipReason();
  if (skip !== undefined) return { name: 'exec-storm', target: 'zero drops, sensor CPU <= 10 %', measured: 'skipped', pass: 'skipped', details: { reason: skip } };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-exec-'));
  let execEvents = 0;
  let events = 0;
  const sensor = createSensor({
    statsIntervalMillis: 0,
    onEvents(evs) {
      events += evs.length;
      for (const e of evs) if (e.type === 'exec') execEvents++;
    },
  });
  try {
    createPolicyEngine({ store: createPolicyStore(path.join(tmp, 'state')), capabilities: sensor.features.capabilities, maps: sensor.maps }).apply(benchPolicy(tmp, 100), 'bench');
    sensor.start();
    await sleep(200);
    return await withBpfStats(async () => {
      const k0 = sensor.stats().kernel;
      const p0 = bpfProgStats();
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const load = await runLoadgen(['exec', String(rate), String(seconds)]);
      await sleep(200);
      sensor.drain();
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      const k1 = sensor.stats().kernel;
      const p1 = bpfProgStats();
      const cpuPercent = ((cpu.user + cpu.system) / 1e6 / wall) * 100;
      const drops = k1.dropsTotal - k0.dropsTotal;
      const bpfNs = p1.reduce((a, p) => a + p.runTimeNs, 0) - p0.reduce((a, p) => a + p.runTimeNs, 0);
      const perProg = Object.fromEntries(
        p1.map((p) => {
          const before = p0.find((x) => x.name === p.name);
          const runs = p.runCount - (before?.runCount ?? 0);
          return [p.name, runs > 0 ? `${Math.round((p.runTimeNs - (before?.runTimeNs ?? 0)) / runs)} ns x ${runs}` : 'not run'];
        }),
      );
      return {
        name: 'exec-storm',
        target: `~${rate} exec/s for ${seconds} s: zero ring drops, sensor CPU <= 10 % of one core`,
        measured: `${(load.ops / load.seconds).toFixed(0)} exec/s, ${drops} drops, sensor CPU ${cpuPercent.toFixed(1)} %`,
        pass: drops === 0 && cpuPercent <= 10,
        details: {
          backend: sensor.backend,
          execsGenerated: load.ops,
          execEventsReceived: execEvents,
          eventsReceivedTotal: events,
          ringDrops: drops,
          sensorCpuPercentOfOneCore: Number(cpuPercent.toFixed(2)),
          bpfRunTimeMsTotal: Number((bpfNs / 1e6).toFixed(1)),
          bpfPerProgram: perProg,
          hostLoadAvg: hostLoad(),
        },
      };
    });
  } finally {
    sensor.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const seconds = Number(process.argv[2] ?? 30);
  runExecStorm({ seconds }).then(printResult, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
