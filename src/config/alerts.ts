/**
 * The `alerts:` section: a list of alert rules (docs/alerts.md). Schema and checks here (the assembly layer, which may
 * consult the sinks configured next to it); the rules are parsed and run by src/pipeline/alerts/.
 */
import { ALERT_SEVERITIES } from '../event/types';
import { checkAlertRule } from '../pipeline/alerts/rule';
import type { ConfigSection } from './config-section';

const DURATION = {
  anyOf: [
    { type: 'string', pattern: '^\\s*\\d+\\s*(ms|s|m|h|d)\\s*$' },
    { type: 'integer', minimum: 0 },
  ],
} as const;

export const alertsConfigSection: ConfigSection = {
  key: 'alerts',
  schema: {
    type: 'array',
    maxItems: 256,
    description:
      "Alert rules over event rates and the agent's own metrics; each firing or resolved alert is an event of type alert, sent to the rule's sinks and routed like any other (docs/alerts.md).",
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'condition'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Rule name (unique).' },
        condition: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description:
            'e.g. rate(type == "block", 5m) > 100, drops(1m) > 10, sink_lag(pager) > 5000, map_utilization() >= 80%.',
        },
        severity: { type: 'string', enum: [...ALERT_SEVERITIES], description: 'Severity (default high).' },
        message: {
          type: 'string',
          minLength: 1,
          maxLength: 4096,
          description:
            'Message template: {{ value }}, {{ host }}, {{ name }}, {{ severity }}, {{ threshold }}, {{ condition }}.',
        },
        sinks: {
          type: 'array',
          items: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
          maxItems: 64,
          description: 'Sinks that get this alert besides the routes (which route alert events like any other).',
        },
        for: { ...DURATION, description: 'The condition must hold this long before the alert fires (default 0).' },
        repeat: {
          ...DURATION,
          description: 'Send the firing notification again this often while firing (default: once).',
        },
      },
    },
  },
  check(raw, document) {
    const problems: string[] = [];
    if (!Array.isArray(raw)) return problems;
    const sinks = document?.sinks;
    const sinkNames = sinks !== null && typeof sinks === 'object' ? Object.keys(sinks) : [];
    const seen = new Set<string>();
    (raw as unknown[]).forEach((entry, i) => {
      if (entry === null || typeof entry !== 'object') return;
      const rule = entry as Readonly<Record<string, unknown>>;
      for (const p of checkAlertRule(rule)) problems.push(`${i}.${p}`);
      if (typeof rule.name === 'string') {
        if (seen.has(rule.name)) problems.push(`${i}.name: a second rule named ${rule.name}`);
        seen.add(rule.name);
      }
      if (Array.isArray(rule.sinks))
        rule.sinks.forEach((s, j) => {
          if (typeof s === 'string' && !sinkNames.includes(s))
            problems.push(`${i}.sinks.${j}: no sink named ${s} (configured: ${sinkNames.join(', ') || 'none'})`);
        });
    });
    return problems;
  },
};
