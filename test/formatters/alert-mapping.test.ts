/**
 * The `alert` event type in every registered formatter: the mapping each format documents (docs/alerts.md), read back
 * with the strict parsers. The alert cases are part of the shared golden set (test/formatters/golden/events/alert-*),
 * so all-formatters.test.ts compares their bytes and the SIEM content tests (test/rules) walk them with every type.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlertEvent } from '../../src/event/types';
import { explainInvalidEvent } from '../../src/event/validate';
import { createFormatter } from '../../src/formatters/registry';
import { parseCef } from '../parsers/cef';
import { parseLeef } from '../parsers/leef';
import { parseRfc5424 } from '../parsers/rfc5424';
import { GOLDEN_CONTEXT, goldenCases } from './golden';

const cases = goldenCases()
  .filter((c) => c.event.type === 'alert')
  .map((c) => ({ name: c.name, event: c.event as AlertEvent }));
const firing = cases.find((c) => c.name === 'alert-firing')!.event;
const tricky = cases.find((c) => c.name === 'alert-resolved-injection')!.event;
const format = (name: string, e: AlertEvent): unknown => createFormatter<unknown>(name, GOLDEN_CONTEXT).format(e);

test('the alert golden events are valid canonical events', () => {
  assert.equal(cases.length, 2);
  for (const c of cases) assert.equal(explainInvalidEvent(c.event), undefined, c.name);
});

test('cef: signature, severity from the rule, msg and the aegisbpf alert keys, through the strict parser', () => {
  const r = parseCef(format('cef', firing) as string);
  assert.equal(r.signatureId, 'alert:firing');
  assert.equal(r.name, 'Alert firing');
  assert.equal(r.severity, '10');
  const x = Object.fromEntries(r.extension);
  assert.equal(x.msg, firing.message);
  assert.equal(x.aegisbpfAlert, 'block-storm');
  assert.equal(x.aegisbpfCondition, firing.condition);
  assert.equal(x.aegisbpfValue, '140.25');
  assert.equal(x.aegisbpfStartedAt, firing.started_at);
  const t = parseCef(format('cef', tricky) as string);
  assert.equal(t.signatureId, 'alert:resolved');
  assert.equal(t.severity, '2', 'a resolved alert is informational');
  assert.equal(Object.fromEntries(t.extension).aegisbpfAlert, tricky.alert, 'CEF syntax in a value stays a value');
  assert.equal(Object.fromEntries(t.extension).msg, tricky.message);
});

test('leef: alert attributes through the strict parser; injection stays inside values', () => {
  const r = parseLeef(format('leef', tricky) as string);
  assert.equal(r.eventId, 'alert:resolved');
  const a = Object.fromEntries(r.attributes);
  assert.equal(a.cat, 'alert');
  assert.equal(a.alert, tricky.alert);
  assert.equal(a.status, 'resolved');
  assert.equal(a.alertSeverity, 'high');
  assert.equal(a.value, '0');
});

test('ecs: an alert document with rule.name, event.kind alert and the rule under aegisbpf', () => {
  const d = JSON.parse(format('ecs', firing) as string) as {
    message: string;
    event: { kind: string; category: string[]; action: string; severity: number };
    rule: { name: string };
    aegisbpf: Record<string, unknown>;
  };
  assert.equal(d.message, firing.message);
  assert.deepEqual(
    [d.event.kind, d.event.category, d.event.action],
    ['alert', ['intrusion_detection'], 'alert-firing'],
  );
  assert.equal(d.event.severity, 10);
  assert.equal(d.rule.name, 'block-storm');
  assert.deepEqual(
    [d.aegisbpf.type, d.aegisbpf.alert, d.aegisbpf.status, d.aegisbpf.severity, d.aegisbpf.value],
    ['alert', 'block-storm', 'firing', 'critical', '140.25'],
  );
});

test('ocsf, json, rfc5424: the alert is there, whole', () => {
  const o = JSON.parse(format('ocsf', firing) as string) as { message: string; unmapped: Record<string, unknown> };
  assert.equal(o.message, firing.message);
  assert.equal(o.unmapped.alert, 'block-storm');
  assert.equal(o.unmapped.alert_severity, 'critical');
  assert.deepEqual(JSON.parse(format('json', tricky) as string), tricky);
  const m = parseRfc5424(format('rfc5424', firing) as string);
  assert.equal(m.msgId, 'alert:firing');
  assert.equal(m.severity, 2, 'critical → syslog critical');
});
