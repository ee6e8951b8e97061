/**
 * Decode throughput: >= 2 000 000 records/s from a recorded ring buffer, single core.
 *
 * Records a real ring buffer first (sensor running, exec storm + audited file opens + connects, raw batches copied
 * as the native reader hands them over), then decodes those batches in a loop on this one JS thread. Reports
 * decode only (registry -> typed records, the target) and decode + event mapping (what the pipeline gets)
 * separately. Rates are per second of CPU time (one core's worth of work, whatever else runs on the machine), with
 * the wall-clock rate alongside. Without root it decodes synthetic batches built from the ABI and says so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBootClock } from '../../src/sensor/boot-clock';
import { createCgroupResolver, findCgroup2Mount } from '../../src/sensor/cgroup-resolver';
import { createDecoderRegistry } from '../../src/sensor/decoder-registry';
import { createEventMapper } from '../../src/sensor/event-mapper';
import { createPolicyEngine } from '../../src/sensor/policy/policy-engine';
import { createPolicyStore } from '../../src/sensor/policy/policy-store';
import { createProcessCache } from '../../src/sensor/process-cache';
import { FRAME_HEADER_BYTES } from '../../src/sensor/abi';
import type { DecodedRecord } from '../../src/sensor/records';
import { RECORD_DECODERS } from '../../src/sensor/records';
import { createSensor } from '../../src/sensor/sensor';
import { batch, execRecord, exitRecord, fileRecord, forkRecord, netRecord } from '../../test/sensor/record-builder';
import type { BenchResult } from './common';
import { WORK_DIR, kernelBenchSkipReason, printResult, runLoadgen, sleep } from './common';

interface Recording {
  readonly batches: Buffer[];
  readonly records: number;
  readonly source: string;
}

async function record(seconds: number): Promise<Recording> {
  const batches: Buffer[] = [];
  let records = 0;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-rec-'));
  const file = path.join(tmp, 'audited');
  fs.writeFileSync(file, 'x');
  const sensor = createSensor({
    onEvents: () => undefined,
    statsIntervalMillis: 0,
    onRawBatch(buf, bytes, count) {
      batches.push(Buffer.from(buf.subarray(0, bytes)));
      records += count;
    },
  });
  try {
    createPolicyEngine({
      store: createPolicyStore(path.join(tmp, 'state')),
      capabilities: sensor.features.capabilities,
      maps: sensor.maps,
    }).apply(
      `version: 1\nmode: audit\nrules:\n  - { id: bench-audit, match: { path: ${file} }, action: AUDIT }\n`,
      'bench',
    );
    sensor.start();
    await Promise.all([
      runLoadgen(['exec', '1500', String(seconds)]),
      runLoadgen(['open-rate', '1500', String(seconds), file]),
    ]);
    await sleep(100);
    sensor.drain();
  } finally {
    sensor.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { batches, records, source: `recorded from the live ring (${records} records in ${batches.length} batches)` };
}

function synthetic(): Recording {
  const recs: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const proc = { pid: 1000 + i, ppid: 1, startTime: BigInt(1e9 + i), comm: 'true' };
    recs.push(
      forkRecord({ proc }),
      execRecord({ proc, filename: '/bin/true', exe: '/usr/bin/true', args: ['true'] }),
      exitRecord({ proc }),
    );
    if (i % 2 === 0) recs.push(fileRecord({ proc, resolved: '/tmp/aegis-bench/audited' }), netRecord({ proc }));
  }
  return {
    batches: [batch(recs)],
    records: recs.length,
    source: 'synthetic batches (no root: cannot record a live ring)',
  };
}

/**
 * Records per second of CPU time (user + system of this process) and per second of wall time. On a shared machine
 * the wall-clock rate drops whenever another process takes the core; CPU time measures what one core does.
 */
function measure(
  rec: Recording,
  withMapping: boolean,
  seconds: number,
): { recordsPerSecond: number; recordsPerWallSecond: number; records: number } {
  const registry = createDecoderRegistry<DecodedRecord>(RECORD_DECODERS);
  const mapper = withMapping
    ? createEventMapper({
        host: os.hostname(),
        backend: 'tracepoint',
        clock: createBootClock(),
        cache: createProcessCache({ proc: { exe: () => '', comm: () => '' } }),
        cgroups: createCgroupResolver({ root: findCgroup2Mount() }),
        rules: { name: () => 'bench' },
      })
    : undefined;
  let n = 0;
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < deadline) {
    for (const b of rec.batches) {
      const out: DecodedRecord[] = [];
      n += registry.decodeBatch(b, b.length, out);
      if (mapper !== undefined) for (const r of out) sink += mapper.map(r) === undefined ? 0 : 1;
      else sink += out.length;
    }
  }
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (sink < 0) throw new Error('unreachable');
  return { recordsPerSecond: Math.round(n / cpuSeconds), recordsPerWallSecond: Math.round(n / wall), records: n };
}

/**
 * The same records in batches of up to `maxBytes`, split at frame boundaries: what the reader hands over when it
 * drains a ring that filled up (consumer busy, or coalesced drains) instead of waking per record.
 */
function reframe(rec: Recording, maxBytes: number): Recording {
  const whole = Buffer.concat(rec.batches);
  const batches: Buffer[] = [];
  let start = 0;
  let off = 0;
  while (off + FRAME_HEADER_BYTES <= whole.length) {
    const next = off + FRAME_HEADER_BYTES + ((whole.readUInt32LE(off) + 7) & ~7);
    if (next - start > maxBytes && off > start) {
      batches.push(whole.subarray(start, off));
      start = off;
    }
    off = next;
  }
  if (off > start) batches.push(whole.subarray(start, off));
  return {
    batches,
    records: rec.records,
    source: `${rec.source}, re-framed into ${batches.length} batches of <= ${maxBytes} bytes`,
  };
}

export async function runDecodeBench(options: { seconds?: number } = {}): Promise<BenchResult> {
  const skip = kernelBenchSkipReason();
  const rec = skip === undefined ? await record(3) : synthetic();
  fs.mkdirSync(WORK_DIR, { recursive: true });
  fs.writeFileSync(path.join(WORK_DIR, 'recorded-ring.bin'), Buffer.concat(rec.batches));
  const seconds = options.seconds ?? 5;
  measure(rec, false, 1); // warm up the JIT
  const decode = measure(rec, false, seconds);
  const big = reframe(rec, 64 * 1024);
  const decodeBig = measure(big, false, seconds);
  const mapped = measure(rec, true, seconds);
  const target = 2_000_000;
  return {
    name: 'decode',
    target: '>= 2 000 000 records/s, single core',
    measured: `${decode.recordsPerSecond.toLocaleString('en-US')} records per CPU-second decoded in the batches as recorded (${(rec.records / rec.batches.length).toFixed(1)} records each); ${decodeBig.recordsPerSecond.toLocaleString('en-US')} per CPU-second in 64 KiB batches`,
    pass: decode.recordsPerSecond >= target,
    details: {
      source: rec.source,
      decodeRecordsPerCpuSecond: decode.recordsPerSecond,
      decodeRecordsPerWallSecond: decode.recordsPerWallSecond,
      decodeRecordsPerCpuSecond64KiBBatches: decodeBig.recordsPerSecond,
      decodeAndMapEventsPerCpuSecond: mapped.recordsPerSecond,
      bytesPerRecord: Math.round(rec.batches.reduce((a, b) => a + b.length, 0) / Math.max(1, rec.records)),
      seconds,
    },
  };
}

if (require.main === module) {
  runDecodeBench().then(printResult, (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  });
}
