/**
 * Policy parsing, feature checks, compilation and the all-or-nothing map update, without a kernel (the kernel path
 * is in sensor-kernel.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  ADDR_PORT_KEY,
  CONFIG,
  INODE_KEY,
  LEAF_KEY,
  MAPS,
  PATH_KEY,
  PORT_KEY,
  RULE,
  V4_LPM_KEY,
  V6_LPM_KEY,
} from '../../src/sensor/abi';
import { SensorError } from '../../src/native/errors';
import type { EnforcementCapabilities } from '../../src/sensor/feature-probe';
import type { TargetResolver } from '../../src/sensor/policy/policy-compile';
import { compilePolicy, expandIpv6, leafKey, ruleIdOf } from '../../src/sensor/policy/policy-compile';
import { createPolicyEngine, storeRuleNames } from '../../src/sensor/policy/policy-engine';
import { parsePolicy } from '../../src/sensor/policy/policy-file';
import type { PolicyMapSet } from '../../src/sensor/policy/policy-maps';
import { applyToMaps } from '../../src/sensor/policy/policy-maps';
import { createPolicyStore } from '../../src/sensor/policy/policy-store';
import type { MemoryMap } from './memory-map';
import { memoryMap } from './memory-map';

const LSM: EnforcementCapabilities = { fileBlock: true, signals: true, networkBlock: true, ingressBlock: true };
const TRACEPOINT: EnforcementCapabilities = { fileBlock: false, signals: true, networkBlock: true, ingressBlock: true };

const resolver: TargetResolver = {
  stat: (file) => ({ dev: 0xfe00, ino: BigInt(file.length) }),
  isSymlink: (file) => file.endsWith('.lnk'),
  cgroupId: (p) =>
    p === '/ci'
      ? 4242
      : (() => {
          throw new Error(`no cgroup ${p}`);
        })(),
};

type MemoryMapSet = { readonly [K in keyof PolicyMapSet]: MemoryMap };

function maps(capacity = 64): MemoryMapSet {
  return {
    denyInode: memoryMap(MAPS.denyInode, INODE_KEY.size, RULE.size, capacity),
    denyPath: memoryMap(MAPS.denyPath, PATH_KEY.size, RULE.size, capacity),
    denyPathLeaf: memoryMap(MAPS.denyPathLeaf, LEAF_KEY.size, 4, capacity),
    allowCgroup: memoryMap(MAPS.allowCgroup, 8, 4, capacity),
    netV4Lpm: memoryMap(MAPS.netV4Lpm, V4_LPM_KEY.size, RULE.size, capacity),
    netV6Lpm: memoryMap(MAPS.netV6Lpm, V6_LPM_KEY.size, RULE.size, capacity),
    netPort: memoryMap(MAPS.netPort, PORT_KEY.size, RULE.size, capacity),
    netAddrPort: memoryMap(MAPS.netAddrPort, ADDR_PORT_KEY.size, RULE.size, capacity),
    netInV4Lpm: memoryMap(MAPS.netInV4Lpm, V4_LPM_KEY.size, RULE.size, capacity),
    netInV6Lpm: memoryMap(MAPS.netInV6Lpm, V6_LPM_KEY.size, RULE.size, capacity),
    config: memoryMap(MAPS.config, 4, CONFIG.size, 1),
  };
}

const isErr =
  (code: string, re?: RegExp) =>
  (err: unknown): boolean =>
    err instanceof SensorError && err.code === code && (re === undefined || re.test(err.message));

void test('validation reports every problem with its key path', () => {
  const text = [
    'version: 2',
    'mode: permissive',
    'rules:',
    '  - { id: "bad id!", match: { path: relative/x }, action: KILL }',
    '  - { id: a, match: { path: /x, port: 3 }, action: KILL }',
    '  - { id: b, match: { port: 70000 }, action: BLOCK }',
    '  - { id: c, match: { cgroup: /ci }, action: KILL }',
    '  - { id: d, match: { path: /y }, action: NUKE, extra: 1 }',
    '  - { id: d, match: { inode: { ino: -1, dev: 3 } }, action: AUDIT }',
  ].join('\n');
  assert.throws(
    () => parsePolicy(text, 'p.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof SensorError);
      assert.equal(err.code, 'AEGIS_ERR_POLICY_INVALID');
      for (const expected of [
        'p.yaml.version',
        'p.yaml.mode',
        'rules[0].id',
        'rules[0].match.path: must be an absolute path',
        'rules[1].match: give exactly one of',
        'rules[2].match.port',
        'rules[3].action: cgroup rules exempt a cgroup',
        'rules[4].extra: unknown key',
        'rules[4].action',
        'rules[5].id: duplicate id',
        'rules[5].match.inode.ino',
      ]) {
        assert.ok(err.message.includes(expected), `message mentions ${expected}:\n${err.message}`);
      }
      return true;
    },
  );
  assert.throws(
    () => parsePolicy('rules: [', 'broken.yaml'),
    isErr('AEGIS_ERR_POLICY_READ', /broken\.yaml is not valid YAML/),
  );
  assert.throws(
    () => parsePolicy(`version: 1\nrules:\n  - { id: long, match: { path: /${'a'.repeat(300)} }, action: AUDIT }`),
    isErr('AEGIS_ERR_POLICY_INVALID', /use an inode rule/),
  );
});

void test('mode defaults to audit; paths are normalised', () => {
  const p = parsePolicy('version: 1\nrules:\n  - { id: a, match: { path: /tmp//x/../y/ }, action: AUDIT }');
  assert.equal(p.mode, 'audit');
  assert.deepEqual(p.rules[0]?.match, { kind: 'path', path: '/tmp/y' });
});

void test('BLOCK on files is refused without BPF LSM, with the reason; a fallback is accepted and used', () => {
  const block = parsePolicy(
    'version: 1\nrules:\n  - { id: blk, match: { path: /etc/x }, action: BLOCK }\n  - { id: sig, match: { port: 22 }, action: KILL }',
  );
  assert.throws(
    () => compilePolicy(block, TRACEPOINT, resolver),
    (err: unknown) => {
      assert.ok(isErr('AEGIS_ERR_POLICY_UNENFORCEABLE')(err));
      const m = (err as Error).message;
      assert.match(m, /rule "blk" \(BLOCK\): BLOCK on file open\/exec needs BPF LSM/);
      assert.match(
        m,
        /rule "sig" \(KILL\): KILL on connect is not supported: cgroup connect hooks cannot send signals/,
      );
      return true;
    },
  );
  assert.doesNotThrow(() =>
    compilePolicy(
      parsePolicy('version: 1\nrules:\n  - { id: blk, match: { path: /etc/x }, action: BLOCK }'),
      LSM,
      resolver,
    ),
  );
  const withFallback = compilePolicy(
    parsePolicy('version: 1\nrules:\n  - { id: blk, match: { path: /etc/x }, action: BLOCK, fallback: KILL }'),
    TRACEPOINT,
    resolver,
  );
  assert.equal(withFallback.rules[0]?.action, 'KILL');
  assert.equal(withFallback.rules[0]?.fallbackUsed, true);
  assert.match(withFallback.warnings[0] ?? '', /using its fallback KILL/);
  const entry = [...withFallback.entries.denyPath.values()][0];
  assert.equal(entry?.value.readUInt8(RULE.fields.action.offset), 4, 'the kernel gets the fallback action');
  const noSignals = { ...TRACEPOINT, signals: false };
  assert.throws(
    () =>
      compilePolicy(
        parsePolicy('version: 1\nrules:\n  - { id: k, match: { path: /x }, action: BLOCK, fallback: TERM }'),
        noSignals,
        resolver,
      ),
    isErr('AEGIS_ERR_POLICY_UNENFORCEABLE', /fallback TERM cannot be enforced either/),
  );
});

void test('rules compile to the right maps and keys', () => {
  const c = compilePolicy(
    parsePolicy(
      [
        'version: 1',
        'mode: enforce',
        'rules:',
        '  - { id: p, match: { path: /srv/secret.key }, action: KILL }',
        '  - { id: p2, match: { path: /other/secret.key }, action: TERM }',
        '  - { id: i, match: { inode: /data/f }, action: TERM }',
        '  - { id: raw, match: { inode: { ino: 99, dev: 8388609 } }, action: INT }',
        '  - { id: cg, match: { cgroup: /ci }, action: ALLOW }',
        '  - { id: v4, match: { address: 10.1.2.3/8 }, action: AUDIT }',
        '  - { id: v6, match: { address: "2001:db8::/32" }, action: BLOCK }',
        '  - { id: ap, match: { address: 127.0.0.1, port: 8080, protocol: tcp }, action: BLOCK }',
        '  - { id: port, match: { port: 23 }, action: BLOCK }',
      ].join('\n'),
    ),
    LSM,
    resolver,
  );
  assert.equal(c.mode, 'enforce');
  assert.equal(c.entries.denyPath.size, 2);
  const leaf = c.entries.denyPathLeaf.get(leafKey('/srv/secret.key').toString('hex'));
  assert.equal(leaf?.value.readUInt32LE(0), 2, 'two paths share the leaf secret.key');
  assert.equal(c.entries.denyInode.size, 2);
  const raw = [...c.entries.denyInode.values()].find((e) => e.key.readBigUInt64LE(0) === 99n);
  assert.equal(
    raw?.key.readUInt32LE(INODE_KEY.fields.dev.offset),
    (8 << 20) | 1,
    'raw dev is taken as kernel encoding',
  );
  const byPath = [...c.entries.denyInode.values()].find((e) => e.key.readBigUInt64LE(0) !== 99n);
  assert.equal(
    byPath?.key.readUInt32LE(INODE_KEY.fields.dev.offset),
    254 << 20,
    'stat st_dev 0xfe00 (254:0) converted to kernel encoding',
  );
  assert.equal([...c.entries.allowCgroup.values()][0]?.key.readBigUInt64LE(0), 4242n);
  const v4 = [...c.entries.netV4Lpm.values()][0];
  assert.equal(v4?.key.readUInt32LE(0), 8);
  assert.deepEqual([...(v4?.key.subarray(4) ?? [])], [10, 0, 0, 0], 'host bits cleared');
  const v6 = [...c.entries.netV6Lpm.values()][0];
  assert.equal(v6?.key.readUInt32LE(0), 32);
  assert.equal(v6?.key.subarray(4).toString('hex'), '20010db8000000000000000000000000');
  const ap = [...c.entries.netAddrPort.values()][0];
  assert.equal(ap?.key.readUInt8(0), 2);
  assert.equal(ap?.key.readUInt8(1), 6);
  assert.equal(ap?.key.readUInt16LE(2), 8080);
  const port = [...c.entries.netPort.values()][0];
  assert.equal(port?.key.readUInt16LE(0), 23);
  assert.equal(port?.value.readUInt32LE(0), ruleIdOf('port'));
  assert.deepEqual(expandIpv6('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
});

void test('duplicate targets and unresolvable targets are refused', () => {
  assert.throws(
    () =>
      compilePolicy(
        parsePolicy(
          'version: 1\nrules:\n  - { id: a, match: { path: /x }, action: KILL }\n  - { id: b, match: { path: /x }, action: TERM }',
        ),
        LSM,
        resolver,
      ),
    isErr('AEGIS_ERR_POLICY_INVALID', /rules "a" and "b" both match path \/x/),
  );
  assert.throws(
    () =>
      compilePolicy(
        parsePolicy('version: 1\nrules:\n  - { id: c, match: { cgroup: /nope }, action: ALLOW }'),
        LSM,
        resolver,
      ),
    isErr('AEGIS_ERR_POLICY_INVALID', /no cgroup \/nope/),
  );
  assert.throws(
    () =>
      compilePolicy(
        parsePolicy('version: 1\nrules:\n  - { id: n, match: { address: 10.0.0.0/8, port: 1 }, action: BLOCK }'),
        LSM,
        resolver,
      ),
    isErr('AEGIS_ERR_POLICY_INVALID', /CIDR/),
  );
});

void test('capacity: a policy larger than a map is refused before any write, naming map, entries and capacity', () => {
  const m = maps(2);
  const c = compilePolicy(
    parsePolicy(
      'version: 1\nrules:\n' +
        [1, 2, 3].map((i) => `  - { id: r${i}, match: { port: ${i} }, action: BLOCK }`).join('\n'),
    ),
    LSM,
    resolver,
  );
  assert.throws(
    () => applyToMaps(m, c, 1),
    (err: unknown) =>
      isErr(
        'AEGIS_ERR_POLICY_MAP_FULL',
        /needs 3 entries in map net_port, which holds 2 \(E2BIG\); nothing was applied/,
      )(err) && (err as SensorError).errno === 7,
  );
  assert.equal(m.netPort.store.size, 0);
  assert.equal(m.config.store.size, 0);
});

void test('a failure in the middle of an apply restores the previous policy exactly', () => {
  const m = maps();
  const first = compilePolicy(
    parsePolicy(
      'version: 1\nmode: enforce\nrules:\n  - { id: a, match: { path: /a }, action: KILL }\n  - { id: p, match: { port: 1 }, action: BLOCK }',
    ),
    LSM,
    resolver,
  );
  applyToMaps(m, first, 1);
  const snapshot = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, new Map(v.store)]));
  const second = compilePolicy(
    parsePolicy(
      'version: 1\nmode: audit\nrules:\n  - { id: b, match: { path: /b }, action: TERM }\n  - { id: q, match: { port: 2 }, action: BLOCK }',
    ),
    LSM,
    resolver,
  );
  m.netPort.failUpdateAfter(0);
  assert.throws(
    () => applyToMaps(m, second, 2),
    isErr(
      'AEGIS_ERR_POLICY_APPLY',
      /writing map net_port \(update\) failed: injected failure on net_port; the previous policy was restored/,
    ),
  );
  for (const [k, v] of Object.entries(m)) assert.deepEqual(new Map(v.store), snapshot[k], `map ${k} restored`);
  m.netPort.failUpdateAfter(0, 'AEGIS_ERR_MAP_FULL');
  assert.throws(
    () => applyToMaps(m, second, 2),
    isErr(
      'AEGIS_ERR_POLICY_MAP_FULL',
      /map net_port is full \(E2BIG\) while applying 1 entries \(capacity 64\); the previous policy was restored/,
    ),
  );
  for (const [k, v] of Object.entries(m))
    assert.deepEqual(new Map(v.store), snapshot[k], `map ${k} restored after E2BIG`);
  const r = applyToMaps(m, second, 2);
  assert.deepEqual(r, { added: 3, removed: 3, unchanged: 0 }, 'path + leaf + port replaced');
  assert.equal(m.config.lookup(Buffer.alloc(4))?.readUInt32LE(0), 0, 'mode audit written');
});

void test('engine: apply without a running sensor stores; rollback swaps; show; rule names follow the store', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-policy-'));
  try {
    const store = createPolicyStore(dir);
    const stored = createPolicyEngine({ store, capabilities: TRACEPOINT, resolver });
    const r1 = stored.apply('version: 1\nrules:\n  - { id: one, match: { path: /one }, action: KILL }', 'one.yaml');
    assert.equal(r1.live, false);
    assert.match(r1.message, /no sensor is running, it applies when the sensor starts/);
    assert.throws(() => stored.rollback(), isErr('AEGIS_ERR_POLICY_NO_PREVIOUS'));
    const m = maps();
    const live = createPolicyEngine({ store, capabilities: TRACEPOINT, resolver, maps: m });
    assert.equal(live.restore()?.generation, 1, 'sensor start re-applies the stored policy');
    assert.equal(m.denyPath.store.size, 1);
    const r2 = live.apply(
      'version: 1\nmode: enforce\nrules:\n  - { id: two, match: { port: 2 }, action: BLOCK }',
      'two.yaml',
    );
    assert.equal(r2.generation, 2);
    assert.equal(r2.live, true);
    assert.equal(m.denyPath.store.size, 0);
    assert.equal(m.netPort.store.size, 1);
    assert.throws(
      () => live.apply('version: 1\nrules:\n  - { id: blk, match: { path: /x }, action: BLOCK }', 'bad.yaml'),
      isErr('AEGIS_ERR_POLICY_UNENFORCEABLE'),
    );
    assert.equal(store.current()?.source, 'two.yaml', 'a refused policy changes nothing on disk');
    const rb = live.rollback();
    assert.match(rb.message, /Rolled back to the policy from one\.yaml/);
    assert.equal(store.current()?.source, 'one.yaml');
    assert.equal(store.previous()?.source, 'two.yaml');
    assert.equal(m.denyPath.store.size, 1);
    assert.equal(m.netPort.store.size, 0);
    const show = live.show();
    assert.equal(show.kernel?.mode, 'audit');
    assert.equal(show.kernel?.generation, 3);
    assert.equal(show.kernel?.maps.find((x) => x.map === 'deny_path')?.entries, 1);
    const names = storeRuleNames(store, 0);
    assert.equal(names.name(ruleIdOf('one')), 'one');
    assert.equal(names.name(ruleIdOf('two')), 'two', 'records in flight from the previous policy still resolve');
    assert.equal(names.name(12345), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
