/**
 * The REST API of a running daemon over real HTTPS: every route of the served OpenAPI document × every role
 * (allowed, or 403; 401 without a valid key), the blocklist round trip through the policy store, key rotation and
 * revocation, the audit records the operations leave, and a fuzz loop of malformed requests that never changes
 * state and never gets a 5xx.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AegisEvent } from '../../../src/event/types';
import { isValidEvent } from '../../../src/event/validate';
import { packagePath } from '../../../src/util/paths';
import { apiPortOf, apiRequest } from '../../helpers/api-client';
import type { ApiRequest, ApiResponse } from '../../helpers/api-client';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { runCli } from '../../helpers/cli';
import type { TestDaemon } from '../../helpers/daemon';
import { startDaemon, until } from '../../helpers/daemon';
import { makeTempDir } from '../../helpers/tmp';

const SAMPLES = packagePath('samples', 'events.ndjson');
const skip = opensslSkipReason();

let tmp: { dir: string; cleanup: () => void };
let d: TestDaemon;
let port: number;
let ca: string;
const keys: Record<string, string> = {};
/** Role → its permissions, as `aegisbpf rbac show-role --json` reports them. */
const rolePerms: Record<string, string[]> = {};

const files = (): string[] => [
  '--keys-file',
  path.join(tmp.dir, 'api-keys.json'),
  '--audit-file',
  path.join(tmp.dir, 'audit.log'),
];
const cli = (args: string[]): { code: number | null; stdout: string; stderr: string } => {
  const r = runCli([...args, ...files()]);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
};
const call = (urlPath: string, req: ApiRequest = {}): Promise<ApiResponse> => apiRequest(port, ca, urlPath, req);

function createKey(name: string, role: string): string {
  const r = cli(['auth', 'create-key', '--name', name, '--role', role]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  if (skip !== undefined) return;
  tmp = makeTempDir('aegis-api-');
  const pki = makeTestPki(path.join(tmp.dir, 'pki'));
  ca = pki.caCert;
  assert.equal(cli(['rbac', 'create-role', 'auditor', '--permissions', 'audit:read,stats:read']).code, 0);
  for (const role of ['viewer', 'operator', 'admin', 'auditor']) {
    keys[role] = createKey(`k-${role}`, role);
    const show = cli(['rbac', 'show-role', role, '--json']);
    rolePerms[role] = (JSON.parse(show.stdout) as { permissions: string[] }).permissions;
  }
  d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 200, loop: true } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { enabled: false }',
      'control: { enabled: false }',
      `api: { listen: 127.0.0.1:0, tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey} }, auth_failures_per_minute: 100000, max_body_bytes: 65536 }`,
    ].join('\n'),
  );
  port = apiPortOf(d);
});

after(async () => {
  if (skip !== undefined) return;
  await d.stop();
  tmp.cleanup();
});

interface Operation {
  readonly path: string;
  readonly method: string;
  readonly permission: string | undefined;
  readonly hasBody: boolean;
}

async function operations(): Promise<Operation[]> {
  const doc = (await call('/api/v1/openapi.json')).json() as {
    paths: Record<
      string,
      Record<string, { security: unknown[]; 'x-aegis-permission'?: string; requestBody?: unknown }>
    >;
  };
  const out: Operation[] = [];
  for (const [p, methods] of Object.entries(doc.paths))
    for (const [m, op] of Object.entries(methods)) {
      // A route without security must say so explicitly (security: []); one with it names its permission.
      assert.equal(
        op.security.length === 0,
        op['x-aegis-permission'] === undefined,
        `${m} ${p}: security vs permission`,
      );
      out.push({
        path: p,
        method: m.toUpperCase(),
        permission: op['x-aegis-permission'],
        hasBody: op.requestBody !== undefined,
      });
    }
  return out;
}

/** A request the route accepts past authorization but that changes nothing: GETs, or a body/entry it refuses. */
function harmless(op: Operation): { url: string; req: ApiRequest; expect: number } {
  const url = op.path.replace('{entry}', 'no-such-entry');
  if (op.method === 'GET') return { url, req: {}, expect: 200 };
  if (op.method === 'DELETE') return { url, req: { method: 'DELETE' }, expect: 404 };
  return { url, req: { method: op.method, body: { not_a_field: 1 } }, expect: 400 };
}

void test(
  'every route of the OpenAPI document × every role: allowed, 403 without the permission, 401 without a valid key',
  { skip },
  async () => {
    const ops = await operations();
    assert.deepEqual(ops.map((o) => `${o.method} ${o.path}`).sort(), [
      'DELETE /api/v1/blocklist/{entry}',
      'GET /api/v1/anomalies',
      'GET /api/v1/audit',
      'GET /api/v1/blocklist',
      'GET /api/v1/events',
      'GET /api/v1/health',
      'GET /api/v1/metrics/history',
      'GET /api/v1/metrics/realtime',
      'GET /api/v1/openapi.json',
      'GET /api/v1/policy',
      'GET /api/v1/stats',
      'GET /api/v1/trends',
      'POST /api/v1/blocklist',
      'POST /api/v1/policy/rollback',
      'PUT /api/v1/policy',
    ]);
    assert.deepEqual(
      ops
        .filter((o) => o.permission === undefined)
        .map((o) => o.path)
        .sort(),
      ['/api/v1/health', '/api/v1/openapi.json'],
      'only health and the OpenAPI document are public',
    );
    const forged = `aegis_ak_0123456789abcdef_${'A'.repeat(43)}`;
    for (const op of ops) {
      const { url, req, expect } = harmless(op);
      const where = `${op.method} ${op.path}`;
      if (op.permission === undefined) {
        assert.equal((await call(url, req)).status, expect, `${where} without a key`);
        continue;
      }
      for (const key of [undefined, forged, 'Basic x', keys.admin + 'x']) {
        const r = await call(url, { ...req, ...(key !== undefined ? { key } : {}) });
        assert.equal(r.status, 401, `${where} with key ${String(key).slice(0, 12)}`);
        assert.deepEqual(r.json(), {
          error: { code: 'AEGIS_ERR_API_UNAUTHORIZED', message: 'authentication required' },
        });
      }
      for (const [role, key] of Object.entries(keys)) {
        const r = await call(url, { ...req, key });
        if ((rolePerms[role] as string[]).includes(op.permission))
          assert.equal(r.status, expect, `${where} as ${role}: ${r.body}`);
        else {
          assert.equal(r.status, 403, `${where} as ${role} (lacks ${op.permission}): ${r.body}`);
          assert.deepEqual(r.json(), { error: { code: 'AEGIS_ERR_API_FORBIDDEN', message: 'forbidden' } });
        }
      }
    }
  },
);

void test(
  'blocklist over the API: add, list, refuse duplicates and bad entries with 400 naming the problem, delete; the policy store keeps it; audited',
  { skip },
  async () => {
    const op = keys.operator as string;
    const add = await call('/api/v1/blocklist', {
      method: 'POST',
      key: op,
      body: { address: '203.0.113.0/24', action: 'BLOCK' },
    });
    assert.equal(add.status, 201, add.body);
    const entry = (add.json().entry as { id: string }).id;
    assert.equal(entry, 'net:out:203.0.113.0/24');
    const stored = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'policy', 'current.json'), 'utf8')) as {
      text: string;
    };
    assert.match(stored.text, /203\.0\.113\.0\/24/, 'kept in the policy store');
    assert.equal(
      (
        await call('/api/v1/blocklist', {
          method: 'POST',
          key: op,
          body: { address: '203.0.113.0/24', action: 'BLOCK' },
        })
      ).status,
      409,
    );
    for (const [body, problem] of [
      [{ address: '203.0.113.1/24', action: 'BLOCK' }, /host bits/],
      [{ address: '300.1.1.1', action: 'BLOCK' }, /not an IPv4\/IPv6/],
      [{ path: 'etc/passwd', action: 'KILL' }, /absolute/],
      [{ path: '/etc//passwd', action: 'KILL' }, /normalized/],
      [{ path: '/etc/passwd', action: 'KILL', extra: true }, /unknown field "extra"/],
      [{ inode: '12', action: 'KILL' }, /dev:ino/],
      [{ port: 70000, action: 'BLOCK' }, /body\.port/],
      [{ path: '/x', address: '10.0.0.1', action: 'BLOCK' }, /one of path, inode or address/],
      [{ address: '10.0.0.0/8', port: 80, action: 'BLOCK' }, /CIDR cannot be combined/],
    ] as const) {
      const r = await call('/api/v1/blocklist', { method: 'POST', key: op, body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match((r.json().error as { message: string }).message, problem);
    }
    const list = (await call('/api/v1/blocklist', { key: op })).json().entries as { id: string }[];
    assert.deepEqual(
      list.map((e) => e.id),
      [entry],
      'nothing of the refused entries was applied',
    );
    const del = await call(`/api/v1/blocklist/${encodeURIComponent('203.0.113.0/24')}`, { method: 'DELETE', key: op });
    assert.equal(del.status, 200, del.body);
    assert.deepEqual((await call('/api/v1/blocklist', { key: op })).json().entries, []);
    const audit = (await call('/api/v1/audit?action=blocklist.add', { key: keys.admin })).json().records as {
      actor: string;
      target: string;
      result: string;
    }[];
    assert.ok(audit.some((r) => r.actor === 'k-operator' && r.target === entry && r.result === 'success'));
    const deleted = (await call('/api/v1/audit?action=blocklist.delete', { key: keys.admin })).json().records as {
      target: string;
    }[];
    assert.ok(deleted.some((r) => r.target === entry));
    const failures = (await call('/api/v1/audit?action=auth.failure&limit=1000', { key: keys.admin })).json()
      .records as unknown[];
    assert.ok(failures.length > 0, 'failed authentications are audited');
    const verify = runCli(['audit', 'verify', '--audit-file', path.join(tmp.dir, 'audit.log')]);
    assert.equal(verify.code, 0, verify.stderr);
    // The same records are `audit` events on the pipeline: the file sink receives them, valid against the schema.
    const shipped = await until('the blocklist.add audit event in the sink', () => {
      const out = path.join(tmp.dir, 'out.ndjson');
      const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
      const hit = lines
        .filter((l) => l.includes('"type":"audit"'))
        .map((l) => JSON.parse(l) as AegisEvent)
        .find((e) => e.type === 'audit' && e.audit_action === 'blocklist.add' && e.audit_target === entry);
      return Promise.resolve(hit);
    });
    assert.ok(isValidEvent(shipped), 'schema-valid');
    assert.equal(shipped.type === 'audit' ? shipped.audit_actor : '', 'k-operator');
  },
);

void test(
  'PUT /api/v1/policy refuses what `aegisbpf policy apply` refuses, with its code, and applies a valid policy',
  { skip },
  async () => {
    const admin = keys.admin as string;
    const invalid = await call('/api/v1/policy', {
      method: 'PUT',
      key: admin,
      body: { version: 1, rules: [{ id: 'x', match: { path: 'relative' }, action: 'KILL' }] },
    });
    assert.equal(invalid.status, 400);
    assert.equal((invalid.json().error as { code: string }).code, 'AEGIS_ERR_POLICY_INVALID');
    const ok = await call('/api/v1/policy', {
      method: 'PUT',
      key: admin,
      body: { version: 1, mode: 'audit', rules: [{ id: 'watch-4444', match: { port: 4444 }, action: 'AUDIT' }] },
    });
    assert.equal(ok.status, 200, ok.body);
    const cur = (await call('/api/v1/policy', { key: keys.viewer })).json().current as { rules: { id: string }[] };
    assert.deepEqual(
      cur.rules.map((r) => r.id),
      ['watch-4444'],
    );
  },
);

void test(
  'key rotation: the old key works until --expire-old-in, then 401; the new one keeps working; revocation is 401 within a second',
  { skip },
  async () => {
    const old = createKey('rotating', 'viewer');
    assert.equal((await call('/api/v1/stats', { key: old })).status, 200);
    const rot = cli(['auth', 'rotate-key', 'rotating', '--expire-old-in', '3s']);
    assert.equal(rot.code, 0, rot.stderr);
    const fresh = rot.stdout.trim();
    assert.notEqual(fresh, old);
    await until(
      'the new key accepted',
      async () => ((await call('/api/v1/stats', { key: fresh })).status === 200 ? true : undefined),
      3000,
    );
    assert.equal((await call('/api/v1/stats', { key: old })).status, 200, 'the old key stays valid during the overlap');
    await until(
      'the old key refused after its expiry',
      async () => ((await call('/api/v1/stats', { key: old })).status === 401 ? true : undefined),
      6000,
    );
    assert.equal((await call('/api/v1/stats', { key: fresh })).status, 200);
    assert.equal(cli(['auth', 'revoke-key', 'rotating']).code, 0);
    const t0 = Date.now();
    await until(
      'the revoked key refused',
      async () => ((await call('/api/v1/stats', { key: fresh })).status === 401 ? true : undefined),
      1000,
    );
    assert.ok(Date.now() - t0 <= 1000);
    const listed = JSON.parse(cli(['auth', 'list-keys', '--json']).stdout) as { name: string; status: string }[];
    assert.equal(listed.find((k) => k.name === 'rotating')?.status, 'revoked');
    assert.ok(
      !fs.readFileSync(path.join(tmp.dir, 'api-keys.json'), 'utf8').includes(fresh.slice(26)),
      'never stored in clear',
    );
    assert.equal(fs.statSync(path.join(tmp.dir, 'api-keys.json')).mode & 0o777, 0o600);
  },
);

void test(
  'stats has the SecBeat fields and per-sink delivery; events come from the ring with type/since/limit',
  { skip },
  async () => {
    const s = (await call('/api/v1/stats', { key: keys.viewer })).json();
    for (const f of [
      'events_processed',
      'events_blocked',
      'events_passed',
      'drops',
      'events_per_second',
      'latency_us',
      'cpu_percent',
      'memory_mb',
      'sinks',
    ])
      assert.ok(f in s, f);
    assert.ok((s.events_processed as number) > 0);
    assert.ok('out' in (s.sinks as Record<string, unknown>));
    const ev = (await call('/api/v1/events?type=exec&limit=3', { key: keys.viewer })).json().events as {
      type: string;
    }[];
    assert.ok(ev.length > 0 && ev.length <= 3);
    assert.ok(ev.every((e) => e.type === 'exec'));
    const future = (
      await call(`/api/v1/events?since=${encodeURIComponent('2999-01-01T00:00:00Z')}`, { key: keys.viewer })
    ).json().events as unknown[];
    assert.deepEqual(future, []);
    for (const q of ['?limit=0', '?limit=5000', '?type=nope', '?since=yesterday', '?limit=1&limit=2', '?unknown=1'])
      assert.equal((await call(`/api/v1/events${q}`, { key: keys.viewer })).status, 400, q);
  },
);

/** A small deterministic PRNG (mulberry32): the fuzz loop is the same on every run, and a failure names its seed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

void test(
  'fuzz: malformed bodies, parameters and paths never change state, never get a 5xx, always get the error shape',
  { skip },
  async () => {
    const admin = keys.admin as string;
    const state = async (): Promise<string> =>
      JSON.stringify([
        (await call('/api/v1/blocklist', { key: admin })).json(),
        ((await call('/api/v1/policy', { key: admin })).json() as { current: unknown }).current,
      ]);
    const before0 = await state();
    const rnd = prng(Number(process.env.AEGIS_FUZZ_SEED ?? 18));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const junk = (): string => {
      const alphabet = [
        'a',
        '/',
        '%',
        '%2F',
        '..',
        '\u0000',
        '"',
        '{',
        '}',
        '[',
        ']',
        ':',
        ',',
        '\\',
        ' ',
        'é',
        '\u202e',
        '9',
        '-',
        '*',
        '%ZZ',
        '?',
        '&',
        '=',
      ];
      let s = '';
      for (let i = Math.floor(rnd() * 12); i > 0; i--) s += pick(alphabet);
      return s;
    };
    const badBodies: (() => unknown)[] = [
      () => junk(),
      () => '{"action":"BLOCK",' + junk(),
      () => ({ action: pick(['BLOCK', 'KILL', 'NOPE', 1, null]), [junk() || 'x']: junk() }),
      () => ({ action: 'BLOCK', address: junk() + '/' + Math.floor(rnd() * 200) }),
      () => ({
        action: 'KILL',
        path: pick(['', 'rel/x', '/a/../b', '/a/./b', '/a//b', '/a/']) + junk() + pick(['/', '/.', '/..', '//x']),
      }),
      () => ({ action: 'BLOCK', port: pick([0, -1, 65536, 1.5, '80', null]) }),
      () => ({ action: 'BLOCK', inode: pick(['', ':', '1:', ':1', 'x:y', '1:0', '99999999999:1']) }),
      () => [junk()],
      () => ({ version: pick([0, 2, '1', null]), rules: junk() }),
      () => ({ version: 1, rules: [{ id: junk(), match: { path: junk() }, action: 'KILL' }], extra: 1 }),
      () => 'x'.repeat(70_000),
      () => JSON.stringify({ a: JSON.parse('['.repeat(200) + ']'.repeat(200)) as unknown }),
    ];
    const paths = [
      '/api/v1/blocklist',
      '/api/v1/policy',
      '/api/v1/policy/rollback',
      '/api/v1/events',
      '/api/v1/audit',
      '/api/v1/stats',
      '/api/v1/anomalies',
      '/api/v1/metrics/history',
    ];
    const iterations = Number(process.env.AEGIS_API_FUZZ_ITERATIONS ?? 300);
    for (let i = 0; i < iterations; i++) {
      const kind = rnd();
      let url: string;
      let req: ApiRequest;
      if (kind < 0.5) {
        url = pick(['/api/v1/blocklist', '/api/v1/policy', '/api/v1/policy/rollback']);
        const method = url === '/api/v1/policy' ? 'PUT' : 'POST';
        // Rollback with an empty object would be valid (and change the policy): it only gets bodies that are not.
        const body = url.endsWith('rollback')
          ? pick(['{"x":1}', '[', '"x"', '{"a":', 'x'.repeat(70_000), '{"":{}}'])
          : pick(badBodies)();
        req = { method, key: admin, body };
        if (rnd() < 0.1) req = { ...req, headers: { 'content-type': pick(['text/plain', 'application/xml', '']) } };
      } else if (kind < 0.75) {
        url = `/api/v1/blocklist/${encodeURIComponent(junk()) || 'x'}`;
        req = { method: 'DELETE', key: admin };
      } else {
        url = `${pick(paths)}${pick(['', '/', '/x', '//', '/../stats'])}?${junk()}=${junk()}`;
        req = { method: pick(['GET', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE']), key: admin };
      }
      let r: ApiResponse;
      try {
        r = await call(url, req);
      } catch (err) {
        // The client refused to send it (invalid characters in the path): not a server outcome.
        if ((err as NodeJS.ErrnoException).code === 'ERR_UNESCAPED_CHARACTERS') continue;
        // A target Node's parser refuses is answered before the method is known, with a JSON body, which a HEAD
        // client cannot accept: the server answered (its error shape is checked for the other methods).
        if (req.method === 'HEAD' && /^HPE_/.test(String((err as NodeJS.ErrnoException).code))) continue;
        throw new Error(`iteration ${i}: ${req.method ?? 'GET'} ${url}: ${(err as Error).message}`, { cause: err });
      }
      const where = `iteration ${i}: ${req.method ?? 'GET'} ${url} ${typeof req.body === 'string' ? req.body.slice(0, 80) : JSON.stringify(req.body)?.slice(0, 80)}`;
      assert.ok(r.status >= 400 && r.status < 500, `${where} → ${r.status} ${r.body.slice(0, 200)}`);
      if (req.method !== 'HEAD') {
        let e: { code: string; message: string };
        try {
          e = r.json().error as { code: string; message: string };
        } catch {
          throw new Error(`${where} → ${r.status}: not the error shape: ${JSON.stringify(r.body)}`);
        }
        assert.match(e.code, /^AEGIS_ERR_[A-Z_]+$/, where);
        assert.equal(typeof e.message, 'string', where);
      }
    }
    assert.equal(await state(), before0, 'no malformed request changed the blocklist or the policy');
    assert.equal((await call('/api/v1/health')).status, 200);
  },
);
