/**
 * The guides' log lines and span names, from the real daemon and CLI with the eBPF sensor:
 * - `enforcement_event` for every enforcement (fields as the monitoring guide lists them), rate-limited;
 * - `Failed to insert into deny_inode_map` with `error: "E2BIG (map full)"`, `map`, `current_entries`, `max_entries`;
 * - `BPF program load failed` with `error` and `program` (where the kernel refuses LSM programs);
 * - each Loki line filter of the guides run against the real log output (LogQL `|=` is a substring match);
 * - with AEGIS_OTEL_SPANS=1, all eleven span names the SIEM guide lists, with trace/span/parent ids and durations.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { GUIDE_SPAN_NAMES } from '../../src/telemetry/spans';
import { parseLogs, runCli } from '../helpers/cli';
import { startDaemon, until } from '../helpers/daemon';
import { run, sharedFeatures, skipUnlessKernel, tempDir } from './helpers';

/** The guides' Loki queries and the log line each must find (the part after the stream selector). */
const LOKI_FILTERS: readonly { query: string; needle: string; expect: (l: Record<string, unknown>) => boolean }[] = [
  {
    query: '{job="aegisbpf"} |= "enforcement_event"',
    needle: 'enforcement_event',
    expect: (l) => l.msg === 'enforcement_event',
  },
  {
    query: '{job="aegisbpf"} |= "map full"',
    needle: 'map full',
    expect: (l) => l.msg === 'Failed to insert into deny_inode_map',
  },
  {
    query: '{job="aegisbpf"} |= "Failed to insert into deny_inode_map"',
    needle: 'Failed to insert into deny_inode_map',
    expect: (l) => l.error === 'E2BIG (map full)',
  },
  // The monitoring guide's "All errors" query and its enforcement dashboard's log panel.
  {
    query: '{job="aegisbpf"} |= "level\\":\\"ERROR"',
    needle: 'level":"ERROR',
    expect: (l) => l.level === 'ERROR' && l.msg === 'Failed to insert into deny_inode_map',
  },
  { query: '{job="aegisbpf"} |= "action"', needle: 'action', expect: (l) => l.msg === 'enforcement_event' },
];
const LOAD_FAILED = { query: '{job="aegisbpf"} |= "BPF program load failed"', needle: 'BPF program load failed' };

void test('the guides’ log lines and Loki filters, and the eleven span names, from the real daemon and CLI', async (t) => {
  if (skipUnlessKernel(t)) return;
  const features = sharedFeatures();
  if (!features.capabilities.signals) return t.skip(`bpf_send_signal unavailable: ${features.sendSignal.detail}`);
  const tmp = tempDir('aegis-guide-lines');
  const pinDir = `/sys/fs/bpf/aegis-test-lines-${process.pid}`;
  const policyDir = path.join(tmp.dir, 'policy');
  const spansEnv = { AEGIS_OTEL_SPANS: '1' };
  const cli = (args: string[]) => runCli(args, { env: spansEnv });
  const d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      // 3 lines a second: the burst below is rate-limited and counted.
      `sources: { kernel: { type: sensor, network_hooks: false, pin_dir: ${pinDir}, policy_dir: ${policyDir}, enforcement_log_per_second: 3 } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { listen: 127.0.0.1 }',
    ].join('\n'),
    spansEnv,
  );
  const cliLines: Record<string, unknown>[] = [];
  let daemonLines: Record<string, unknown>[] = [];
  try {
    const target = tmp.file('forbidden');
    const audit = tmp.file(
      'audit.yml',
      `version: 1\nmode: audit\nrules:\n  - { id: a, match: { path: ${target} }, action: AUDIT }\n`,
    );
    const kill = tmp.file(
      'kill.yml',
      `version: 1\nmode: enforce\nrules:\n  - { id: kill-forbidden, match: { path: ${target} }, action: KILL }\n`,
    );
    for (const file of [audit, kill]) {
      const r = cli(['policy', 'apply', file, '--state-dir', policyDir, '--pin-dir', pinDir]);
      assert.equal(r.code, 0, r.stderr);
      cliLines.push(
        ...r.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
    }
    // Eight kills in a burst: 3 lines, the rest counted.
    for (let i = 0; i < 8; i++) assert.equal((await run(['/bin/cat', target])).signal, 'SIGKILL');
    const lines = await until('enforcement_event lines and the suppression summary', () => {
      const logs = d.logs();
      const ev = logs.filter((l) => l.msg === 'enforcement_event');
      const sup = logs.find((l) => l.msg === 'enforcement_event lines suppressed');
      return Promise.resolve(ev.length >= 3 && sup !== undefined ? { ev, sup } : undefined);
    });
    assert.equal(lines.ev.length, 3, 'rate-limited to 3 lines in the burst');
    assert.ok(Number(lines.sup.suppressed_total) >= 1);
    const line = lines.ev[0]!;
    assert.equal(line.level, 'INFO');
    assert.equal(line.action, 'KILL');
    assert.equal(line.path, target);
    assert.match(String(line.inode), /^\d+:\d+$/);
    assert.equal(line.comm, 'cat');
    for (const k of ['pid', 'uid', 'cgroup', 'timestamp']) assert.ok(k in line, `enforcement_event has ${k}`);

    // A policy larger than deny_inode: refused, with the guide's line.
    const capacity = 65536;
    const big = ['version: 1', 'mode: enforce', 'rules:'];
    for (let i = 0; i <= capacity; i++)
      big.push(`  - { id: r${i}, match: { inode: { ino: ${i + 1}, dev: 1 } }, action: AUDIT }`);
    const full = cli([
      'policy',
      'apply',
      tmp.file('big.yml', big.join('\n') + '\n'),
      '--state-dir',
      policyDir,
      '--pin-dir',
      pinDir,
    ]);
    assert.notEqual(full.code, 0);
    const fullLines = full.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    cliLines.push(...fullLines);
    const mapFull = fullLines.find((l) => l.msg === 'Failed to insert into deny_inode_map');
    assert.ok(mapFull, full.stderr.slice(0, 2000));
    assert.equal(mapFull.level, 'ERROR');
    assert.equal(mapFull.error, 'E2BIG (map full)');
    assert.equal(mapFull.map, 'deny_inode');
    assert.equal(mapFull.max_entries, capacity);
    assert.equal(mapFull.current_entries, 0, 'the kill policy has no inode entries');

    const rollback = cli(['policy', 'rollback', '--state-dir', policyDir, '--pin-dir', pinDir]);
    assert.equal(rollback.code, 0, rollback.stderr);
    cliLines.push(
      ...parseLogs(
        rollback.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .join('\n'),
      ),
    );
    const health = cli(['health', '--socket', d.socket]);
    cliLines.push(
      ...parseLogs(
        health.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .join('\n'),
      ),
    );
  } finally {
    const stopped = await d.stop();
    daemonLines = parseLogs(stopped.stderr);
    await import('node:fs').then((fs) => fs.rmSync(pinDir, { recursive: true, force: true }));
    tmp.remove();
  }
  const all = [...daemonLines, ...cliLines];
  const raw = all.map((l) => JSON.stringify(l));

  for (const f of LOKI_FILTERS) {
    const hits = all.filter((_, i) => raw[i]!.includes(f.needle));
    assert.ok(hits.length > 0 && hits.some(f.expect), `${f.query} finds its line`);
  }
  const lsmRefused = features.backend === 'tracepoint' && !features.lsm.ok;
  const loadFailed = all.filter((_, i) => raw[i]!.includes(LOAD_FAILED.needle));
  if (lsmRefused) {
    assert.ok(loadFailed.length > 0, `${LOAD_FAILED.query} finds the LSM load failure`);
    assert.equal(typeof loadFailed[0]!.error, 'string');
    assert.match(String(loadFailed[0]!.program), /^[a-z_0-9]+$/);
    assert.notEqual(loadFailed[0]!.program, 'unknown');
  } else {
    t.diagnostic(`LSM programs load here: no "BPF program load failed" line to find (${features.lsm.detail})`);
  }

  // Spans: every guide name, ended, with W3C ids, parents inside the same trace, durations.
  const ends = all.filter((l) => l.msg === 'otel_span_end');
  const byId = new Map(ends.map((l) => [l.span_id, l]));
  for (const name of GUIDE_SPAN_NAMES) {
    const span = ends.find((l) => l.span_name === name);
    assert.ok(span, `span ${name} is logged`);
    assert.match(String(span.trace_id), /^[0-9a-f]{32}$/);
    assert.match(String(span.span_id), /^[0-9a-f]{16}$/);
    assert.equal(typeof span.duration_ms, 'number');
    if (!name.startsWith('cli.') && name !== 'daemon.run') {
      const parent = byId.get(span.parent_span_id);
      assert.ok(parent, `${name} has its parent span`);
      assert.equal(parent.trace_id, span.trace_id);
    }
  }
  // Some span of that name has that parent (the daemon also probes features, under daemon.run).
  const hasParent = (name: string, parent: string) =>
    ends.some((l) => l.span_name === name && byId.get(l.parent_span_id)?.span_name === parent);
  for (const [name, parent] of [
    ['policy.apply', 'cli.policy_apply'],
    ['policy.apply_internal', 'policy.apply'],
    ['policy.rollback_last_applied', 'cli.policy_apply'],
    ['health.detect_kernel_features', 'cli.health'],
    ['health.load_bpf', 'health.detect_kernel_features'],
    ['daemon.event_loop', 'daemon.run'],
  ] as const)
    assert.ok(hasParent(name, parent), `${name} below ${parent}`);
});
