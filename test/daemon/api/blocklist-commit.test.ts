/**
 * The blocklist's change path (issue 18, blocklist change p99 < 5 ms): the kernel first, then the policy store and
 * the audit record asynchronously, each group-committed. Mostly without a sensor (no maps: the store logic alone; the
 * last test loads the real maps: the kernel holds a change before its store write ends, and a failed store write
 * puts the maps back; the end-to-end kernel side is api-blocklist-kernel.test.ts): concurrent changes share store writes and audit fsyncs and all land;
 * the store writes one file (previous.json is the old current.json, linked); a store that cannot be written fails
 * the change with AEGIS_ERR_POLICY_STORE and leaves nothing claimed; PUT-style writers wait for pending changes;
 * `aegisbpf policy apply FILE` keeps the API's entries (a layer over the file) unless --replace-blocklist.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createAuditLog, readAuditRecords, verifyAuditLog } from '../../../src/daemon/api/audit-log';
import type { WithPolicy } from '../../../src/daemon/api/blocklist';
import { createBlocklistService, entryFromRequest } from '../../../src/daemon/api/blocklist';
import type { EnforcementCapabilities } from '../../../src/sensor/feature-probe';
import { createPolicyEngine } from '../../../src/sensor/policy/policy-engine';
import type { PolicyStore, StoredPolicy } from '../../../src/sensor/policy/policy-store';
import { createPolicyStore } from '../../../src/sensor/policy/policy-store';
import type { NativeBpfObject } from '../../../src/native/binding';
import { NATIVE_PATHS, nativeStatus } from '../../../src/native/binding';
import { MAPS } from '../../../src/sensor/abi';
import { POLICY_MAP_KEYS } from '../../../src/sensor/policy/policy-compile';
import type { PolicyMapSet } from '../../../src/sensor/policy/policy-maps';
import { runCli } from '../../helpers/cli';
import { makeTempDir } from '../../helpers/tmp';
import { native, skipUnlessKernel } from '../../sensor/helpers';

// Everything enforceable: these tests are about the store, not about what this host's kernel offers.
const ALL: EnforcementCapabilities = { fileBlock: true, signals: true, networkBlock: true, ingressBlock: true };

function service(dir: string): { svc: ReturnType<typeof createBlocklistService>; persists: StoredPolicy[] } {
  const persists: StoredPolicy[] = [];
  const base = createPolicyStore(dir);
  const store: PolicyStore = {
    ...base,
    persist: async (next) => {
      persists.push(next);
      await base.persist(next);
    },
  };
  const withPolicy: WithPolicy = (fn) => fn(createPolicyEngine({ store, capabilities: ALL }), store);
  return { svc: createBlocklistService(withPolicy), persists };
}

test('concurrent blocklist changes are group-committed: fewer store writes than changes, every one stored', async () => {
  const tmp = makeTempDir();
  try {
    const { svc, persists } = service(path.join(tmp.dir, 'policy'));
    const changes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        svc.add(entryFromRequest({ path: `/opt/blocked-${i}`, action: 'KILL' }), 'test'),
      ),
    );
    assert.deepEqual(
      changes.map((c) => c.result.generation),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await Promise.all(changes.map((c) => c.durable));
    // The first write starts at once; the 19 changes made while it is in flight share the next one.
    assert.ok(persists.length < 20 && persists.length >= 2, `store writes: ${persists.length}`);
    const onDisk = createPolicyStore(path.join(tmp.dir, 'policy')).current();
    assert.equal(onDisk?.generation, 20);
    assert.equal(onDisk?.rules.length, 20);
    assert.equal(svc.list().length, 20);
  } finally {
    tmp.cleanup();
  }
});

test('the policy store writes one file per change: previous.json is the old current.json (a hard link), fsync-durable', async () => {
  const tmp = makeTempDir();
  try {
    const dir = path.join(tmp.dir, 'policy');
    const { svc } = service(dir);
    await (
      await svc.add(entryFromRequest({ path: '/opt/a', action: 'KILL' }), 'test')
    ).durable;
    const first = fs.statSync(path.join(dir, 'current.json'));
    assert.equal(fs.existsSync(path.join(dir, 'previous.json')), false);
    await (
      await svc.add(entryFromRequest({ path: '/opt/b', action: 'KILL' }), 'test')
    ).durable;
    const prev = fs.statSync(path.join(dir, 'previous.json'));
    assert.equal(prev.ino, first.ino, 'previous.json is the former current.json, not a rewritten copy');
    assert.equal(createPolicyStore(dir).previous()?.generation, 1);
    assert.equal(createPolicyStore(dir).current()?.generation, 2);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
    assert.equal(fs.statSync(path.join(dir, 'current.json')).mode & 0o777, 0o600);
  } finally {
    tmp.cleanup();
  }
});

test('a policy store that cannot be written fails the change with AEGIS_ERR_POLICY_STORE and claims nothing', async () => {
  const tmp = makeTempDir();
  try {
    // The store directory's parent is a regular file: mkdir fails with ENOTDIR (root ignores permission bits).
    fs.writeFileSync(path.join(tmp.dir, 'file'), '');
    const { svc } = service(path.join(tmp.dir, 'file', 'policy'));
    // Its lock file cannot be made either: refused before the kernel is touched.
    await assert.rejects(
      svc.add(entryFromRequest({ path: '/opt/a', action: 'KILL' }), 'test'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'AEGIS_ERR_POLICY_STORE');
        assert.match(err.message, /could not be locked for writing .*ENOTDIR.*nothing was changed/);
        return true;
      },
    );
    assert.deepEqual(svc.list(), [], 'the failed entry is not listed');
    await svc.settled();
  } finally {
    tmp.cleanup();
  }
});

test('settled() waits for changes still being stored, so PUT /policy carries them over', async () => {
  const tmp = makeTempDir();
  try {
    const dir = path.join(tmp.dir, 'policy');
    const { svc } = service(dir);
    const c = svc.add(entryFromRequest({ address: '203.0.113.0/24', direction: 'in', action: 'BLOCK' }), 'test');
    let settled = false;
    const wait = svc.settled().then(() => (settled = true));
    assert.equal(settled, false);
    await (
      await c
    ).durable;
    await wait;
    assert.equal(createPolicyStore(dir).current()?.generation, 1);
    const { carried } = svc.carryOver(JSON.stringify({ version: 1, mode: 'enforce', rules: [] }));
    assert.equal(carried, 1);
  } finally {
    tmp.cleanup();
  }
});

test('audit records appended concurrently are group-committed into one unbroken chain, each resolved with its record', async () => {
  const tmp = makeTempDir();
  try {
    const file = path.join(tmp.dir, 'audit.log');
    const log = createAuditLog(file);
    log.append({
      actor: 'x',
      actor_type: 'cli',
      action: 'key.create',
      target: 'k',
      source: 'local',
      result: 'success',
      detail: '',
    });
    const records = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        log.appendDurable({
          actor: `k${i}`,
          actor_type: 'api-key',
          action: 'blocklist.add',
          target: `path:/opt/${i}`,
          source: '127.0.0.1',
          result: 'success',
          detail: '',
        }),
      ),
    );
    assert.deepEqual(
      records.map((r) => r.seq),
      Array.from({ length: 30 }, (_, i) => i + 2),
    );
    assert.deepEqual(verifyAuditLog(file), { ok: true, records: 31, lastHash: records.at(-1)?.hash });
    assert.deepEqual(
      readAuditRecords(file)
        .map((r) => r.actor)
        .slice(1),
      records.map((r) => r.actor),
    );
  } finally {
    tmp.cleanup();
  }
});

test('policy apply FILE keeps the blocklist entries added over the API; --replace-blocklist drops them', async (t) => {
  if (process.geteuid?.() !== 0 || !nativeStatus().available) {
    t.skip('`aegisbpf policy` needs root and the native addon (it probes the kernel)');
    return;
  }
  const tmp = makeTempDir();
  try {
    const dir = path.join(tmp.dir, 'policy');
    const { svc } = service(dir);
    await (
      await svc.add(entryFromRequest({ address: '198.51.100.0/24', direction: 'in', action: 'BLOCK' }), 'api')
    ).durable;
    const file = path.join(tmp.dir, 'policy.yml');
    fs.writeFileSync(
      file,
      'version: 1\nmode: enforce\nrules:\n  - { id: no-nc, match: { path: /usr/bin/nc }, action: KILL }\n',
    );
    const pin = ['--state-dir', dir, '--pin-dir', path.join(tmp.dir, 'no-sensor')];
    const kept = runCli(['policy', 'apply', file, ...pin]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stdout, /Kept 1 blocklist entry added over the API/);
    const ids = (): string[] => (createPolicyStore(dir).current()?.rules ?? []).map((r) => r.id);
    assert.deepEqual(
      ids().sort(),
      ['no-nc', entryFromRequest({ address: '198.51.100.0/24', direction: 'in', action: 'BLOCK' }).rule].sort(),
    );
    // The API's view agrees (it re-reads the store the CLI wrote).
    assert.deepEqual(
      svc.list().map((e) => e.id),
      ['net:in:198.51.100.0/24'],
    );
    const replaced = runCli(['policy', 'apply', file, '--replace-blocklist', '--json', ...pin]);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(
      (JSON.parse(replaced.stdout) as { blocklist_entries_kept?: number }).blocklist_entries_kept,
      undefined,
    );
    assert.deepEqual(ids(), ['no-nc']);
    assert.deepEqual(svc.list(), []);
    const misuse = runCli(['policy', 'rollback', '--replace-blocklist', ...pin]);
    assert.equal(misuse.code, 2);
    assert.match(misuse.stderr, /--replace-blocklist goes with apply/);
  } finally {
    tmp.cleanup();
  }
});

test('kernel first: the map holds a change when add() returns; a store write that fails puts the maps back to the stored policy', async (t) => {
  if (skipUnlessKernel(t)) return;
  const tmp = makeTempDir();
  const obj: NativeBpfObject = new (native().BpfObject)(NATIVE_PATHS.sensorObject);
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, false); // the maps alone
    obj.load();
    const maps = Object.fromEntries(
      [...POLICY_MAP_KEYS, 'config' as const].map((k) => [k, obj.map(MAPS[k])]),
    ) as unknown as PolicyMapSet;
    const base = createPolicyStore(path.join(tmp.dir, 'policy'));
    let failWrites = false;
    const store: PolicyStore = {
      ...base,
      // A file system that refuses the write (ENOSPC): reads still work, so the undo has a stored policy to go back to.
      // The refusal comes from an I/O callback, as a real one does (not within the request's own microtasks).
      persist: (next) =>
        failWrites
          ? new Promise<void>((_resolve, reject) =>
              setImmediate(() =>
                reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })),
              ),
            )
          : base.persist(next),
    };
    const withPolicy: WithPolicy = (fn) => fn(createPolicyEngine({ store, capabilities: ALL, maps }), store);
    const svc = createBlocklistService(withPolicy);
    const deny = (): number => maps.denyPath.entries().count;

    const a = await svc.add(entryFromRequest({ path: '/opt/kept', action: 'KILL' }), 'test');
    assert.equal(deny(), 1, 'in the kernel before the store write finished');
    await a.durable;
    failWrites = true;
    const b = await svc.add(entryFromRequest({ path: '/opt/lost', action: 'KILL' }), 'test');
    assert.equal(deny(), 2, 'the second entry is enforced at once');
    await assert.rejects(b.durable, /AEGIS_ERR_POLICY_STORE|could not be written \(ENOSPC/);
    assert.equal(deny(), 1, 'the kernel is back to what the store holds');
    assert.deepEqual(
      svc.list().map((e) => e.id),
      ['path:/opt/kept'],
    );
    assert.equal(base.current()?.rules.length, 1);
  } finally {
    obj.destroy();
    tmp.cleanup();
  }
});

test('regression: DELETE names an address in any spelling (fde5:0a1b::2 is the stored fde5:a1b::2); CI failure', async () => {
  const tmp = makeTempDir();
  try {
    const { svc } = service(path.join(tmp.dir, 'policy'));
    const v6 = await svc.add(
      entryFromRequest({ address: 'fde5:0a1b::2/128', direction: 'in', action: 'BLOCK' }),
      'test',
    );
    const v4 = await svc.add(entryFromRequest({ address: '198.51.100.7', direction: 'out', action: 'BLOCK' }), 'test');
    await Promise.all([v6.durable, v4.durable]);
    assert.deepEqual(
      svc.list().map((e) => e.id),
      ['net:in:fde5:a1b::2', 'net:out:198.51.100.7'],
    );
    await assert.rejects(svc.remove('net:in:fde5:0a1b::3', 'test'), /no blocklist entry net:in:fde5:0a1b::3/);
    await (
      await svc.remove('net:in:fde5:0a1b::2', 'test')
    ).durable;
    await (
      await svc.remove('198.51.100.7/32', 'test')
    ).durable;
    assert.deepEqual(svc.list(), []);
  } finally {
    tmp.cleanup();
  }
});
