/**
 * One alert rule of the `alerts:` section, validated and parsed (pure). The schema and the section's checks live
 * in src/config/alerts.ts; the engine (./engine.ts) runs the parsed rules.
 */
import { ALERT_SEVERITIES } from '../../event/types';
import type { AlertSeverity } from '../../event/types';
import type { Condition } from './condition';
import { parseCondition, parseDuration } from './condition';

export interface AlertRule {
  readonly name: string;
  readonly condition: Condition;
  readonly severity: AlertSeverity;
  /** Message template: `{{ value }}`, `{{ host }}`, `{{ name }}`, `{{ severity }}`, `{{ threshold }}`, `{{ condition }}`. */
  readonly message: string;
  /** Sinks the alert's events go to, besides the routes (which route alert events like any other). */
  readonly sinks: readonly string[];
  /** The condition must hold this long before the alert fires. */
  readonly forMillis: number;
  /** While firing, the firing notification is sent again this often; 0: once. */
  readonly repeatMillis: number;
}

export const MESSAGE_PLACEHOLDERS = ['value', 'host', 'name', 'severity', 'threshold', 'condition'] as const;
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

type Raw = Readonly<Record<string, unknown>>;

/** Problems of one rule, relative to it (`condition: …`); pure. */
export function checkAlertRule(raw: Raw): string[] {
  const problems: string[] = [];
  if (typeof raw.condition === 'string') {
    try {
      parseCondition(raw.condition);
    } catch (err) {
      problems.push(`condition: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (typeof raw.message === 'string') {
    for (const m of raw.message.matchAll(PLACEHOLDER)) {
      const name = m[1] ?? '';
      if (!(MESSAGE_PLACEHOLDERS as readonly string[]).includes(name))
        problems.push(`message: unknown placeholder {{ ${name} }}; known: ${MESSAGE_PLACEHOLDERS.join(', ')}`);
    }
  }
  for (const k of ['for', 'repeat'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    try {
      parseDuration(v as string | number);
    } catch (err) {
      problems.push(`${k}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

/** The parsed rule; the raw entry must have passed the schema and checkAlertRule. */
export function parseAlertRule(raw: Raw): AlertRule {
  const severity = (ALERT_SEVERITIES as readonly string[]).includes(String(raw.severity))
    ? (raw.severity as AlertSeverity)
    : 'high';
  const name = String(raw.name);
  return {
    name,
    condition: parseCondition(String(raw.condition)),
    severity,
    message: typeof raw.message === 'string' ? raw.message : `Alert ${name}: {{ value }} on {{ host }}`,
    sinks: Array.isArray(raw.sinks) ? raw.sinks.map(String) : [],
    forMillis: raw.for === undefined ? 0 : parseDuration(raw.for as string | number),
    repeatMillis: raw.repeat === undefined ? 0 : parseDuration(raw.repeat as string | number),
  };
}

/** The message with its placeholders filled in. */
export function renderMessage(rule: AlertRule, values: { value: string; host: string }): string {
  return rule.message.replace(PLACEHOLDER, (_m, name: string) => {
    switch (name) {
      case 'value':
        return values.value;
      case 'host':
        return values.host;
      case 'name':
        return rule.name;
      case 'severity':
        return rule.severity;
      case 'threshold':
        return String(rule.condition.threshold);
      case 'condition':
        return rule.condition.source;
      default:
        return '';
    }
  });
}
