/**
 * Preloaded into a benchmarked daemon (`node -r dist/bench/lib/daemon-probe.js bin/aegisbpf.js run …`) to show where
 * a request's time goes, from inside the daemon, without changing the daemon:
 *
 * - the event loop's delay (`perf_hooks.monitorEventLoopDelay`, 1 ms resolution): how long a ready callback, such
 *   as an arriving request, can wait behind other work of the loop (pipeline batches, the sensor's ring reads);
 * - garbage-collection pauses (PerformanceObserver `gc`);
 * - per request of the HTTP(S) server: `x-bench-t0` (the client's `process.hrtime.bigint()` when it sent; the same
 *   CLOCK_MONOTONIC in every process of the host) → the server's `request` event (the way in: the client's send,
 *   the kernel, the daemon being scheduled and its loop getting to the socket), and `request` → the response's
 *   last byte handed to the kernel (`finish`: the daemon's own work for the request).
 *
 * Written as JSON to $AEGIS_BENCH_PROBE_FILE when the process exits.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.AEGIS_BENCH_PROBE_FILE;
if (out !== undefined && out !== '') {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  // Pauses from the first timed request on (start-up's full collections are not the requests' concern).
  let measuring = false;
  const gc: { ms: number; kind: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    if (!measuring) return;
    for (const e of list.getEntries())
      gc.push({ ms: e.duration, kind: (e as { detail?: { kind?: number } }).detail?.kind ?? 0 });
  });
  obs.observe({ entryTypes: ['gc'] });
  // A 1 ms timer of its own: for each late tick, how much of the lateness the main thread spent on the CPU (the
  // loop busy with other work: pipeline, GC, other requests) and how much it was off the CPU (not scheduled: the
  // host's load, or a blocking system call).
  const late: [number, number][] = [];
  let lastWall = process.hrtime.bigint();
  let lastCpu = process.threadCpuUsage();
  setInterval(() => {
    const wall = process.hrtime.bigint();
    const cpu = process.threadCpuUsage();
    const lateMs = Number(wall - lastWall) / 1e6 - 1;
    if (measuring && lateMs > 0.5) late.push([lateMs, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000]);
    lastWall = wall;
    lastCpu = cpu;
  }, 1).unref();
  // Per URL path: [arrival delay ms, server time ms] pairs.
  const requests: Record<string, [number, number][]> = {};
  type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;
  // https.Server's prototype chain is tls.Server's, not http.Server's: both patched.
  const patch = (proto: { emit: Emit }): void => {
    const original = proto.emit;
    proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'request') {
        const now = process.hrtime.bigint();
        const req = args[0] as http.IncomingMessage;
        const res = args[1] as http.ServerResponse;
        const t0 = req.headers['x-bench-t0'];
        if (typeof t0 === 'string') {
          if (!measuring) {
            measuring = true;
            loop.reset();
          }
          const key = `${req.method ?? ''} ${(req.url ?? '').replace(/\/blocklist\/.*/, '/blocklist/{entry}')}`;
          res.on('finish', () => {
            const list = (requests[key] ??= []);
            list.push([Number(now - BigInt(t0)) / 1e6, Number(process.hrtime.bigint() - now) / 1e6]);
          });
        }
      }
      return Reflect.apply(original, this, [event, ...args]);
    };
  };
  patch(http.Server.prototype as unknown as { emit: Emit });
  patch(https.Server.prototype as unknown as { emit: Emit });
  process.on('exit', () => {
    loop.disable();
    // The histogram records whole timer intervals: less the 1 ms resolution, what a ready callback waited.
    const ms = (ns: number): number => Math.max(0, ns / 1e6 - 1);
    fs.writeFileSync(
      out,
      JSON.stringify({
        loop: {
          p50: ms(loop.percentile(50)),
          p99: ms(loop.percentile(99)),
          p999: ms(loop.percentile(99.9)),
          max: ms(loop.max),
          count: loop.count,
        },
        gc,
        late,
        requests,
      }),
    );
  });
}
