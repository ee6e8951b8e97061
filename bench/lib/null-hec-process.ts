/**
 * bench/lib/null-hec.ts started as a child process on a free loopback port: the discarding HEC receiver the HEC
 * benchmarks send to. `output()` is everything it printed so far (its `port=` line and, with `--report-ms`, its
 * `events=` counts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface NullHecProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** The token it accepts (it accepts any). */
  readonly token: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startNullHec(args: readonly string[] = []): Promise<NullHecProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, 'null-hec.js'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /port=(\d+)/.exec(out);
      if (m !== null) {
        clearInterval(timer);
        resolve(Number(m[1]));
      }
    }, 20);
    child.once('exit', () => {
      clearInterval(timer);
      reject(new Error('null receiver exited'));
    });
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    token: 'null-receiver-token',
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
