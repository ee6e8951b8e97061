/**
 * The shipped rsyslog content (rules/rsyslog/*.conf) started as a real rsyslogd on loopback, for the syslog sink
 * and rules tests. The configuration files are used as they are, with only their site-specific values rewritten:
 * ports (514/6514/2514 → free loopback ports), paths (/var/log/aegisbpf/, /etc/rsyslog.d/tls/ → a temp dir and
 * generated test certificates), `siem.example.net` targets → 127.0.0.1, inputs bound to 127.0.0.1, and a
 * `global(workDirectory=…)` line in front. Every rewrite must match (so a config edit cannot silently escape the
 * test). Tests can also record each raw MSG (`rawFile`) next to the parsed JSON output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSyslogConfig } from '../../src/sinks/syslog/config';
import { createSyslogTransport } from '../../src/sinks/syslog/transport';
import { createLogger } from '../../src/util/logger';
import { packagePath } from '../../src/util/paths';
import type { TestPki } from './certs';
import { makeTestPki, opensslSkipReason } from './certs';
import type { Rsyslog } from './rsyslog';
import { readJsonLines, rsyslogSkipReason, startRsyslog } from './rsyslog';

export const RSYSLOG_RULES_DIR = packagePath('rules', 'rsyslog');

export interface RulesConfigOptions {
  readonly dir: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly pki: TestPki | undefined;
  /**
   * Also record what arrived in <dir>/raw.log: `true` writes each MSG as received (one per line; our MSGs are
   * JSON); `'rawmsg'` writes each whole message, JSON-escaped, as `{"raw":"…"}` lines.
   */
  readonly recordRaw?: boolean | 'rawmsg';
  /** Extra lines appended to the configuration (tests only). */
  readonly extra?: string;
  /** A last rewrite of the whole text (tests that change one setting, e.g. the ruleset queue). */
  readonly rewrite?: (config: string) => string;
}

/** Replace every occurrence of `from`, which must occur at least once. */
function must(text: string, from: string | RegExp, to: string, file: string): string {
  const found = typeof from === 'string' ? text.includes(from) : from.test(text);
  if (!found) throw new Error(`${file}: expected to find ${String(from)} to rewrite for the test`);
  return typeof from === 'string'
    ? text.split(from).join(to)
    : text.replace(new RegExp(from.source, from.flags.includes('g') ? from.flags : from.flags + 'g'), to);
}

/** The text of rules/rsyslog/<file> rewritten for a test instance (see the module comment). */
export function rulesConfig(file: string, options: RulesConfigOptions): string {
  let text = fs.readFileSync(path.join(RSYSLOG_RULES_DIR, file), 'utf8');
  const { ports, pki, dir } = options;
  text = must(text, '/var/log/aegisbpf/', `${dir}/`, file);
  const portNames: Record<string, string> = { '514': 'tcp', '6514': 'tls', '2514': 'relp' };
  text = text.replace(/(type="imudp" port=)"514"/g, `$1"${ports.udp ?? 0}"`);
  for (const [port, name] of Object.entries(portNames)) {
    if (text.includes(`port="${port}"`)) {
      const p = ports[name];
      if (p === undefined) throw new Error(`${file}: uses port ${port} but the test allocated no '${name}' port`);
      text = text.split(`port="${port}"`).join(`port="${p}"`);
    }
  }
  text = text.replace(/input\(type="(imtcp|imrelp|imudp)"/g, 'input(type="$1" address="127.0.0.1"');
  if (text.includes('target="siem.example.net"'))
    text = text.split('target="siem.example.net"').join('target="127.0.0.1"');
  if (text.includes('/etc/rsyslog.d/tls/')) {
    if (pki === undefined) throw new Error(`${file}: needs TLS certificates`);
    const files: Record<string, string> = {
      'ca.pem': pki.caCert,
      'server-cert.pem': pki.serverCert,
      'server-key.pem': pki.serverKey,
      'client-cert.pem': pki.clientCert,
      'client-key.pem': pki.clientKey,
    };
    text = text.replace(/\/etc\/rsyslog\.d\/tls\/([a-z-]+\.pem)/g, (_, f: string) => {
      const to = files[f];
      if (to === undefined) throw new Error(`${file}: unknown certificate file ${f}`);
      return to;
    });
  }
  if (options.recordRaw === true || options.recordRaw === 'rawmsg') {
    text = must(
      text,
      '  action(type="mmpstrucdata")',
      `  action(type="omfile" file="${dir}/raw.log" template="aegisbpf_test_raw")\n  action(type="mmpstrucdata")`,
      file,
    );
    const tpl = options.recordRaw === 'rawmsg' ? '{\\"raw\\":\\"%rawmsg:::json%\\"}\\n' : '%msg%\\n';
    text = `template(name="aegisbpf_test_raw" type="string" string="${tpl}")\n` + text;
  }
  if (options.rewrite !== undefined) {
    const rewritten = options.rewrite(text);
    if (rewritten === text) throw new Error(`${file}: the test's rewrite changed nothing`);
    text = rewritten;
  }
  return `# test instance of rules/rsyslog/${file}\nglobal(workDirectory="${dir}")\n${text}\n${options.extra ?? ''}\n`;
}

export type ReceiverVariant = 'aegisbpf-receiver.conf' | 'aegisbpf-receiver-gtls.conf';

export interface Receiver {
  readonly rsyslog: Rsyslog;
  readonly pki: TestPki;
  readonly dir: string;
  /** Parsed output: one JSON object per message. */
  readonly eventsFile: string;
  /** Raw MSGs (when recordRaw). */
  readonly rawFile: string;
  readonly ports: Readonly<Record<string, number>>;
  /** Sink configuration (raw YAML-shaped object) reaching this receiver over `transport`. */
  sinkConfig(transport: 'udp' | 'tcp' | 'tls' | 'relp', extra?: Record<string, unknown>): Record<string, unknown>;
  lines(): Record<string, unknown>[];
  cleanup(): Promise<void>;
}

export function receiverSkipReason(variant: ReceiverVariant = 'aegisbpf-receiver.conf'): string | undefined {
  const modules = [
    'imtcp',
    'imrelp',
    'mmpstrucdata',
    'mmjsonparse',
    variant === 'aegisbpf-receiver.conf' ? 'lmnsd_ossl' : 'lmnsd_gtls',
  ];
  if (variant === 'aegisbpf-receiver.conf') modules.push('imudp');
  return rsyslogSkipReason(modules) ?? opensslSkipReason();
}

/**
 * Run `body` against a started receiver, cleaned up afterwards; the test is skipped with the reason where rsyslog
 * (or its modules) cannot run, and rsyslogd's output is attached to a failure.
 */
export async function withReceiver(
  t: { skip(reason: string): void; diagnostic(msg: string): void },
  body: (r: Receiver) => Promise<void>,
  variant: ReceiverVariant = 'aegisbpf-receiver.conf',
  options: ReceiverOptions = {},
): Promise<void> {
  const skip = receiverSkipReason(variant);
  if (skip !== undefined) {
    t.skip(skip);
    return;
  }
  const r = await startReceiver(variant, options);
  try {
    await body(r);
  } catch (err) {
    t.diagnostic(`rsyslogd output:\n${r.rsyslog.output().slice(-2000)}`);
    throw err;
  } finally {
    await r.cleanup();
  }
}

export interface ReceiverOptions {
  readonly recordRaw?: boolean | 'rawmsg';
  readonly extra?: string;
  readonly rewrite?: (config: string) => string;
}

export async function startReceiver(
  variant: ReceiverVariant = 'aegisbpf-receiver.conf',
  options: ReceiverOptions = {},
): Promise<Receiver> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-syslog-rcv-'));
  const pki = makeTestPki(path.join(dir, 'tls'));
  const portKinds: Record<string, 'tcp' | 'udp'> =
    variant === 'aegisbpf-receiver.conf'
      ? { udp: 'udp', tcp: 'tcp', tls: 'tcp', relp: 'tcp' }
      : { tls: 'tcp', relp: 'tcp' };
  const rsyslog = await startRsyslog({
    dir,
    ports: portKinds,
    config: (ctx) =>
      rulesConfig(variant, {
        dir,
        ports: ctx.ports,
        pki,
        recordRaw: options.recordRaw,
        extra: options.extra,
        rewrite: options.rewrite,
      }),
  });
  const gtls = variant === 'aegisbpf-receiver-gtls.conf';
  const receiver: Receiver = {
    rsyslog,
    pki,
    dir,
    eventsFile: path.join(dir, 'events.json'),
    rawFile: path.join(dir, 'raw.log'),
    ports: rsyslog.ports,
    sinkConfig(transport, extra = {}) {
      const base: Record<string, unknown> = {
        type: 'syslog',
        transport,
        host: '127.0.0.1',
        port: rsyslog.ports[transport],
      };
      // ossl receiver: mutual TLS (client certificate required); gtls receiver: TLS anon for clients, RELP+TLS mutual.
      const clientTls = { ca_file: pki.caCert, cert_file: pki.clientCert, key_file: pki.clientKey };
      if (transport === 'tls') base.tls = gtls ? { ca_file: pki.caCert } : clientTls;
      if (transport === 'relp' && gtls) {
        base.relp = { tls: true };
        base.tls = clientTls;
      }
      return { ...base, ...extra };
    },
    lines: () => readJsonLines(path.join(dir, 'events.json')),
    async cleanup() {
      await rsyslog.cleanup();
      if (process.env.AEGIS_KEEP_TEST_DIRS !== '1') fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  if (gtls) await warmUpRelpTls(receiver);
  return receiver;
}

/**
 * Readiness of the GnuTLS RELP listener beyond LISTEN: one RELP session opened and closed. Seen once in CI on a loaded
 * machine: the first RELP+TLS `open` to a freshly started rsyslog (librelp, GnuTLS, mutual TLS 1.3) got no answer
 * for 10 s, while later sessions were answered; not reproduced in 20 runs since. Tests then start from a listener
 * that has answered once. (A sink meeting that in production reports the healthcheck failure and retries.)
 */
async function warmUpRelpTls(receiver: Receiver): Promise<void> {
  const transport = createSyslogTransport(parseSyslogConfig(receiver.sinkConfig('relp')), {
    logger: createLogger({ level: 'ERROR', write: () => undefined }),
    counters: {},
  });
  let last = '';
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const h = await transport.healthcheck(new AbortController().signal);
      if (h.healthy) return;
      last = h.reason ?? '';
    }
    throw new Error(
      `the RELP+TLS receiver did not answer a RELP open in 3 attempts: ${last}\n${receiver.rsyslog.output()}`,
    );
  } finally {
    await transport.close();
  }
}
