/**
 * The Grafana dashboards of the AegisBPF monitoring guide (Overview, Enforcement Detail, Performance), generated
 * here and committed as rules/grafana/<type>.json (`aegisbpf dashboard generate --type TYPE`; a test keeps the
 * files equal to this output, checks every query with promtool and every metric name against a running daemon).
 *
 * The guide's panel queries are kept where they work; where they cannot work they are fixed and the change is
 * listed in docs/metrics.md#differences-from-the-aegisbpf-guides (the latency heatmap reads the histogram, not the
 * summary; rates are summed over `action` where a panel shows a total).
 *
 * Content, not telemetry: it reads nothing at run time and only `aegisbpf dashboard` prints it, so it sits next to
 * that command (as ./rules-elastic.ts sits next to `rules`), not in src/telemetry/.
 */

export const DASHBOARD_TYPES = ['overview', 'enforcement', 'performance'] as const;
export type DashboardType = (typeof DASHBOARD_TYPES)[number];

type Json = Readonly<Record<string, unknown>>;

const PROM = { type: 'prometheus', uid: '${datasource}' } as const;
const LOKI = { type: 'loki', uid: '${loki}' } as const;
/** Every Prometheus query is scoped to the instances picked in the `instance` variable. */
const I = 'instance=~"$instance"';

interface Target {
  readonly expr: string;
  readonly legend?: string;
  readonly instant?: boolean;
  readonly format?: 'time_series' | 'table' | 'heatmap';
}

interface PanelSpec {
  readonly title: string;
  readonly type: 'stat' | 'timeseries' | 'gauge' | 'piechart' | 'table' | 'heatmap' | 'logs' | 'row';
  readonly w: number;
  readonly h: number;
  readonly description?: string;
  readonly targets?: readonly Target[];
  readonly loki?: string;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  /** Threshold steps after the base color: [color, value]. */
  readonly thresholds?: readonly (readonly [string, number])[];
  readonly base?: string;
  readonly mappings?: readonly Json[];
  readonly noValue?: string;
  readonly thresholdsStyle?: 'line' | 'area';
  readonly stack?: boolean;
}

function panel(p: PanelSpec, id: number, x: number, y: number): Json {
  if (p.type === 'row')
    return { type: 'row', title: p.title, id, collapsed: false, panels: [], gridPos: { h: 1, w: 24, x: 0, y } };
  const steps = [
    { color: p.base ?? 'green', value: null },
    ...(p.thresholds ?? []).map(([color, value]) => ({ color, value })),
  ];
  const defaults: Record<string, unknown> = {
    color: { mode: p.type === 'timeseries' || p.type === 'piechart' ? 'palette-classic' : 'thresholds' },
    thresholds: { mode: 'absolute', steps },
    mappings: p.mappings ?? [],
  };
  if (p.unit !== undefined) defaults.unit = p.unit;
  if (p.min !== undefined) defaults.min = p.min;
  if (p.max !== undefined) defaults.max = p.max;
  if (p.noValue !== undefined) defaults.noValue = p.noValue;
  if (p.type === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: p.stack === true ? 'normal' : 'none', group: 'A' },
      thresholdsStyle: { mode: p.thresholdsStyle ?? 'off' },
    };
  }
  const options: Record<string, unknown> = {};
  switch (p.type) {
    case 'stat':
      Object.assign(options, {
        colorMode: 'background',
        graphMode: 'none',
        justifyMode: 'auto',
        textMode: 'value_and_name',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      });
      break;
    case 'gauge':
      Object.assign(options, {
        showThresholdMarkers: true,
        showThresholdLabels: false,
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      });
      break;
    case 'timeseries':
      Object.assign(options, {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      });
      break;
    case 'piechart':
      Object.assign(options, {
        pieType: 'pie',
        legend: { displayMode: 'table', placement: 'right', showLegend: true, values: ['value', 'percent'] },
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      });
      break;
    case 'table':
      Object.assign(options, { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] });
      break;
    case 'heatmap':
      Object.assign(options, {
        calculate: false,
        yAxis: { unit: 's' },
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', steps: 64 },
        tooltip: { show: true, yHistogram: true },
      });
      break;
    case 'logs':
      Object.assign(options, { showTime: true, wrapLogMessage: true, sortOrder: 'Descending', enableLogDetails: true });
      break;
  }
  const targets =
    p.type === 'logs'
      ? [{ refId: 'A', datasource: LOKI, expr: p.loki ?? '', queryType: 'range' }]
      : (p.targets ?? []).map((t, i) => ({
          refId: String.fromCharCode(65 + i),
          datasource: PROM,
          expr: t.expr,
          legendFormat: t.legend ?? '',
          range: t.instant !== true,
          instant: t.instant === true,
          ...(t.format !== undefined ? { format: t.format } : {}),
        }));
  return {
    type: p.type,
    title: p.title,
    id,
    ...(p.description !== undefined ? { description: p.description } : {}),
    datasource: p.type === 'logs' ? LOKI : PROM,
    gridPos: { h: p.h, w: p.w, x, y },
    fieldConfig: { defaults, overrides: [] },
    options,
    targets,
    ...(p.type === 'table'
      ? { transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true } } }] }
      : {}),
  };
}

function layout(specs: readonly PanelSpec[]): Json[] {
  const out: Json[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  specs.forEach((p, i) => {
    if (p.type === 'row' || x + p.w > 24) {
      y += rowHeight;
      x = 0;
      rowHeight = 0;
    }
    out.push(panel(p, i + 1, x, y));
    if (p.type === 'row') {
      y += 1;
      return;
    }
    x += p.w;
    rowHeight = Math.max(rowHeight, p.h);
  });
  return out;
}

function dashboard(
  type: DashboardType,
  title: string,
  description: string,
  specs: readonly PanelSpec[],
  withLoki: boolean,
): Json {
  const variables: Json[] = [
    {
      name: 'datasource',
      label: 'Prometheus',
      type: 'datasource',
      query: 'prometheus',
      current: {},
      hide: 0,
      refresh: 1,
      options: [],
      includeAll: false,
      multi: false,
    },
    {
      name: 'instance',
      label: 'Instance',
      type: 'query',
      datasource: PROM,
      definition: 'label_values(aegisbpf_up, instance)',
      query: { query: 'label_values(aegisbpf_up, instance)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
      refresh: 2,
      includeAll: true,
      allValue: '.*',
      multi: true,
      sort: 1,
      current: {},
      options: [],
      hide: 0,
    },
  ];
  if (withLoki)
    variables.push({
      name: 'loki',
      label: 'Loki',
      type: 'datasource',
      query: 'loki',
      current: {},
      hide: 0,
      refresh: 1,
      options: [],
      includeAll: false,
      multi: false,
    });
  return {
    uid: `aegisbpf-${type}`,
    title,
    description,
    tags: ['aegisbpf', 'security', 'ebpf'],
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    timezone: '',
    annotations: { list: [] },
    links: [
      {
        title: 'Overview',
        type: 'link',
        url: '/d/aegisbpf-overview',
        targetBlank: false,
        keepTime: true,
        includeVars: true,
      },
      {
        title: 'Enforcement Detail',
        type: 'link',
        url: '/d/aegisbpf-enforcement',
        targetBlank: false,
        keepTime: true,
        includeVars: true,
      },
      {
        title: 'Performance',
        type: 'link',
        url: '/d/aegisbpf-performance',
        targetBlank: false,
        keepTime: true,
        includeVars: true,
      },
    ],
    templating: { list: variables },
    panels: layout(specs),
  };
}

/** A 0/1 stat's value mapping: 0 shows `off` in red, 1 shows `on` in green. */
const upDownMapping = (off: string, on: string): Json[] => [
  {
    type: 'value',
    options: { '0': { text: off, color: 'red', index: 0 }, '1': { text: on, color: 'green', index: 1 } },
  },
];

const rate = (metric: string, extra = ''): string => `rate(${metric}{${I}${extra}}[$__rate_interval])`;

function overview(): Json {
  return dashboard(
    'overview',
    'AegisBPF / Overview',
    'Is aegisbpf up, enforcing, keeping up with the kernel, and delivering to the SIEMs? (AegisBPF monitoring guide, dashboard 1)',
    [
      { title: 'Health', type: 'row', w: 24, h: 1 },
      {
        title: 'System Health',
        type: 'stat',
        w: 6,
        h: 5,
        description:
          'aegisbpf_up: 1 while the daemon runs, 0 while it shuts down; no data means the daemon is not being scraped (see the DaemonDown alert).',
        targets: [{ expr: `aegisbpf_up{${I}}`, legend: '{{instance}}' }],
        base: 'red',
        thresholds: [['green', 1]],
        noValue: 'DOWN (no data)',
        mappings: upDownMapping('DOWN', 'UP'),
      },
      {
        title: 'Enforcement Rate',
        type: 'timeseries',
        w: 9,
        h: 8,
        unit: 'ops',
        targets: [
          { expr: `sum by (instance, action) (${rate('aegisbpf_blocks_total')})`, legend: '{{instance}} {{action}}' },
        ],
      },
      {
        title: 'Map Utilization',
        type: 'gauge',
        w: 9,
        h: 8,
        unit: 'percentunit',
        min: 0,
        max: 1,
        description:
          'Entries / capacity of each kernel policy map. Green below 70 %, yellow to 85 %, red above (MapNearFull alerts at 80 %).',
        targets: [{ expr: `aegisbpf_map_utilization{${I}}`, legend: '{{instance}} {{map}}' }],
        thresholds: [
          ['yellow', 0.7],
          ['red', 0.85],
        ],
      },
      {
        title: 'Ringbuf Health',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'ops',
        thresholdsStyle: 'line',
        description: 'Ring-buffer drops per second: events the kernel lost. Anything above 0 is red.',
        targets: [{ expr: rate('aegisbpf_ringbuf_drops_total'), legend: '{{instance}}' }],
        thresholds: [['red', 0.000001]],
      },
      {
        title: 'Sensor Attached',
        type: 'stat',
        w: 6,
        h: 4,
        targets: [{ expr: `aegisbpf_sensor_attached{${I}}`, legend: '{{instance}}' }],
        base: 'red',
        thresholds: [['green', 1]],
        mappings: upDownMapping('DETACHED', 'ATTACHED'),
      },
      {
        title: 'Policy Entries',
        type: 'stat',
        w: 6,
        h: 4,
        base: 'blue',
        targets: [
          { expr: `aegisbpf_deny_inode_entries{${I}}`, legend: 'deny inode {{instance}}' },
          { expr: `aegisbpf_deny_path_entries{${I}}`, legend: 'deny path {{instance}}' },
          { expr: `aegisbpf_allow_cgroup_entries{${I}}`, legend: 'allow cgroup {{instance}}' },
        ],
      },
      { title: 'Delivery', type: 'row', w: 24, h: 1 },
      {
        title: 'Sink Health',
        type: 'stat',
        w: 6,
        h: 8,
        base: 'red',
        thresholds: [['green', 1]],
        targets: [{ expr: `aegisbpf_sink_healthy{${I}}`, legend: '{{instance}} {{sink}}' }],
        mappings: upDownMapping('UNHEALTHY', 'HEALTHY'),
      },
      {
        title: 'Events Delivered',
        type: 'timeseries',
        w: 9,
        h: 8,
        unit: 'ops',
        targets: [
          {
            expr: `sum by (instance, sink) (${rate('aegisbpf_sink_events_delivered_total')})`,
            legend: '{{instance}} {{sink}}',
          },
        ],
      },
      {
        title: 'Events Not Delivered',
        type: 'timeseries',
        w: 9,
        h: 8,
        unit: 'ops',
        description:
          'Dead-lettered (in the dead-letter file, can be re-sent) and dropped (lost: buffer_full under drop_newest, dead_letter_failed).',
        targets: [
          {
            expr: `sum by (instance, sink) (${rate('aegisbpf_sink_events_dead_lettered_total')})`,
            legend: 'dead-lettered {{instance}} {{sink}}',
          },
          {
            expr: `sum by (instance, sink, reason) (${rate('aegisbpf_sink_events_dropped_total')})`,
            legend: 'dropped {{reason}} {{instance}} {{sink}}',
          },
        ],
      },
      {
        title: 'Sink Buffer Fill',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'percentunit',
        min: 0,
        max: 1,
        thresholdsStyle: 'line',
        targets: [
          {
            expr: `aegisbpf_sink_buffer_events{${I}} / aegisbpf_sink_buffer_max_events{${I}}`,
            legend: '{{instance}} {{sink}}',
          },
        ],
        thresholds: [['red', 0.8]],
      },
      {
        title: 'Pipeline Queue Depth',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'short',
        targets: [{ expr: `aegisbpf_pipeline_queue_depth_events{${I}}`, legend: '{{instance}}' }],
      },
    ],
    false,
  );
}

function enforcement(): Json {
  return dashboard(
    'enforcement',
    'AegisBPF / Enforcement Detail',
    'What aegisbpf blocked, how, and where (AegisBPF monitoring guide, dashboard 2). Per-path and per-inode panels need --detailed.',
    [
      {
        title: 'Blocks by Action',
        type: 'piechart',
        w: 8,
        h: 9,
        targets: [{ expr: `sum by (action) (aegisbpf_blocks_total{${I}})`, legend: '{{action}}', instant: true }],
      },
      {
        title: 'Top Blocked Paths',
        type: 'table',
        w: 8,
        h: 9,
        description: 'Needs metrics.detailed (--detailed): per-path series are high-cardinality and off by default.',
        targets: [{ expr: `topk(20, aegisbpf_blocks_by_path{${I}})`, instant: true, format: 'table' }],
      },
      {
        title: 'Top Blocked Inodes',
        type: 'table',
        w: 8,
        h: 9,
        description: 'Needs metrics.detailed (--detailed). Inode as dev:ino.',
        targets: [{ expr: `topk(20, aegisbpf_blocks_by_inode{${I}})`, instant: true, format: 'table' }],
      },
      {
        title: 'Blocks Over Time',
        type: 'timeseries',
        w: 24,
        h: 8,
        unit: 'ops',
        stack: true,
        targets: [{ expr: `sum by (action) (${rate('aegisbpf_blocks_total')})`, legend: '{{action}}' }],
      },
      {
        title: 'Network Blocks by Type',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'ops',
        targets: [{ expr: `sum by (type) (${rate('aegisbpf_net_blocks_total')})`, legend: '{{type}}' }],
      },
      {
        title: 'Network Rules by Type',
        type: 'table',
        w: 6,
        h: 8,
        targets: [{ expr: `aegisbpf_net_rules_total{${I}}`, instant: true, format: 'table' }],
      },
      {
        title: 'Policy Map Entries',
        type: 'table',
        w: 6,
        h: 8,
        targets: [{ expr: `aegisbpf_map_entries{${I}}`, instant: true, format: 'table' }],
      },
      {
        title: 'Block Event Timeline',
        type: 'logs',
        w: 24,
        h: 10,
        description: 'The enforcement events themselves, from Loki (job="aegisbpf" carrying the event stream).',
        loki: '{job="aegisbpf"} | json | type = "block"',
      },
    ],
    true,
  );
}

function performance(): Json {
  return dashboard(
    'performance',
    'AegisBPF / Performance',
    'What aegisbpf costs the host and how fast events move (AegisBPF monitoring guide, dashboard 3).',
    [
      {
        title: 'CPU Usage',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'percent',
        thresholdsStyle: 'line',
        description: 'Percent of one core, all threads of the daemon. HighCPU alerts above 50 %.',
        targets: [{ expr: `aegisbpf_cpu_usage_percent{${I}}`, legend: '{{instance}}' }],
        thresholds: [['red', 50]],
      },
      {
        title: 'Memory Usage',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'bytes',
        thresholdsStyle: 'line',
        targets: [{ expr: `aegisbpf_memory_rss_bytes{${I}}`, legend: '{{instance}}' }],
        thresholds: [['red', 209715200]],
      },
      {
        title: 'Event Latency',
        type: 'heatmap',
        w: 12,
        h: 9,
        description:
          'Per-event latency from source to every sink buffer (histogram aegisbpf_pipeline_latency_seconds; a summary cannot be drawn as a heatmap).',
        targets: [
          {
            expr: `sum by (le) (increase(aegisbpf_pipeline_latency_seconds_bucket{${I}}[$__rate_interval]))`,
            legend: '{{le}}',
            format: 'heatmap',
          },
        ],
      },
      {
        title: 'Event Latency Quantiles',
        type: 'timeseries',
        w: 12,
        h: 9,
        unit: 'µs',
        thresholdsStyle: 'line',
        description: 'The SLI of the guide: p99 < 500 µs.',
        targets: [
          { expr: `aegisbpf_event_processing_latency_microseconds{${I}}`, legend: '{{instance}} p{{quantile}}' },
        ],
        thresholds: [['red', 500]],
      },
      {
        title: 'Map Growth Rate',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'short',
        description: 'Entries per second added to each kernel map, over the last hour.',
        targets: [{ expr: `deriv(aegisbpf_map_entries{${I}}[1h])`, legend: '{{instance}} {{map}}' }],
      },
      {
        title: 'Ringbuf Drop Percentage',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'percent',
        thresholdsStyle: 'line',
        description: 'Share of kernel records lost; the event-loss SLO is 0.1 %.',
        targets: [
          {
            expr: `100 * ${rate('aegisbpf_ringbuf_drops_total')} / (${rate('aegisbpf_ringbuf_events_total')} + ${rate('aegisbpf_ringbuf_drops_total')})`,
            legend: '{{instance}}',
          },
        ],
        thresholds: [['red', 0.1]],
      },
      {
        title: 'Sink Send Duration p99',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 's',
        targets: [
          {
            expr: `histogram_quantile(0.99, sum by (instance, sink, le) (${rate('aegisbpf_sink_send_duration_seconds_bucket')}))`,
            legend: '{{instance}} {{sink}}',
          },
        ],
      },
      {
        title: 'Events In',
        type: 'timeseries',
        w: 12,
        h: 8,
        unit: 'ops',
        targets: [
          {
            expr: `sum by (instance, source) (${rate('aegisbpf_source_events_total')})`,
            legend: '{{instance}} {{source}}',
          },
        ],
      },
    ],
    false,
  );
}

export function generateDashboard(type: DashboardType): Json {
  switch (type) {
    case 'overview':
      return overview();
    case 'enforcement':
      return enforcement();
    case 'performance':
      return performance();
  }
}

/** The dashboard as committed: pretty JSON with a final newline. */
export function dashboardJson(type: DashboardType): string {
  return JSON.stringify(generateDashboard(type), null, 2) + '\n';
}

/** Every Prometheus expression in a dashboard (panel targets and variable queries), as written. */
export function dashboardQueries(dashboard: Json): string[] {
  const out: string[] = [];
  for (const p of (dashboard.panels as Json[] | undefined) ?? []) {
    const ds = p.datasource as { type?: string } | undefined;
    if (ds?.type !== 'prometheus') continue;
    for (const t of (p.targets as { expr?: string }[] | undefined) ?? [])
      if (typeof t.expr === 'string') out.push(t.expr);
  }
  return out;
}
