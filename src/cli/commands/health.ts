/** `aegisbpf health`: what the kernel lets the sensor do, found by loading each capability for real. */
import { formatHealth, healthExitCode, probeFeatures } from '../../sensor/feature-probe';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';

const USAGE = `Usage: aegisbpf health [--json]

Probe the kernel: BTF, BPF LSM (a real load), raw and syscall tracepoints, bpf_send_signal, ring buffer, cgroup v2 and
its connect hooks, lockdown; print the sensor backend and the enforcement that results. Mounts tracefs at
/sys/kernel/tracing when it is missing (the sensor needs it). Needs root to probe.

  --json   the report as JSON

Exit codes: 0 healthy (lsm mode), 1 degraded (tracepoint mode, or signals / network hooks missing), 2 cannot run.`;

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

export const healthCommand: Command = {
  name: 'health',
  summary: 'Probe the kernel and report what the eBPF sensor can do here (exit 0/1/2).',
  usage: USAGE,
  run(argv, io) {
    const { values } = parseCommandArgs('health', argv, OPTIONS, 0);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(0);
    }
    const report = probeFeatures();
    io.stdout.write(values.json === true ? JSON.stringify(report, null, 2) + '\n' : formatHealth(report));
    return Promise.resolve(healthExitCode(report));
  },
};
