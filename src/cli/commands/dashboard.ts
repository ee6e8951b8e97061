/** `aegisbpf dashboard generate --type overview|enforcement|performance`: print a Grafana dashboard as JSON. */
import type { DashboardType } from './dashboard-grafana';
import { DASHBOARD_TYPES, dashboardJson } from './dashboard-grafana';
import { AegisError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';

const USAGE = `Usage: aegisbpf dashboard generate [--format grafana] --type ${DASHBOARD_TYPES.join('|')}

Print one of the Grafana dashboards of the AegisBPF monitoring guide as JSON (the same files as rules/grafana/):
  overview      System Health, Enforcement Rate, Map Utilization, Ringbuf Health, sink delivery
  enforcement   Blocks by Action, Top Blocked Paths, Blocks Over Time, Block Event Timeline (Loki), network blocks
  performance   CPU, Memory, Event Latency (heatmap and quantiles), Map Growth Rate, drops, sink send duration
Import it in Grafana (Dashboards > New > Import); it asks for a Prometheus data source (and Loki for enforcement).
--format grafana (the Blixard guide's form) is the default and the only format.`;

/** Dashboard formats (`--format`); the Blixard monitoring guide types `--format grafana`. */
export const DASHBOARD_FORMATS = ['grafana'] as const;

const OPTIONS = {
  type: { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const dashboardCommand: Command = {
  name: 'dashboard',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('dashboard', argv, OPTIONS, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    if (positionals[0] !== 'generate')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `dashboard: expected 'generate' (got '${positionals[0] ?? ''}'). See 'aegisbpf dashboard --help'.`,
      );
    const format = values.format ?? 'grafana';
    if (!(DASHBOARD_FORMATS as readonly string[]).includes(format))
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `dashboard: --format must be one of ${DASHBOARD_FORMATS.join(', ')} (got '${format}').`,
      );
    const type = values.type;
    if (type === undefined || !(DASHBOARD_TYPES as readonly string[]).includes(type)) {
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `dashboard: --type must be one of ${DASHBOARD_TYPES.join(', ')}${type === undefined ? '' : ` (got '${type}')`}.`,
      );
    }
    io.stdout.write(dashboardJson(type as DashboardType));
    return Promise.resolve(EXIT.OK);
  },
};
