/**
 * All sensor benchmarks, one after the other (they share the machine, so never in parallel):
 *   node dist/bench/sensor.js [--quick] [--strict] [--json FILE]
 * --quick shortens the runs (exec storm 10 s instead of 30 s), --strict exits 1 when a target is missed,
 * --json writes the results for the notes. Kernel benchmarks need root and are skipped with the reason otherwise.
 */
import fs from 'node:fs';
import type { BenchResult } from './sensor/common';
import { hostLoad, printResult } from './sensor/common';
import { runDecodeBench } from './sensor/decode';
import { runExecStorm } from './sensor/exec-storm';
import { runLatencyBench } from './sensor/latency';
import { runOpenStorm } from './sensor/open-storm';

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const strict = argv.includes('--strict');
  const jsonAt = argv.indexOf('--json');
  const results: BenchResult[] = [];
  process.stdout.write(`host: ${process.platform} ${process.arch}, load average ${hostLoad()}\n`);
  const steps: [string, () => Promise<BenchResult>][] = [
    ['decode', () => runDecodeBench(quick ? { seconds: 2 } : {})],
    ['exec-storm', () => runExecStorm(quick ? { seconds: 10 } : {})],
    // the same with timed drains: fewer wakeups for at most 1 ms of added latency (source option coalesce_us)
    ['exec-storm (coalesce 1 ms)', () => runExecStorm({ ...(quick ? { seconds: 10 } : {}), coalesceMicros: 1000 })],
    ['open-storm', () => runOpenStorm(quick ? { rounds: 3 } : {})],
    ['latency', () => runLatencyBench(quick ? { seconds: 5 } : {})],
  ];
  for (const [, step] of steps) {
    const r = await step();
    printResult(r);
    results.push(r);
  }
  if (jsonAt >= 0 && argv[jsonAt + 1] !== undefined)
    fs.writeFileSync(argv[jsonAt + 1] as string, JSON.stringify(results, null, 2) + '\n');
  return strict && results.some((r) => r.pass === false) ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
