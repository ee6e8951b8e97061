/**
 * `aegisbpf alerts configure | rule | custom | list | test`: alert rules and their webhook in a configuration file
 * (docs/alerts.md, docs/cli.md). The editing commands change the file through the YAML library's document model,
 * so comments and layout elsewhere in the file are kept; the result is validated as `aegisbpf validate` would,
 * and the file is only replaced (atomically, keeping its mode) when it is valid.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ALERT_SEVERITIES } from '../../event/types';
import type { AegisEvent } from '../../event/types';
import { validateConfigText } from '../../config/load';
import { parseAlertRule } from '../../pipeline/alerts/rule';
import { createAlertEngine, metricsFromStats } from '../../pipeline/alerts/engine';
import { buildSink } from '../../sinks/build';
import { createDeadLetterQueue } from '../../sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../sinks/core/dead-letter';
import { createStatsRegistry } from '../../telemetry/stats';
import { AegisError, describeError } from '../../util/errors';
import { createLogger } from '../../util/logger';
import { EXIT } from '../../util/exit-codes';
import { parseCommandArgs } from '../args';
import type { Command, CommandIo } from '../command';

const DEFAULT_CONFIG = '/etc/aegisbpf/aegisbpf.yml';
const DEFAULT_SINK = 'alerts-webhook';

const USAGE = `Usage: aegisbpf alerts SUBCOMMAND [options] [--config FILE]

  configure --webhook URL [--preset slack|pagerduty|alertmanager] [--sink NAME]
        Add (or replace) a webhook sink for alerts (default name ${DEFAULT_SINK}).
  rule [--block-rate N/s] [--drops N/s] [--map-utilization N%] [--sink NAME] [--severity LEVEL]
        Add the standard rules: block-rate (rate(type == "block", 1m) > N), drops (drops(1m) > N),
        map-utilization (map_utilization() >= N). A rule of the same name is replaced.
  custom --condition EXPR --message TEXT --severity LEVEL [--name NAME] [--sink NAME] [--for D] [--repeat D]
        Add a rule with any condition (docs/alerts.md).
  list [--json]
        The configured rules.
  test NAME
        Send one firing notification of rule NAME to its sinks now, and report whether it was delivered.

  --config FILE  the configuration file (default ${DEFAULT_CONFIG}); configure creates it when missing

Severities: ${ALERT_SEVERITIES.join(', ')}. The webhook URL is a secret (chat services put their credential in it):
the file is written with mode 0600 when it is created. Exit codes: 0 done, 1 test not delivered, 2 usage or an
invalid result (nothing written).`;

const OPTIONS = {
  config: { type: 'string' },
  webhook: { type: 'string' },
  preset: { type: 'string' },
  sink: { type: 'string' },
  'block-rate': { type: 'string' },
  drops: { type: 'string' },
  'map-utilization': { type: 'string' },
  condition: { type: 'string' },
  message: { type: 'string' },
  severity: { type: 'string' },
  name: { type: 'string' },
  for: { type: 'string' },
  repeat: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const usage = (m: string): never => {
  throw new AegisError('AEGIS_ERR_USAGE', `alerts: ${m}. See 'aegisbpf alerts --help'.`);
};

/** `100/s`, `100`, `80%` → 100, 100, 80. */
function amount(flag: string, text: string, unit: '/s' | '%'): number {
  const m = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?)\\s*(${unit === '%' ? '%' : '/s'})?\\s*$`).exec(text);
  if (m === null) return usage(`--${flag}: "${text}" is not a number${unit === '%' ? ' (e.g. 80%)' : ' (e.g. 100/s)'}`);
  return Number(m[1]);
}

function readDocument(file: string, create: boolean): YAML.Document {
  if (!fs.existsSync(file)) {
    if (!create)
      throw new AegisError('AEGIS_ERR_CONFIG_READ', `${file}: no such file (aegisbpf alerts configure creates it)`);
    return new YAML.Document({});
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `${file}: cannot read: ${describeError(err)}`, { cause: err });
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new AegisError(
      'AEGIS_ERR_CONFIG_INVALID',
      `${file}: ${doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML'}`,
    );
  return doc;
}

/** Validate, then replace the file atomically (same directory, keeping the mode; 0600 for a new file). */
function writeDocument(file: string, doc: YAML.Document, io: CommandIo): number {
  const text = doc.toString();
  const result = validateConfigText(text, io.env);
  if (result.config === undefined) {
    io.stderr.write(`alerts: the result would not be a valid configuration; ${file} is unchanged:\n`);
    for (const p of result.problems) io.stderr.write(`  ${p}\n`);
    return EXIT.USAGE;
  }
  const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o600;
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
  return EXIT.OK;
}

/** The alerts list node, created when missing; a rule with the same name is replaced in place. */
function putRule(doc: YAML.Document, rule: Record<string, unknown>): void {
  let seq = doc.get('alerts');
  if (!YAML.isSeq(seq)) {
    seq = doc.createNode([]);
    doc.set('alerts', seq);
  }
  const items = (seq as YAML.YAMLSeq).items;
  const index = items.findIndex((n) => YAML.isMap(n) && n.get('name') === rule.name);
  const node = doc.createNode(rule);
  if (index >= 0) items[index] = node;
  else items.push(node);
}

function alertSinks(doc: YAML.Document, explicit: string | undefined): string[] {
  if (explicit !== undefined) return [explicit];
  const sinks = doc.get('sinks');
  return YAML.isMap(sinks) && sinks.has(DEFAULT_SINK) ? [DEFAULT_SINK] : [];
}

function severityOf(text: string | undefined, fallback: string): string {
  const s = text ?? fallback;
  if (!(ALERT_SEVERITIES as readonly string[]).includes(s))
    return usage(`--severity: ${s} is not one of ${ALERT_SEVERITIES.join(', ')}`);
  return s;
}

async function sendTest(
  config: NonNullable<ReturnType<typeof validateConfigText>['config']>,
  name: string,
  io: CommandIo,
) {
  const raw = (config.alerts ?? []).find((r) => r.name === name);
  if (raw === undefined) {
    io.stderr.write(
      `alerts test: no rule named ${name} (configured: ${(config.alerts ?? []).map((r) => String(r.name)).join(', ') || 'none'})\n`,
    );
    return EXIT.USAGE;
  }
  const rule = parseAlertRule(raw);
  if (rule.sinks.length === 0) {
    io.stderr.write(`alerts test: rule ${name} has no sinks to send to\n`);
    return EXIT.USAGE;
  }
  const stats = createStatsRegistry();
  const logger = createLogger({ level: 'ERROR', write: (line) => io.stderr.write(line) });
  const engine = createAlertEngine([rule], { hostname: os.hostname(), metrics: metricsFromStats(stats) });
  const n = engine.testNotification(name, Date.now());
  if (n === undefined) return EXIT.USAGE;
  const event: AegisEvent = { ...n.event, message: `[test] ${n.event.message}` };
  // Rejected notifications are reported here, not written anywhere: remember the receiver's reason.
  const reasons: string[] = [];
  const counted = createDeadLetterQueue({ path: undefined, maxBytes: 0, logger, stats: stats.deadLetter });
  const deadLetter: DeadLetterQueue = {
    path: undefined,
    write: (entries) => {
      for (const e of entries) reasons.push(e.reason);
      return counted.write(entries);
    },
    writeSync: (entries, deadlineAt) => {
      for (const e of entries) reasons.push(e.reason);
      return counted.writeSync(entries, deadlineAt);
    },
    close: () => counted.close(),
  };
  let failed = 0;
  for (const sinkName of rule.sinks) {
    const entry = config.sinks.find((s) => s.name === sinkName);
    if (entry === undefined) continue;
    const built = buildSink(entry, {
      logger,
      hostname: os.hostname(),
      version: 'alerts-test',
      dataDir: config.dataDir,
      stats,
      deadLetter,
    });
    reasons.length = 0;
    await built.sink.accept([event]);
    const report = await built.sink.close(15_000);
    const s = stats.sinks.get(sinkName);
    if (report.delivered === 1) io.stdout.write(`${sinkName}: delivered\n`);
    else {
      failed++;
      io.stdout.write(`${sinkName}: not delivered: ${reasons[0] ?? s?.lastError ?? 'no answer in 15 s'}\n`);
    }
  }
  return failed === 0 ? EXIT.OK : EXIT.FAILURE;
}

export const alertsCommand: Command = {
  name: 'alerts',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('alerts', argv, OPTIONS, 2);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const sub = positionals[0];
    const file = values.config ?? DEFAULT_CONFIG;
    switch (sub) {
      case 'configure': {
        if (values.webhook === undefined) return usage('configure: --webhook URL is required');
        const doc = readDocument(file, true);
        const sink: Record<string, unknown> = { type: 'webhook', url: values.webhook };
        if (values.preset !== undefined) sink.preset = values.preset;
        const name = values.sink ?? DEFAULT_SINK;
        doc.setIn(['sinks', name], doc.createNode(sink));
        const code = writeDocument(file, doc, io);
        if (code === EXIT.OK) io.stdout.write(`${file}: sink ${name} (webhook) written\n`);
        return code;
      }
      case 'rule': {
        const doc = readDocument(file, false);
        const sinks = alertSinks(doc, values.sink);
        const severity = severityOf(values.severity, 'high');
        const rules: Record<string, unknown>[] = [];
        const add = (name: string, condition: string, message: string): void => {
          rules.push({ name, condition, severity, message, ...(sinks.length > 0 ? { sinks } : {}) });
        };
        if (values['block-rate'] !== undefined)
          add(
            'block-rate',
            `rate(type == "block", 1m) > ${amount('block-rate', values['block-rate'], '/s')}`,
            'High enforcement rate: {{ value }} blocks/s on {{ host }}',
          );
        if (values.drops !== undefined)
          add(
            'drops',
            `drops(1m) > ${amount('drops', values.drops, '/s')}`,
            'Events dropped: {{ value }}/s on {{ host }}',
          );
        if (values['map-utilization'] !== undefined)
          add(
            'map-utilization',
            `map_utilization() >= ${amount('map-utilization', values['map-utilization'], '%')}`,
            'Policy map {{ value }}% full on {{ host }}',
          );
        if (rules.length === 0) return usage('rule: give --block-rate, --drops and/or --map-utilization');
        for (const r of rules) putRule(doc, r);
        const code = writeDocument(file, doc, io);
        if (code === EXIT.OK)
          io.stdout.write(`${file}: rules ${rules.map((r) => String(r.name)).join(', ')} written\n`);
        return code;
      }
      case 'custom': {
        if (values.condition === undefined || values.message === undefined || values.severity === undefined)
          return usage('custom: --condition, --message and --severity are required');
        const doc = readDocument(file, false);
        const sinks = alertSinks(doc, values.sink);
        const name = values.name ?? `custom-${Date.now().toString(36)}`;
        putRule(doc, {
          name,
          condition: values.condition,
          severity: severityOf(values.severity, 'high'),
          message: values.message,
          ...(sinks.length > 0 ? { sinks } : {}),
          ...(values.for === undefined ? {} : { for: values.for }),
          ...(values.repeat === undefined ? {} : { repeat: values.repeat }),
        });
        const code = writeDocument(file, doc, io);
        if (code === EXIT.OK) io.stdout.write(`${file}: rule ${name} written\n`);
        return code;
      }
      case 'list':
      case 'test': {
        const text = (() => {
          try {
            return fs.readFileSync(file, 'utf8');
          } catch (err) {
            throw new AegisError('AEGIS_ERR_CONFIG_READ', `${file}: cannot read: ${describeError(err)}`, {
              cause: err,
            });
          }
        })();
        const result = validateConfigText(text, io.env);
        if (result.config === undefined) {
          io.stderr.write(`${file}: ${result.problemCount} problem(s)\n`);
          for (const p of result.problems) io.stderr.write(`  ${p}\n`);
          return EXIT.USAGE;
        }
        if (sub === 'test') {
          const name = positionals[1];
          if (name === undefined) return usage('test: give the rule NAME');
          return sendTest(result.config, name, io);
        }
        const rules = result.config.alerts ?? [];
        if (values.json === true) io.stdout.write(JSON.stringify(rules, null, 2) + '\n');
        else if (rules.length === 0) io.stdout.write('no alert rules\n');
        else
          for (const raw of rules) {
            const r = parseAlertRule(raw);
            const text = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
            const extra = [
              raw.for === undefined ? '' : ` for ${text(raw.for)}`,
              raw.repeat === undefined ? '' : ` repeat ${text(raw.repeat)}`,
            ].join('');
            const sinks = r.sinks.length > 0 ? ` → ${r.sinks.join(', ')}` : '';
            io.stdout.write(`${r.name}  [${r.severity}]  ${r.condition.source}${extra}${sinks}\n`);
          }
        return EXIT.OK;
      }
      default:
        return usage(sub === undefined ? 'missing SUBCOMMAND' : `unknown subcommand ${sub}`);
    }
  },
};
