/** promtool (Debian package `prometheus`, installed by scripts/setup.sh test): found, or the reason to skip. */
import { spawnSync } from 'node:child_process';

export interface PromtoolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let cached: string | false | undefined;

/** The skip reason when promtool cannot run here, else false. */
export function promtoolMissing(): string | false {
  if (cached === undefined) {
    const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    cached =
      r.status === 0
        ? false
        : 'promtool is not installed (Debian package prometheus; `bash scripts/setup.sh test` installs it)';
  }
  return cached;
}

export function promtool(args: readonly string[], input?: string, cwd?: string): PromtoolResult {
  const r = spawnSync('promtool', [...args], { input, cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `promtool check metrics` lint findings on names the AegisBPF guides fixed (they cannot change); any other fails. */
export const GUIDE_NAME_LINTS: readonly string[] = [
  'aegisbpf_event_processing_latency_microseconds use base unit "seconds" instead of "microseconds"',
  'aegisbpf_net_rules_total non-counter metrics should not have "_total" suffix',
];

/** Run `promtool check metrics` on an exposition; the parse must succeed and the lint findings be the guide's only. */
export function checkMetricsText(text: string): { parsed: boolean; unexpected: string[]; output: string } {
  const r = promtool(['check', 'metrics'], text);
  const output = r.stdout + r.stderr;
  const findings = output.split('\n').filter((l) => l.trim() !== '');
  // promtool exits 1 on a parse error, 3 on lint findings only, 0 when clean.
  return {
    parsed: r.code === 0 || r.code === 3,
    unexpected: findings.filter((f) => !GUIDE_NAME_LINTS.includes(f)),
    output,
  };
}
