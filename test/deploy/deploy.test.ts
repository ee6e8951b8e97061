/**
 * deploy/: each file checked by the tool that owns its format where one runs here — systemd-analyze verify (the
 * unit), promtool (scrape config, SLO recording rules and their unit tests), amtool (Alertmanager route) — each
 * check shown to fail on a broken copy, so that a pass means something; and, where no tool installs here
 * (Kubernetes, promtail), the structure and every name that must agree with aegisbpf itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { packagePath } from '../../src/util/paths';
import { runCli } from '../helpers/cli';
import { promtool as runPromtool, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

type Obj = Record<string, unknown>;
const read = (...p: string[]): string => fs.readFileSync(packagePath(...p), 'utf8');
const promtool = (args: readonly string[]): { code: number | null; output: string } => {
  const r = runPromtool(args);
  return { code: r.code, output: r.stdout + r.stderr };
};
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** `Key=value` lines of a unit file, per key (a key may repeat). */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

const UNIT = read('deploy', 'systemd', 'aegisbpf.service');
const SENSOR_CAPS = [
  'CAP_BPF',
  'CAP_PERFMON',
  'CAP_SYS_ADMIN',
  'CAP_NET_ADMIN',
  'CAP_SYS_RESOURCE',
  'CAP_DAC_READ_SEARCH',
  'CAP_SYS_PTRACE',
];

void test('systemd unit: hardened as the issue asks, and systemd-analyze verify has nothing to say (it does on a broken copy)', (t) => {
  const keys = unitKeys(UNIT);
  assert.deepEqual(keys.get('CapabilityBoundingSet')?.[0]?.split(' ').sort(), [...SENSOR_CAPS].sort());
  assert.deepEqual(keys.get('ProtectSystem'), ['strict']);
  assert.deepEqual(keys.get('Restart'), ['on-failure']);
  assert.deepEqual(keys.get('NoNewPrivileges'), ['yes']);
  const rw = keys.get('ReadWritePaths')?.[0]?.split(' ') ?? [];
  for (const p of ['/var/lib/aegisbpf', '/var/log/aegisbpf', '/run/aegisbpf', '/sys/fs/bpf'])
    assert.ok(rw.includes(p), p);
  assert.match(keys.get('ExecStart')![0]!, /^\/usr\/bin\/aegisbpf run .*--metrics-port=9090/);
  if (!have('systemd-analyze')) return t.skip('systemd-analyze is not installed (Debian package systemd)');
  const { dir, cleanup } = makeTempDir('aegis-unit-');
  try {
    // verify checks that ExecStart exists: point it at this checkout's launcher.
    const verify = (text: string): { status: number | null; out: string } => {
      const file = path.join(dir, 'aegisbpf.service');
      fs.writeFileSync(file, text.replace('/usr/bin/aegisbpf', packagePath('bin', 'aegisbpf.js')));
      const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      return { status: r.status, out: (r.stdout + r.stderr).trim() };
    };
    const good = verify(UNIT);
    assert.equal(good.status, 0, good.out);
    assert.equal(good.out, '', 'no warning either');
    const broken = verify(UNIT.replace('ProtectSystem=strict', 'ProtectSystem=strickt'));
    assert.match(broken.out, /protect system value/i, 'verify reads the hardening keys');
  } finally {
    cleanup();
  }
});

void test('prometheus: promtool check config passes with the alert and SLO rules; the Kubernetes job keeps job="aegisbpf"', (t) => {
  const k8s = YAML.parse(read('deploy', 'prometheus', 'prometheus-kubernetes.yml')) as { scrape_configs: Obj[] };
  const relabel = k8s.scrape_configs[0]!.relabel_configs as Obj[];
  assert.ok(relabel.some((r) => r.target_label === 'job' && r.replacement === 'aegisbpf'));
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const { dir, cleanup } = makeTempDir('aegis-prom-');
  try {
    fs.mkdirSync(path.join(dir, 'rules'));
    fs.copyFileSync(packagePath('rules', 'prometheus', 'alerts.yml'), path.join(dir, 'rules', 'aegisbpf-alerts.yml'));
    fs.copyFileSync(packagePath('rules', 'prometheus', 'slo.yml'), path.join(dir, 'rules', 'aegisbpf-slo.yml'));
    const cfg = read('deploy', 'prometheus', 'prometheus.yml');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), cfg);
    const ok = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
    assert.equal(ok.code, 0, ok.output);
    assert.match(ok.output, /SUCCESS: 2 rule files found/);
    const doc = YAML.parse(cfg) as { scrape_configs: Obj[] };
    assert.equal(doc.scrape_configs[0]!.job_name, 'aegisbpf', 'the alerts and SLO rules select job="aegisbpf"');
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      cfg.replace('scrape_interval: 15s', 'scrape_interval: 15 seconds'),
    );
    assert.notEqual(
      promtool(['check', 'config', path.join(dir, 'prometheus.yml')]).code,
      0,
      'promtool rejects a broken copy',
    );
  } finally {
    cleanup();
  }
});

void test('SLO recording rules: slo_uptime_30d and slo_event_latency_p99 pass their promtool tests, which fail for a wrong expression', (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const rules = YAML.parse(read('rules', 'prometheus', 'slo.yml')) as { groups: { rules: { record: string }[] }[] };
  assert.deepEqual(
    rules.groups.flatMap((g) => g.rules.map((r) => r.record)),
    ['slo_uptime_30d', 'slo_event_latency_p99'],
  );
  const check = promtool(['check', 'rules', packagePath('rules', 'prometheus', 'slo.yml')]);
  assert.equal(check.code, 0, check.output);
  const run = promtool(['test', 'rules', packagePath('rules', 'prometheus', 'tests', 'slo.test.yml')]);
  assert.equal(run.code, 0, run.output);
  // Mutation: the guide's aegisbpf_up average (1 whenever scraped) must fail the uptime test.
  const { dir, cleanup } = makeTempDir('aegis-slo-');
  try {
    fs.mkdirSync(path.join(dir, 'tests'));
    fs.writeFileSync(
      path.join(dir, 'slo.yml'),
      read('rules', 'prometheus', 'slo.yml').replace(
        'avg_over_time(up{job="aegisbpf"}[30d])',
        'avg_over_time(aegisbpf_up[30d])',
      ),
    );
    fs.copyFileSync(
      packagePath('rules', 'prometheus', 'tests', 'slo.test.yml'),
      path.join(dir, 'tests', 'slo.test.yml'),
    );
    assert.notEqual(promtool(['test', 'rules', path.join(dir, 'tests', 'slo.test.yml')]).code, 0);
  } finally {
    cleanup();
  }
});

void test('alertmanager: amtool check-config passes; critical aegisbpf alerts route to PagerDuty with the key from a file', (t) => {
  const cfg = YAML.parse(read('deploy', 'alertmanager', 'alertmanager.yml')) as Obj;
  const route = cfg.route as { receiver: string; routes: { receiver: string; matchers: string[] }[] };
  const receivers = cfg.receivers as { name: string; pagerduty_configs?: Obj[] }[];
  const critical = route.routes.find((r) => r.matchers.includes('severity="critical"'))!;
  const pd = receivers.find((r) => r.name === critical.receiver)!;
  assert.ok(pd.pagerduty_configs?.[0]?.routing_key_file, 'PagerDuty routing key from a file');
  assert.ok(!JSON.stringify(cfg).includes('routing_key"'), 'no routing key in the file');
  // Every alert of rules/prometheus/alerts.yml with severity critical matches the PagerDuty route.
  const alerts = (YAML.parse(read('rules', 'prometheus', 'alerts.yml')) as { groups: { rules: Obj[] }[] }).groups
    .flatMap((g) => g.rules)
    .filter((r) => (r.labels as Obj | undefined)?.severity === 'critical');
  assert.ok(alerts.length > 0);
  for (const a of alerts) assert.match(String(a.alert), /^AegisBPF/);
  if (!have('amtool'))
    return t.skip('amtool is not installed (Debian package prometheus-alertmanager; scripts/setup.sh test)');
  const ok = spawnSync('amtool', ['check-config', packagePath('deploy', 'alertmanager', 'alertmanager.yml')], {
    encoding: 'utf8',
  });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  const { dir, cleanup } = makeTempDir('aegis-am-');
  try {
    const broken = path.join(dir, 'alertmanager.yml');
    fs.writeFileSync(
      broken,
      read('deploy', 'alertmanager', 'alertmanager.yml').replace('receiver: aegisbpf-pagerduty', 'receiver: nobody'),
    );
    assert.notEqual(
      spawnSync('amtool', ['check-config', broken]).status,
      0,
      'amtool rejects a route to an undefined receiver',
    );
  } finally {
    cleanup();
  }
});

void test('kubernetes DaemonSet: the guide’s probes on the daemon’s real port and command, a valid embedded config, the unit’s capabilities', () => {
  const docs = YAML.parseAllDocuments(read('deploy', 'kubernetes', 'daemonset.yaml')).map((d) => d.toJSON() as Obj);
  const ds = docs.find((d) => d.kind === 'DaemonSet') as Obj;
  assert.equal(ds.apiVersion, 'apps/v1');
  const spec = ds.spec as Obj;
  const template = spec.template as { metadata: { labels: Obj; annotations: Obj }; spec: Obj };
  assert.deepEqual((spec.selector as Obj).matchLabels, template.metadata.labels, 'the selector matches the pods');
  assert.equal(template.spec.hostPID, true);
  const c = (template.spec.containers as Obj[])[0] as Obj;
  const args = c.args as string[];
  assert.equal(args[0], 'run');
  const port = Number(args.find((a) => a.startsWith('--metrics-port='))!.split('=')[1]);
  const ports = c.ports as { name: string; containerPort: number }[];
  assert.deepEqual(ports, [{ name: 'metrics', containerPort: port, protocol: 'TCP' }]);
  assert.equal(template.metadata.annotations['prometheus.io/port'], String(port));
  const live = (c.livenessProbe as { httpGet: { path: string; port: string } }).httpGet;
  assert.deepEqual(live, { path: '/health', port: 'metrics' });
  const ready = (c.readinessProbe as { exec: { command: string[] } }).exec.command;
  assert.deepEqual(ready, ['aegisbpf', 'health', '--ready']);
  // The readiness command exists and means "no daemon answers" here: exit 1, not a usage error (2).
  const probe = runCli(ready.slice(1), { env: { AEGIS_CONTROL_SOCKET: '/nonexistent/aegis.sock' } });
  assert.equal(probe.code, 1, probe.stderr);
  const caps = ((c.securityContext as Obj).capabilities as { add: string[] }).add;
  assert.deepEqual(
    caps.map((x) => `CAP_${x}`).sort(),
    [...SENSOR_CAPS].sort(),
    'same capabilities as the systemd unit',
  );
  // The embedded configuration is valid for this aegisbpf.
  const cm = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> };
  const { dir, cleanup } = makeTempDir('aegis-k8s-');
  try {
    const file = path.join(dir, 'config.yml');
    fs.writeFileSync(file, cm.data['config.yml']!);
    const v = runCli(['validate', file]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  } finally {
    cleanup();
  }
  const mounts = (c.volumeMounts as { mountPath: string }[]).map((m) => m.mountPath);
  assert.ok(mounts.includes('/etc/aegisbpf') && mounts.includes('/sys/fs/bpf'));
});

void test('promtail: the unit’s journal with job="aegisbpf" (the label the guides’ Loki queries select), events dropped', () => {
  const cfg = YAML.parse(read('deploy', 'promtail', 'promtail.yml')) as { scrape_configs: Obj[] };
  const job = cfg.scrape_configs[0]!;
  const journal = job.journal as { labels: Obj; matches: string };
  assert.equal(journal.labels.job, 'aegisbpf');
  // The unit the systemd file installs.
  assert.equal(journal.matches, '_SYSTEMD_UNIT=aegisbpf.service');
  assert.ok(fs.existsSync(packagePath('deploy', 'systemd', 'aegisbpf.service')));
  const stages = job.pipeline_stages as Obj[];
  const drop = stages.find((s) => s.match !== undefined)!.match as Obj;
  assert.equal(drop.action, 'drop');
  assert.equal(drop.selector, '{transport="journal"}', 'the journald sink’s entries (native protocol) are events');
  const json = stages.find((s) => s.json !== undefined)!.json as { expressions: Obj };
  assert.deepEqual(json.expressions, { level: 'level', msg: 'msg' }, 'the daemon log line fields');
});
