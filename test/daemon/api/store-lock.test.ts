/**
 * The policy store and the audit log are written by two processes, the daemon and the commands; each holds a lock file
 * around its read-modify-write. Here against a running daemon (its API over plain HTTP on loopback, no sensor: changes
 * are stored, as on a host whose sensor is not running) and the real `aegisbpf policy apply`:
 * - CLI applies interleaved with a stream of API blocklist changes lose neither (issue 18's documented race);
 * - while another process holds a lock, the daemon waits for it without blocking its event loop (other requests are
 *   answered), gets the change through once it is released, and gives up after 5 s with an error naming the holder.
 *
 * AEGIS_TEST_STORE_RACE_ROUNDS sets the rounds of the race (default 12: ~10 s here).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { packagePath } from '../../../src/util/paths';
import { createAuditLog, readAuditRecords, verifyAuditLog } from '../../../src/daemon/api/audit-log';
import { apiPortOf, createApiKey } from '../../helpers/api-client';
import { spawnCli, waitExit } from '../../helpers/cli';
import type { TestDaemon } from '../../helpers/daemon';
import { startDaemon } from '../../helpers/daemon';
import { makeTempDir } from '../../helpers/tmp';

let tmp: { dir: string; cleanup: () => void };
let d: TestDaemon;
let port: number;
let operator: string;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function call(
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        headers: {
          authorization: `Bearer ${operator}`,
          ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
            ms: performance.now() - t0,
          }),
        );
      },
    );
    r.on('error', reject);
    r.end(payload);
  });
}

const policyDir = (): string => path.join(tmp.dir, 'policy');
const storedRuleIds = (): string[] => {
  const cur = JSON.parse(fs.readFileSync(path.join(policyDir(), 'current.json'), 'utf8')) as {
    rules: { id: string }[];
  };
  return cur.rules.map((r) => r.id);
};

/** A live process that is not this one (a lock holder that does not go away by itself). */
function holder(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

before(async () => {
  tmp = makeTempDir('aegis-store-lock-');
  operator = createApiKey(tmp.dir, 'op', 'operator');
  d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { s: { type: replay, path: ${packagePath('samples', 'events.ndjson')}, rate: 100, loop: true } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { enabled: false }',
      'control: { enabled: false }',
      'api: { listen: 127.0.0.1:0 }',
    ].join('\n'),
  );
  port = apiPortOf(d);
});

after(async () => {
  agent.destroy();
  await d.stop();
  tmp.cleanup();
});

void test('regression: a CLI policy apply and API blocklist changes in the same milliseconds lose neither (the store race)', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.skip('aegisbpf policy apply needs root');
    return;
  }
  const rounds = Number(process.env.AEGIS_TEST_STORE_RACE_ROUNDS ?? 12);
  const added: string[] = [];
  let during = 0;
  for (let i = 0; i < rounds; i++) {
    const file = path.join(tmp.dir, `policy-${i}.yml`);
    fs.writeFileSync(
      file,
      `version: 1\nmode: audit\nrules:\n  - id: file-rule-${i}\n    match: { path: /opt/file-${i} }\n    action: AUDIT\n`,
    );
    const cli = spawnCli([
      'policy',
      'apply',
      file,
      '--state-dir',
      policyDir(),
      '--pin-dir',
      path.join(tmp.dir, 'no-pins'),
    ]);
    const exited = waitExit(cli);
    let done = false;
    void exited.then(() => (done = true));
    // API changes back to back for as long as the command runs: some land inside its read-modify-write.
    for (let k = 0; !done; k++) {
      const r = await call('POST', '/api/v1/blocklist', { path: `/opt/api-${i}-${k}`, action: 'KILL' });
      assert.equal(r.status, 201, JSON.stringify(r.json));
      added.push(`path:/opt/api-${i}-${k}`);
      during++;
    }
    const res = await exited;
    assert.equal(res.code, 0, res.stderr);
    const ids = storedRuleIds();
    assert.ok(ids.includes(`file-rule-${i}`), `round ${i}: the applied file's rule was written over: ${ids.join(',')}`);
    const listed = ((await call('GET', '/api/v1/blocklist')).json.entries as { id: string }[]).map((e) => e.id);
    const lost = added.filter((id) => !listed.includes(id));
    assert.deepEqual(lost, [], `round ${i}: blocklist entries answered 201 and then lost`);
    assert.equal(ids.filter((id) => id.startsWith('blocklist-')).length, added.length, `round ${i}: in the store`);
  }
  assert.ok(during >= rounds, `changes made while a command ran: ${during}`);
});

void test('the daemon waits for a store lock another process holds without blocking: other requests are answered, the change lands once it is released', async () => {
  const lockFile = path.join(policyDir(), 'current.json.lock');
  fs.mkdirSync(policyDir(), { recursive: true });
  const h = holder();
  try {
    fs.writeFileSync(lockFile, String(h.pid));
    let answered = false;
    const post = call('POST', '/api/v1/blocklist', { path: '/opt/while-locked', action: 'KILL' }).then((r) => {
      answered = true;
      return r;
    });
    for (let i = 0; i < 10; i++) {
      const health = await call('GET', '/api/v1/health');
      assert.equal(health.status, 200);
      assert.ok(health.ms < 1000, `health took ${health.ms} ms while the change waited`);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, false, 'the change waited for the lock');
    fs.rmSync(lockFile);
    const r = await post;
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const listed = ((await call('GET', '/api/v1/blocklist')).json.entries as { id: string }[]).map((e) => e.id);
    assert.ok(listed.includes('path:/opt/while-locked'));
    assert.equal(fs.existsSync(lockFile), false, 'the daemon gave the lock back');
  } finally {
    h.kill();
    fs.rmSync(lockFile, { force: true });
  }
});

void test('a store lock held past 5 s: 503 AEGIS_ERR_POLICY_LOCKED naming the holder, nothing changed', async () => {
  const lockFile = path.join(policyDir(), 'current.json.lock');
  fs.mkdirSync(policyDir(), { recursive: true });
  const h = holder();
  try {
    fs.writeFileSync(lockFile, String(h.pid));
    const before = storedRuleIds();
    const r = await call('POST', '/api/v1/blocklist', { path: '/opt/never', action: 'KILL' });
    assert.equal(r.status, 503);
    const err = r.json.error as { code: string; message: string };
    assert.equal(err.code, 'AEGIS_ERR_POLICY_LOCKED');
    assert.match(err.message, new RegExp(`pid ${String(h.pid)} holds .*current\\.json\\.lock`));
    assert.deepEqual(storedRuleIds(), before);
  } finally {
    h.kill();
    fs.rmSync(lockFile, { force: true });
  }
  const listed = ((await call('GET', '/api/v1/blocklist')).json.entries as { id: string }[]).map((e) => e.id);
  assert.ok(!listed.includes('path:/opt/never'));
});

void test('regression: the daemon waited synchronously on the audit lock while a command held it; now the loop serves meanwhile', async () => {
  const auditFile = path.join(tmp.dir, 'audit.log');
  const lockFile = `${auditFile}.lock`;
  const h = holder();
  try {
    fs.writeFileSync(lockFile, String(h.pid));
    let answered = false;
    const post = call('POST', '/api/v1/blocklist', { path: '/opt/audit-wait', action: 'KILL' }).then((r) => {
      answered = true;
      return r;
    });
    // /health is not audited: it is answered while the change's audit record waits for the lock.
    for (let i = 0; i < 10; i++) {
      const health = await call('GET', '/api/v1/health');
      assert.equal(health.status, 200);
      assert.ok(health.ms < 1000, `health took ${health.ms} ms while the audit record waited`);
    }
    assert.equal(answered, false, 'the answer waits for its audit record');
    fs.rmSync(lockFile);
    const r = await post;
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const last = readAuditRecords(auditFile).filter((x) => x.action === 'blocklist.add');
    assert.equal(last.at(-1)?.target, 'path:/opt/audit-wait');
    assert.equal(verifyAuditLog(auditFile).ok, true);
  } finally {
    h.kill();
    fs.rmSync(lockFile, { force: true });
  }
});

void test('an audit lock held past 5 s fails the write with AEGIS_ERR_AUDIT_WRITE naming the holder; the event loop ran all along', async () => {
  const dir = makeTempDir('aegis-audit-lock-');
  const h = holder();
  try {
    const file = path.join(dir.dir, 'audit.log');
    fs.writeFileSync(`${file}.lock`, String(h.pid));
    const log = createAuditLog(file);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    const t0 = performance.now();
    try {
      await assert.rejects(
        log.appendDurable({
          actor: 't',
          actor_type: 'cli',
          action: 'key.create',
          target: 'k',
          source: 'local',
          result: 'success',
          detail: '',
        }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'AEGIS_ERR_AUDIT_WRITE');
          assert.match(err.message, new RegExp(`locked by another process \\(pid ${String(h.pid)} holds`));
          return true;
        },
      );
    } finally {
      clearInterval(timer);
    }
    const waited = performance.now() - t0;
    assert.ok(waited >= 4900, `gave up after ${waited} ms`);
    assert.ok(ticks >= 40, `a 50 ms timer ran ${ticks} times during the ${waited.toFixed(0)} ms wait`);
    assert.equal(fs.existsSync(file), false, 'nothing written');
  } finally {
    h.kill();
    dir.cleanup();
  }
});
