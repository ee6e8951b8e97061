/**
 * Webhook presets and body templates, each against a local HTTPS receiver that checks the shape the real service
 * documents (and answers as it does): Slack incoming webhooks (`{"text"}`, 200 "ok"), PagerDuty Events API v2
 * (routing_key, event_action, dedup_key, payload.summary/source/severity; 202), Alertmanager `POST /api/v2/alerts`
 * (a JSON array of alerts with string labels; 200). Plus: template rendering cannot be broken out of by event values,
 * and `validate` refuses a template naming a field that does not exist, with the key path.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import { formatJson } from '../../../src/formatters/json';
import { validateConfigText } from '../../../src/config/load';
import { checkWebhookConfig, parseWebhookConfig } from '../../../src/sinks/webhook/config';
import { createWebhookTransport } from '../../../src/sinks/webhook/transport';
import type { TestPki } from '../../helpers/certs';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import type { WebhookReceiverOptions } from '../../helpers/webhook-receiver';
import { startWebhookReceiver } from '../../helpers/webhook-receiver';
import { batchOf } from '../transport-contract';

let tmp: { dir: string; cleanup: () => void };
let pki: TestPki | undefined;
const skip = opensslSkipReason();
before(() => {
  tmp = makeTempDir('aegis-webhook-presets-');
  if (skip === undefined) pki = makeTestPki(path.join(tmp.dir, 'pki'));
});
after(() => tmp.cleanup());

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** An alert event as the alert rules emit it (resolved or firing). */
function alertEvent(status: 'firing' | 'resolved'): AegisEvent {
  const base = generateEvents(1, { seed: 3 })[0]!;
  return {
    ...base,
    type: 'sensor',
    status,
    alert: 'block-storm',
    severity: 'critical',
    message: 'High enforcement rate: 140 blocks/s on <!channel> & co',
    started_at: base.ts,
  } as unknown as AegisEvent;
}

async function sendThrough(
  raw: Obj,
  events: readonly AegisEvent[],
  receiverOptions: Omit<WebhookReceiverOptions, 'tls'>,
): Promise<{ bodies: unknown[]; results: string[] }> {
  const r = await startWebhookReceiver({ tls: { cert: pki!.serverCert, key: pki!.serverKey }, ...receiverOptions });
  try {
    const entry = { url: r.url, tls: { ca_file: pki!.caCert }, ...raw };
    assert.deepEqual(checkWebhookConfig(entry), []);
    const transport = createWebhookTransport(parseWebhookConfig(entry), {
      contentType: 'application/json',
      userAgent: 'aegisbpf/test',
    });
    const res = await transport.send(batchOf(events, formatJson), new AbortController().signal);
    await transport.close();
    assert.deepEqual(res, { kind: 'delivered' }, JSON.stringify(res));
    return { bodies: r.accepted.map((a) => JSON.parse(a.body.toString('utf8')) as unknown), results: [res.kind] };
  } finally {
    await r.close();
  }
}

test('preset slack: one {"text"} per event, Slack control characters escaped', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const events = [...generateEvents(3, { adversarial: true, seed: 8 }), alertEvent('firing')];
  const { bodies } = await sendThrough({ preset: 'slack' }, events, {
    check: (b) => {
      if (!isObj(b) || typeof b.text !== 'string' || b.text === '') return 'invalid_payload';
      if (Object.keys(b).some((k) => !['text', 'blocks', 'attachments', 'mrkdwn', 'thread_ts'].includes(k)))
        return 'invalid_payload';
      return undefined;
    },
  });
  assert.equal(bodies.length, 4, 'one request per event');
  const last = (bodies[3] as { text: string }).text;
  assert.match(last, /^\[critical\] High enforcement rate: 140 blocks\/s on &lt;!channel&gt; &amp; co/);
  for (const b of bodies) assert.doesNotMatch((b as { text: string }).text, /<|>/, 'no raw < or > reaches Slack');
});

test('preset pagerduty: Events v2 trigger with payload, resolve with the same dedup_key', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const routingKey = 'R0123456789abcdef0123456789abcde';
  const events = [
    generateEvents(200, { seed: 2 }).find((e) => e.type === 'block')!,
    alertEvent('firing'),
    alertEvent('resolved'),
  ];
  const { bodies } = await sendThrough({ preset: 'pagerduty', routing_key: routingKey }, events, {
    ok: { status: 202, body: '{"status":"success","message":"Event processed"}' },
    check: (b) => {
      if (!isObj(b)) return 'Event object is invalid';
      if (typeof b.routing_key !== 'string' || b.routing_key.length !== 32) return 'routing_key is invalid';
      if (!['trigger', 'acknowledge', 'resolve'].includes(String(b.event_action))) return 'event_action is invalid';
      if (b.dedup_key !== undefined && (typeof b.dedup_key !== 'string' || b.dedup_key.length > 255))
        return 'dedup_key is invalid';
      if (b.event_action !== 'trigger') return b.dedup_key === undefined ? 'dedup_key is required' : undefined;
      const p = b.payload;
      if (!isObj(p)) return 'payload is missing';
      if (typeof p.summary !== 'string' || p.summary === '' || p.summary.length > 1024) return 'summary is invalid';
      if (typeof p.source !== 'string' || p.source === '') return 'source is invalid';
      if (!['critical', 'error', 'warning', 'info'].includes(String(p.severity))) return 'severity is invalid';
      if (p.timestamp !== undefined && (typeof p.timestamp !== 'string' || !RFC3339.test(p.timestamp)))
        return 'timestamp is invalid';
      if (p.custom_details !== undefined && !isObj(p.custom_details)) return 'custom_details is invalid';
      return undefined;
    },
  });
  const [block, firing, resolved] = bodies as Obj[];
  assert.equal(block!.event_action, 'trigger');
  assert.equal((block!.payload as Obj).severity, 'error', 'an enforcement is an error');
  assert.equal((firing!.payload as Obj).severity, 'critical');
  assert.equal(resolved!.event_action, 'resolve');
  assert.equal(resolved!.dedup_key, firing!.dedup_key);
});

test('preset alertmanager: the batch as one POST /api/v2/alerts array; resolved alerts carry endsAt', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const events = [
    ...generateEvents(4, { adversarial: true, seed: 4 }).map((e) => ({ ...e, labels: { 'team-x': 'soc', env: 'p' } })),
    alertEvent('resolved'),
  ];
  const { bodies } = await sendThrough({ preset: 'alertmanager' }, events, {
    check: (b) => {
      if (!Array.isArray(b)) return 'body must be an array of postableAlert';
      for (const a of b) {
        if (!isObj(a) || !isObj(a.labels) || Object.keys(a.labels).length === 0) return 'labels in body is required';
        for (const [k, v] of Object.entries(a.labels)) {
          if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k)) return `invalid label name ${k}`;
          if (typeof v !== 'string') return `label ${k} must be a string`;
        }
        if (
          a.annotations !== undefined &&
          (!isObj(a.annotations) || Object.values(a.annotations).some((v) => typeof v !== 'string'))
        )
          return 'annotations must be strings';
        for (const k of ['startsAt', 'endsAt'])
          if (a[k] !== undefined && (typeof a[k] !== 'string' || !RFC3339.test(a[k])))
            return `${k} must be a date-time`;
      }
      return undefined;
    },
  });
  assert.equal(bodies.length, 1, 'one request for the batch');
  const alerts = bodies[0] as Obj[];
  assert.equal(alerts.length, 5);
  assert.equal((alerts[0]!.labels as Obj).label_team_x, 'soc');
  assert.equal((alerts[4]!.labels as Obj).alertname, 'block-storm');
  assert.equal(alerts[4]!.endsAt, events[4]!.ts);
});

test('body_template: placeholders JSON-escaped (adversarial values cannot change the document), $event whole', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const events = generateEvents(40, { adversarial: true, seed: 6 });
  const template = JSON.stringify({
    title: '{{ type }} by {{ comm }}',
    where: { host: '{{ host }}', path: '{{ path }}', args: '{{ args }}' },
    event: '{{ $event }}',
    '{{ type }}': true,
  });
  const { bodies } = await sendThrough({ body_template: template }, events, {});
  const arr = bodies[0] as Obj[];
  assert.equal(arr.length, 40);
  arr.forEach((b, i) => {
    const e = events[i]!;
    assert.deepEqual(Object.keys(b).sort(), ['event', 'title', 'where', e.type].sort());
    assert.equal(b.title, `${e.type} by ${e.comm}`);
    assert.equal((b.where as Obj).path, (e as { path?: string }).path ?? '');
    assert.equal((b.where as Obj).args, (e.args ?? []).join(' '));
    assert.deepEqual(b.event, JSON.parse(JSON.stringify(e)));
  });
});

test('validate refuses a body_template naming a missing field, and other bad webhook settings, with the key path', () => {
  const yaml = (sink: string): readonly string[] =>
    validateConfigText(`sources:\n  r: { type: stdin }\nsinks:\n  hook:\n${sink}`, {}).problems;
  const problems = yaml(
    `    type: webhook\n    url: https://hooks.example.net/x\n    body_template: '{"t": "{{ no_such_field }}"}'\n`,
  );
  assert.ok(
    problems.some((p) =>
      p.includes('sinks.hook.body_template: placeholder {{ no_such_field }}: no event field no_such_field'),
    ),
    problems.join('\n'),
  );
  const pd = yaml(`    type: webhook\n    url: https://events.pagerduty.com/v2/enqueue\n    preset: pagerduty\n`);
  assert.ok(
    pd.some((p) => p.includes('sinks.hook.routing_key: is required')),
    pd.join('\n'),
  );
  const hdr = yaml(`    type: webhook\n    url: https://h.example/x\n    headers: { Authorization: "Bearer x" }\n`);
  assert.ok(
    hdr.some((p) => p.includes('sinks.hook.headers.Authorization')),
    hdr.join('\n'),
  );
  assert.deepEqual(
    yaml(
      `    type: webhook\n    url: https://h.example/x\n    hmac: { secret_file: /run/secrets/hook }\n    headers: { X-Team: soc }\n`,
    ),
    [],
  );
});
