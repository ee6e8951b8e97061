/**
 * Bodies for the receivers people point webhooks at most, shaped as each service documents its API (docs/sinks.md
 * shows each body). Pure functions of the event. Alert events (`type: alert`, from the alert rules) carry `alert`
 * (the rule name), `status` (`firing` | `resolved`), `severity` and `message`; other events are summarized.
 *
 * - slack: Slack incoming webhook, `{"text": …}`; `&`, `<`, `>` escaped as Slack's message formatting requires, so
 *   an event value cannot inject a mention (`<!channel>`) or a link.
 * - pagerduty: Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`), `trigger`, or `resolve` for a resolved
 *   alert, with a dedup_key that ties the two together.
 * - alertmanager: one element of `POST /api/v2/alerts` (the sink sends the batch as the JSON array that endpoint
 *   takes); `endsAt` set when an alert is resolved.
 */
import type { AegisEvent } from '../../event/types';
import { eventSummary } from './template';
import type { WebhookPreset } from './config';

type Fields = Readonly<Record<string, unknown>>;
const fields = (e: AegisEvent): Fields => e as unknown as Fields;
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** PagerDuty's four severities; an alert's own severity when it is one of them. */
const PD_SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

export function severityOf(event: AegisEvent): 'critical' | 'error' | 'warning' | 'info' {
  const f = fields(event);
  const s = text(f.severity)?.toLowerCase();
  if (s !== undefined && PD_SEVERITIES.has(s)) return s as 'critical' | 'error' | 'warning' | 'info';
  if (s === 'high') return 'error';
  if (s === 'low') return 'info';
  if (f.action === 'BLOCK' || f.action === 'KILL' || f.action === 'TERM' || f.action === 'INT') return 'error';
  if (event.type === 'sensor') return 'warning';
  return 'info';
}

function isResolved(event: AegisEvent): boolean {
  return fields(event).status === 'resolved';
}

/** Stable for an alert across firing and resolved (PagerDuty and Alertmanager group on it); per event otherwise. */
export function dedupKey(event: AegisEvent): string {
  const f = fields(event);
  const alert = text(f.alert);
  if (alert !== undefined) return `aegisbpf/${event.host}/${alert}`;
  return `aegisbpf/${event.host}/${text(f.event_id) ?? `${event.exec_id}/${event.type}/${event.ts}`}`;
}

export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackBody(event: AegisEvent): unknown {
  const resolved = isResolved(event) ? '[resolved] ' : '';
  const severity = text(fields(event).severity);
  const prefix = severity === undefined ? '' : `[${severity}] `;
  return { text: slackEscape(`${resolved}${prefix}${eventSummary(event)}`) };
}

/** PagerDuty caps summary at 1024 characters. */
const PD_SUMMARY_MAX = 1024;

export function pagerdutyBody(event: AegisEvent, routingKey: string): unknown {
  const key = dedupKey(event);
  if (isResolved(event)) return { routing_key: routingKey, event_action: 'resolve', dedup_key: key };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: key,
    payload: {
      summary: eventSummary(event).slice(0, PD_SUMMARY_MAX),
      source: event.host,
      severity: severityOf(event),
      timestamp: event.ts,
      component: 'aegisbpf',
      group: event.type,
      ...(text(fields(event).action) === undefined ? {} : { class: fields(event).action }),
      custom_details: event,
    },
  };
}

/** Alertmanager label values are strings; names match [a-zA-Z_][a-zA-Z0-9_]* (labels.* keys are sanitized). */
export function alertmanagerAlert(event: AegisEvent): unknown {
  const f = fields(event);
  const labels: Record<string, string> = {
    alertname: text(f.alert) ?? `aegisbpf_${event.type}`,
    severity: text(f.severity) ?? severityOf(event),
    host: event.host,
    type: event.type,
  };
  if (text(f.action) !== undefined) labels.action = String(f.action);
  if (text(f.policy) !== undefined) labels.policy = String(f.policy);
  for (const [k, v] of Object.entries(event.labels ?? {})) {
    const name = `label_${k.replace(/[^A-Za-z0-9_]/g, '_')}`;
    if (labels[name] === undefined) labels[name] = v;
  }
  const out: Record<string, unknown> = {
    labels,
    annotations: { summary: eventSummary(event), description: text(f.message) ?? eventSummary(event) },
    startsAt: text(f.started_at) ?? event.ts,
  };
  if (isResolved(event)) out.endsAt = event.ts;
  return out;
}

export function presetBody(preset: WebhookPreset, event: AegisEvent, routingKey: string | undefined): unknown {
  switch (preset) {
    case 'slack':
      return slackBody(event);
    case 'pagerduty':
      return pagerdutyBody(event, routingKey ?? '');
    case 'alertmanager':
      return alertmanagerAlert(event);
  }
}
