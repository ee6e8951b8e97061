/**
 * The Prometheus text exposition format (version 0.0.4), byte for byte what prom-client's `Registry.metrics()`
 * writes for the same metric objects (test/telemetry/exposition.test.ts compares them), but about ten times faster:
 * a scrape with 10 000 series must stay well under 10 ms (docs/benchmarks.md), and prom-client's generic serializer
 * (an array, a regex replace per label value and a template string per sample) does not.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  /** For histogram and summary parts: `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  readonly metricName?: string;
}

export interface FamilyValues {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: readonly Sample[];
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return `${value}`;
}

/** One family: HELP, TYPE, then one line per sample. */
export function renderFamily(family: FamilyValues): string {
  let out = `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}`;
  for (const sample of family.values) {
    out += '\n' + (sample.metricName ?? family.name);
    let first = true;
    for (const key in sample.labels) {
      const v = sample.labels[key] as string | number;
      out += `${first ? '{' : ','}${key}="${typeof v === 'string' ? escapeLabelValue(v) : v}"`;
      first = false;
    }
    if (!first) out += '}';
    out += ' ' + formatValue(sample.value);
  }
  return out;
}

/** Families separated by a blank line, the text ending with a newline (as prom-client writes it). */
export function renderFamilies(families: readonly FamilyValues[]): string {
  return families.map(renderFamily).join('\n\n') + '\n';
}
