/**
 * The peer harness's workloads and subjects: how each shipper is started to carry the same events file to the same
 * receiver, each with the configuration a user would write for the job (product defaults otherwise).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { packagePath } from '../../src/util/paths';
import { RSYSLOGD, rsyslogSkipReason } from '../../test/helpers/rsyslog';
import { syslogNgRoot, syslogNgSkipReason } from '../../test/helpers/syslog-ng';
import type { TestPki } from '../../test/helpers/certs';

export type Workload = 'syslog-tcp' | 'syslog-tls' | 'syslog-relp' | 'hec' | 'es' | 'kafka';
export const WORKLOADS: readonly Workload[] = ['syslog-tcp', 'syslog-tls', 'syslog-relp', 'hec', 'es', 'kafka'];

export const WORKLOAD_TITLES: Readonly<Record<Workload, string>> = {
  'syslog-tcp': 'file → syslog tcp',
  'syslog-tls': 'file → syslog tls',
  'syslog-relp': 'file → syslog relp',
  hec: 'file → Splunk HEC',
  es: 'file → Elasticsearch _bulk',
  kafka: 'file → Kafka',
};

/** The receiver (bench/peers/null-receiver) each workload needs. */
export function receiverMode(w: Workload): { mode: string; tls: boolean } | undefined {
  if (w === 'syslog-tcp') return { mode: 'syslog', tls: false };
  if (w === 'syslog-tls') return { mode: 'syslog', tls: true };
  if (w === 'syslog-relp') return { mode: 'relp', tls: false };
  if (w === 'hec' || w === 'es') return { mode: w, tls: false };
  return undefined;
}

export interface RunContext {
  /** A fresh directory for this run (state files, configs, logs). */
  readonly dir: string;
  /** The events file (NDJSON); subjects that tail a file read a copy in `dir` so each run starts from offset 0. */
  readonly input: string;
  readonly port: number;
  /** Kafka only: the topic of this run (auto-created by the first produce). */
  readonly topic?: string;
  readonly pki: TestPki;
}

export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The subject exits by itself once everything is delivered (aegisbpf's replay, the baseline). */
  readonly exitsWhenDone: boolean;
  /** Where the subject's output goes (checked for errors and reported drops). */
  readonly log: string;
  /** Records the subject reported dropping, read from its log after the run. */
  readonly drops?: (log: string) => number;
}

export interface Subject {
  readonly name: string;
  readonly workloads: readonly Workload[];
  /** Why this subject cannot run on this machine for `w` (undefined: it can). */
  skip(w: Workload): string | undefined;
  /** What the subject does less (or more) than aegisbpf on `w`, shown next to the ratio. */
  note(w: Workload): string | undefined;
  launch(w: Workload, ctx: RunContext): Launch;
}

function copyInput(ctx: RunContext): string {
  const copy = path.join(ctx.dir, 'events.ndjson');
  fs.copyFileSync(ctx.input, copy);
  return copy;
}

export const baseline: Subject = {
  name: 'baseline',
  workloads: ['syslog-tcp', 'syslog-tls', 'syslog-relp', 'hec', 'es'],
  skip: () => undefined,
  note: () => 'no shipper: the raw lines framed and sent, the receiver’s ceiling',
  launch(w, ctx) {
    const r = receiverMode(w)!;
    return {
      command: process.execPath,
      args: [
        packagePath('dist', 'bench', 'peers', 'baseline-sender.js'),
        '--mode',
        r.mode,
        '--port',
        String(ctx.port),
        '--file',
        ctx.input,
        ...(r.tls ? ['--tls-ca', ctx.pki.caCert] : []),
      ],
      exitsWhenDone: true,
      log: path.join(ctx.dir, 'baseline.log'),
    };
  },
};

let kafkaValidates: string | undefined | null = null;
/** undefined when `type: kafka` validates on this build, else the reason. */
function aegisKafkaSkip(dir: string): string | undefined {
  if (kafkaValidates !== null) return kafkaValidates;
  const cfg = path.join(dir, 'kafka-probe.yml');
  fs.writeFileSync(
    cfg,
    `sources: { r: { type: replay, path: ${cfg} } }\nsinks: { k: { type: kafka, brokers: ["127.0.0.1:9092"], topic: bench } }\n`,
  );
  const r = spawnSync(process.execPath, [packagePath('bin', 'aegisbpf.js'), 'validate', cfg], {
    encoding: 'utf8',
  });
  kafkaValidates =
    r.status === 0
      ? undefined
      : `\`type: kafka\` does not validate on this build (the sink is being written on branch kafka): ${
          (r.stderr + r.stdout)
            .split('\n')
            .find((l) => l.startsWith('sinks.'))
            ?.slice(0, 160) ?? `exit ${String(r.status)}`
        }`;
  return kafkaValidates;
}

/**
 * `packageRoot`: another build of aegisbpf (a checkout with its dist/), run as the subject `name` next to this one,
 * e.g. the base commit of a change: `AEGIS_PEER_BASE=/work/main` (before/after in the same run).
 */
export function aegisbpf(probeDir: string, other?: { name: string; packageRoot: string }): Subject {
  const bin =
    other === undefined ? packagePath('bin', 'aegisbpf.js') : path.join(other.packageRoot, 'bin', 'aegisbpf.js');
  return {
    name: other?.name ?? 'aegisbpf',
    workloads: WORKLOADS,
    skip: (w) => (w === 'kafka' ? aegisKafkaSkip(probeDir) : undefined),
    note: () => undefined,
    launch(w, ctx) {
      const sink =
        w === 'kafka'
          ? `{ type: kafka, brokers: ["127.0.0.1:${ctx.port}"], topic: ${ctx.topic ?? 'bench'} }`
          : w === 'hec'
            ? // Indexer acknowledgement is on by default: a batch counts as delivered only when its ackId is indexed.
              `{ type: splunk_hec, endpoint: "http://127.0.0.1:${ctx.port}", token: bench-token }`
            : w === 'es'
              ? `{ type: elasticsearch, url: "http://127.0.0.1:${ctx.port}" }`
              : `{ type: syslog, transport: ${w.slice('syslog-'.length)}, host: 127.0.0.1, port: ${ctx.port}, format: rfc5424` +
                (w === 'syslog-tls' ? `, tls: { ca_file: ${ctx.pki.caCert} }` : '') +
                // The same window as rsyslog's omrelp below.
                (w === 'syslog-relp' ? ', relp: { window: 1024 }' : '') +
                ' }';
      const cfg = path.join(ctx.dir, 'aegisbpf.yml');
      fs.writeFileSync(
        cfg,
        [
          `data_dir: ${ctx.dir}`,
          // The replay ends before the sink has delivered its buffer: give the final flush the time it needs.
          'shutdown_timeout_ms: 600000',
          `sources: { r: { type: replay, path: ${ctx.input} } }`,
          `sinks: { s: ${sink} }`,
          '',
        ].join('\n'),
      );
      return {
        command: process.execPath,
        args: [bin, 'run', '--config', cfg],
        exitsWhenDone: true,
        log: path.join(ctx.dir, 'aegisbpf.log'),
      };
    },
  };
}

export const rsyslog: Subject = {
  name: 'rsyslog',
  workloads: ['syslog-tcp', 'syslog-tls', 'syslog-relp', 'es'],
  skip: (w) =>
    rsyslogSkipReason(
      w === 'es'
        ? ['imfile', 'omelasticsearch']
        : w === 'syslog-relp'
          ? ['imfile', 'omrelp']
          : ['imfile', 'lmnsd_ossl'],
    ),
  note: (w) =>
    w === 'es'
      ? 'forwards each line as the document without parsing it'
      : 'forwards each line without parsing it (imfile → omfwd/omrelp)',
  launch(w, ctx) {
    const copy = copyInput(ctx);
    const tpl =
      'template(name="fwd" type="string" string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%")';
    const action =
      w === 'es'
        ? `action(type="omelasticsearch" server="127.0.0.1" serverport="${ctx.port}" template="doc" searchIndex="aegisbpf-bench" bulkmode="on" maxbytes="1m")`
        : w === 'syslog-relp'
          ? `action(type="omrelp" target="127.0.0.1" port="${ctx.port}" template="fwd" windowSize="1024")`
          : `action(type="omfwd" target="127.0.0.1" port="${ctx.port}" protocol="tcp" TCP_Framing="octet-counted" template="fwd"` +
            (w === 'syslog-tls'
              ? ` StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" StreamDriver.CAFile="${ctx.pki.caCert}"`
              : '') +
            ')';
    const conf = path.join(ctx.dir, 'rsyslog.conf');
    fs.writeFileSync(
      conf,
      [
        `global(workDirectory="${ctx.dir}" maxMessageSize="64k")`,
        'module(load="imfile")',
        w === 'syslog-relp' ? 'module(load="omrelp")' : '',
        w === 'es' ? 'module(load="omelasticsearch")' : '',
        tpl,
        'template(name="doc" type="string" string="%msg%")',
        `ruleset(name="fwd" queue.type="LinkedList" queue.size="500000" queue.dequeueBatchSize="1024") { ${action} }`,
        `input(type="imfile" file="${copy}" tag="aegisbpf" ruleset="fwd")`,
        '',
      ].join('\n'),
    );
    return {
      command: RSYSLOGD ?? 'rsyslogd',
      args: ['-n', '-f', conf, '-i', path.join(ctx.dir, 'rsyslogd.pid')],
      exitsWhenDone: false,
      log: path.join(ctx.dir, 'rsyslogd.log'),
    };
  },
};

function syslogNgModuleDir(root: string): string {
  const base = path.join(root, 'usr', 'lib', 'syslog-ng');
  return path.join(base, fs.readdirSync(base).find((d) => /^\d+\.\d+$/.test(d)) ?? '');
}

export const syslogNg: Subject = {
  name: 'syslog-ng',
  workloads: ['syslog-tcp', 'syslog-tls'],
  skip: () => syslogNgSkipReason(),
  note: () => 'forwards each line without parsing it (file(flags(no-parse)) → syslog())',
  launch(w, ctx) {
    const root = syslogNgRoot()!;
    const mods = syslogNgModuleDir(root);
    const copy = copyInput(ctx);
    const tls =
      w === 'syslog-tls' ? ` transport("tls") tls(ca-file("${ctx.pki.caCert}") peer-verify(required-trusted))` : '';
    const conf = path.join(ctx.dir, 'syslog-ng.conf');
    fs.writeFileSync(
      conf,
      [
        `@version: ${path.basename(mods)}`,
        'options { log-fifo-size(100000); stats-freq(0); };',
        // log-iw-size: the source's window; with flow-control the destination's queue pushes back instead of dropping.
        `source s_file { file("${copy}" flags(no-parse) follow-freq(1) log-iw-size(10000) log-fetch-limit(1000)); };`,
        `destination d_out { syslog("127.0.0.1" port(${ctx.port})${tls === '' ? ' transport("tcp")' : tls}); };`,
        'log { source(s_file); destination(d_out); flags(flow-control); };',
        '',
      ].join('\n'),
    );
    return {
      command: path.join(root, 'usr', 'sbin', 'syslog-ng'),
      args: [
        '-F',
        '-f',
        conf,
        `--module-path=${mods}`,
        `--persist-file=${path.join(ctx.dir, 'syslog-ng.persist')}`,
        `--pidfile=${path.join(ctx.dir, 'syslog-ng.pid')}`,
        `--control=${path.join(ctx.dir, 'syslog-ng.ctl')}`,
        '--no-caps',
      ],
      env: {
        ...process.env,
        LD_LIBRARY_PATH: [
          path.join(root, 'usr/lib/x86_64-linux-gnu'),
          path.join(root, 'lib/x86_64-linux-gnu'),
          path.join(root, 'usr/lib/syslog-ng'),
        ].join(':'),
      },
      exitsWhenDone: false,
      log: path.join(ctx.dir, 'syslog-ng.log'),
    };
  },
};

/** The collector builds of scripts/services/otelcol-peer.sh (`info`): which binary carries which exporter. */
export interface OtelcolBuilds {
  /** exporter type → binary path, or the reason it could not be built. */
  readonly binaries: Readonly<Record<string, string>>;
  readonly problems: Readonly<Record<string, string>>;
}

const OTEL_EXPORTER: Partial<Record<Workload, string>> = {
  'syslog-tcp': 'syslog',
  'syslog-tls': 'syslog',
  hec: 'splunk_hec',
  es: 'elasticsearch',
  kafka: 'kafka',
};

/** Records a collector's exporters logged as dropped ("dropped_items": N). */
function otelDrops(log: string): number {
  let n = 0;
  for (const m of log.matchAll(/"dropped_items":\s*(\d+)/g)) n += Number(m[1]);
  return n;
}

export function otelcol(builds: OtelcolBuilds): Subject {
  return {
    name: 'otelcol',
    workloads: ['syslog-tcp', 'syslog-tls', 'hec', 'es', 'kafka'],
    skip(w) {
      const exporter = OTEL_EXPORTER[w]!;
      return builds.binaries[exporter] === undefined
        ? (builds.problems[exporter] ?? `no collector build with the ${exporter} exporter`)
        : undefined;
    },
    note: (w) =>
      w === 'hec'
        ? 'no indexer acknowledgement (the splunk_hec exporter does not poll acks); parses the JSON'
        : w === 'kafka'
          ? 'parses the JSON, sends the body re-serialized (encoding raw)'
          : 'parses the JSON (filelog json_parser); queue blocks instead of dropping',
    launch(w, ctx) {
      const exporter = OTEL_EXPORTER[w]!;
      const queue = 'sending_queue: { enabled: true, block_on_overflow: true }';
      const exporters: Record<string, string> = {
        syslog:
          `syslog: { endpoint: 127.0.0.1, port: ${ctx.port}, network: tcp, protocol: rfc5424, enable_octet_counting: true, ` +
          (w === 'syslog-tls'
            ? `tls: { ca_file: ${ctx.pki.caCert}, server_name_override: localhost }`
            : 'tls: { insecure: true }') +
          `, ${queue} }`,
        splunk_hec: `splunk_hec: { endpoint: "http://127.0.0.1:${ctx.port}/services/collector", token: bench-token, ${queue} }`,
        // Its defaults (a queue of 10 requests, batches of at least 1 MB or 10 s) with block_on_overflow deliver 100
        // events/s: filelog's requests of 100 entries fill the queue long before a batch reaches 1 MB. A queue of 100
        // requests lets batches fill; a flush_timeout of 1 s (not 10 s) keeps the last partial batch from adding 10 s
        // to a short run. The otel mapping mode, its default (mapping::mode is ignored in this release).
        // required_acks -1 (all in-sync replicas), like kcat's and aegisbpf's producers (its default is 1).
        kafka:
          `kafka: { brokers: ["127.0.0.1:${ctx.port}"], logs: { topic: ${ctx.topic ?? 'bench'}, encoding: raw }, ` +
          `producer: { required_acks: -1 }, ${queue} }`,
        elasticsearch:
          `elasticsearch: { endpoints: ["http://127.0.0.1:${ctx.port}"], logs_index: aegisbpf-bench, ` +
          'sending_queue: { enabled: true, block_on_overflow: true, queue_size: 100, batch: { flush_timeout: 1s } } }',
      };
      // The syslog exporter sends attributes.message as the message: parse the JSON into attributes (the same work as
      // the others) and carry the line as the message. The HEC and bulk exporters send the body: parse into it.
      const operators =
        exporter === 'syslog'
          ? '[ { type: json_parser, parse_to: attributes }, { type: copy, from: body, to: attributes.message } ]'
          : '[ { type: json_parser, parse_to: body } ]';
      const cfg = path.join(ctx.dir, 'otelcol.yaml');
      fs.writeFileSync(
        cfg,
        [
          'receivers:',
          `  filelog: { include: ["${copyInput(ctx)}"], start_at: beginning, operators: ${operators} }`,
          'exporters:',
          `  ${exporters[exporter]}`,
          'service:',
          '  telemetry: { metrics: { level: none }, logs: { level: info } }',
          `  pipelines: { logs: { receivers: [filelog], exporters: [${exporter}] } }`,
          '',
        ].join('\n'),
      );
      return {
        command: builds.binaries[exporter]!,
        args: [`--config=${cfg}`],
        exitsWhenDone: false,
        log: path.join(ctx.dir, 'otelcol.log'),
        drops: otelDrops,
      };
    },
  };
}

/** librdkafka's kcat (`kcat -P -l FILE`: each line one record), the Kafka workload's C peer. */
export const kcat: Subject = {
  name: 'kcat',
  workloads: ['kafka'],
  skip: () => (spawnSync('kcat', ['-V']).status === 0 ? undefined : 'kcat is not installed (apt-get install kcat)'),
  note: () => 'produces each line as a record without parsing it',
  launch(_w, ctx) {
    return {
      command: 'kcat',
      // acks=all is librdkafka's default; -l: one record per line, exit once all are acknowledged.
      args: ['-P', '-b', `127.0.0.1:${ctx.port}`, '-t', ctx.topic ?? 'bench', '-l', copyInput(ctx)],
      exitsWhenDone: true,
      log: path.join(ctx.dir, 'kcat.log'),
    };
  },
};
