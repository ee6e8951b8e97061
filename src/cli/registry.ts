/**
 * CLI commands, found by name. Adding a command is one file in ./commands/ plus one entry here.
 *
 * A command's module is loaded only when that command runs: `aegisbpf health --ready` (a Kubernetes exec probe,
 * every few seconds) must not load the YAML parser, ajv, the sinks and the metrics library that `run` needs.
 * Loading everything cost 0.24 CPU s per probe, now 0.08 (docs/cli.md, `health`).
 */
import type { Command } from './command';
import type * as RunModule from './commands/run';
import type * as ValidateModule from './commands/validate';
import type * as ReplayModule from './commands/replay';
import type * as SchemaModule from './commands/schema';
import type * as HealthModule from './commands/health';
import type * as PolicyModule from './commands/policy';
import type * as RulesModule from './commands/rules';
import type * as StatsModule from './commands/stats';
import type * as MetricsModule from './commands/metrics';
import type * as DashboardModule from './commands/dashboard';
import type * as AuthModule from './commands/auth';
import type * as RbacModule from './commands/rbac';
import type * as AuditModule from './commands/audit';
import type * as DebugModule from './commands/debug';
import type * as AlertsModule from './commands/alerts';

export interface CommandEntry {
  readonly name: string;
  /** One line for `aegisbpf --help`. */
  readonly summary: string;
  load(): Command;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy (above); types come from the import types
const load = (file: string): unknown => require(file);

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'run',
    summary: 'Run the agent (default source and sinks, or --config FILE).',
    load: () => (load('./commands/run') as typeof RunModule).runCommand,
  },
  {
    name: 'validate',
    summary: 'Check a configuration file; list every problem with its key path.',
    load: () => (load('./commands/validate') as typeof ValidateModule).validateCommand,
  },
  {
    name: 'replay',
    summary: 'Replay an NDJSON event file to stdout (format preview) or through a configuration.',
    load: () => (load('./commands/replay') as typeof ReplayModule).replayCommand,
  },
  {
    name: 'schema',
    summary: 'Print the event or configuration JSON Schema.',
    load: () => (load('./commands/schema') as typeof SchemaModule).schemaCommand,
  },
  {
    name: 'health',
    summary:
      "Probe the kernel and report what the eBPF sensor can do here, and the running daemon's readiness (exit 0/1/2).",
    load: () => (load('./commands/health') as typeof HealthModule).healthCommand,
  },
  {
    name: 'policy',
    summary: 'Apply, roll back or show the enforcement policy of the eBPF sensor.',
    load: () => (load('./commands/policy') as typeof PolicyModule).policyCommand,
  },
  {
    name: 'rules',
    summary: 'Install SIEM content (Elasticsearch templates, ingest pipeline, ILM) into a running SIEM.',
    load: () => (load('./commands/rules') as typeof RulesModule).rulesCommand,
  },
  {
    name: 'stats',
    summary: "Print a running daemon's totals (blocks, drops, maps, delivery per sink).",
    load: () => (load('./commands/stats') as typeof StatsModule).statsCommand,
  },
  {
    name: 'metrics',
    summary: "Print a running daemon's Prometheus metrics, or write them as a node-exporter textfile (--out).",
    load: () => (load('./commands/metrics') as typeof MetricsModule).metricsCommand,
  },
  {
    name: 'dashboard',
    summary: 'Print a Grafana dashboard (generate --type overview|enforcement|performance).',
    load: () => (load('./commands/dashboard') as typeof DashboardModule).dashboardCommand,
  },
  {
    name: 'auth',
    summary: 'Create, list, revoke or rotate REST API keys.',
    load: () => (load('./commands/auth') as typeof AuthModule).authCommand,
  },
  {
    name: 'rbac',
    summary: 'Create, list, show or assign REST API roles.',
    load: () => (load('./commands/rbac') as typeof RbacModule).rbacCommand,
  },
  {
    name: 'audit',
    summary: 'List, search, export or verify the hash-chained audit log.',
    load: () => (load('./commands/audit') as typeof AuditModule).auditCommand,
  },
  {
    name: 'debug',
    summary: 'Support data from the running daemon (bundle: a .tar.gz; profile: a CPU profile).',
    load: () => (load('./commands/debug') as typeof DebugModule).debugCommand,
  },
  {
    name: 'alerts',
    summary: 'Alert rules and their webhook: configure, rule, custom, list, test NAME (docs/alerts.md).',
    load: () => (load('./commands/alerts') as typeof AlertsModule).alertsCommand,
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name)?.load();
}
