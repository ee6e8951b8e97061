/**
 * `direction: in` network rules: the policy format, the compiler (the in tries, never the connect maps), the refusals
 * (signals, port/protocol, no ingress program), the blocklist API's validation of `in` entries, and the default
 * interface set of the XDP filter (from a fake /sys/class/net).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { entryFromRequest } from '../../src/daemon/api/blocklist';
import { SensorError } from '../../src/native/errors';
import { V4_LPM_KEY, V6_LPM_KEY } from '../../src/sensor/abi';
import type { EnforcementCapabilities } from '../../src/sensor/feature-probe';
import { defaultInterfaces, foreignNetnsReason, resolveInterfaces } from '../../src/sensor/interfaces';
import type { TargetResolver } from '../../src/sensor/policy/policy-compile';
import { compilePolicy, ruleIdOf } from '../../src/sensor/policy/policy-compile';
import { parsePolicy } from '../../src/sensor/policy/policy-file';
import { tempDir } from './helpers';

const CAPS: EnforcementCapabilities = { fileBlock: false, signals: true, networkBlock: true, ingressBlock: true };
const NO_INGRESS: EnforcementCapabilities = { ...CAPS, ingressBlock: false };
const resolver: TargetResolver = {
  stat: () => ({ dev: 1, ino: 1n }),
  isSymlink: () => false,
  cgroupId: () => 1,
};

const policy = (rules: string): string => `version: 1\nmode: enforce\nrules:\n${rules}`;

void test('direction in compiles into net_in_v4_lpm / net_in_v6_lpm with the prefix, and nothing into the connect maps', () => {
  const c = compilePolicy(
    parsePolicy(
      policy(
        [
          '  - { id: in4, match: { address: 198.51.100.7/24, direction: in }, action: BLOCK }',
          '  - { id: in6, match: { address: "2001:db8::/32", direction: in }, action: AUDIT }',
          '  - { id: out4, match: { address: 198.51.100.0/24, direction: out }, action: BLOCK }',
        ].join('\n'),
      ),
    ),
    CAPS,
    resolver,
  );
  assert.equal(c.entries.netInV4Lpm.size, 1);
  assert.equal(c.entries.netInV6Lpm.size, 1);
  assert.equal(c.entries.netV4Lpm.size, 1, 'the out rule alone in the connect trie');
  assert.equal(c.entries.netV6Lpm.size, 0);
  const [v4] = [...c.entries.netInV4Lpm.values()];
  assert.equal(v4?.key.readUInt32LE(V4_LPM_KEY.fields.prefixlen.offset), 24);
  assert.deepEqual([...(v4?.key.subarray(V4_LPM_KEY.fields.addr.offset) ?? [])], [198, 51, 100, 0], 'host bits zeroed');
  assert.equal(v4?.value.readUInt32LE(0), ruleIdOf('in4'));
  const [v6] = [...c.entries.netInV6Lpm.values()];
  assert.equal(v6?.key.readUInt32LE(V6_LPM_KEY.fields.prefixlen.offset), 32);
  assert.equal(v6?.key.subarray(V6_LPM_KEY.fields.addr.offset).toString('hex'), '20010db8' + '0'.repeat(24));
  assert.deepEqual(
    c.rules.map((r) => r.target),
    ['inbound from 198.51.100.7/24', 'inbound from 2001:db8::/32', 'connect 198.51.100.0/24'],
  );
});

void test('direction in refuses a port, a protocol, a bad direction, and signals; a missing ingress program refuses BLOCK', () => {
  const invalid = (rule: string): string => {
    try {
      parsePolicy(policy(rule));
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('accepted');
  };
  assert.match(
    invalid('  - { id: a, match: { address: 192.0.2.1, port: 22, direction: in }, action: BLOCK }'),
    /direction in matches an address or CIDR alone/,
  );
  assert.match(
    invalid('  - { id: a, match: { port: 22, direction: in }, action: BLOCK }'),
    /direction in matches an address or CIDR alone/,
  );
  assert.match(
    invalid('  - { id: a, match: { address: 192.0.2.1, direction: up }, action: BLOCK }'),
    /direction: must be in or out/,
  );

  const refused = (rule: string, caps: EnforcementCapabilities): string => {
    try {
      compilePolicy(parsePolicy(policy(rule)), caps, resolver);
    } catch (err) {
      assert.ok(err instanceof SensorError);
      assert.equal(err.code, 'AEGIS_ERR_POLICY_UNENFORCEABLE');
      return err.message;
    }
    assert.fail('compiled');
  };
  assert.match(
    refused('  - { id: k, match: { address: 192.0.2.1, direction: in }, action: KILL }', CAPS),
    /KILL on inbound packets is not supported/,
  );
  assert.match(
    refused('  - { id: b, match: { address: 192.0.2.1, direction: in }, action: BLOCK }', NO_INGRESS),
    /need an XDP or cgroup_skb ingress program/,
  );
  // A fallback that can be enforced is used (and said).
  const c = compilePolicy(
    parsePolicy(policy('  - { id: k, match: { address: 192.0.2.1, direction: in }, action: KILL, fallback: BLOCK }')),
    CAPS,
    resolver,
  );
  assert.equal(c.rules[0]?.action, 'BLOCK');
  assert.ok(c.rules[0]?.fallbackUsed);
});

void test('blocklist API: an in entry is an address or CIDR alone with AUDIT or BLOCK; its id differs from the out entry', () => {
  const e = entryFromRequest({ address: '2001:db8:0::/48', direction: 'in', action: 'BLOCK' });
  assert.equal(e.id, 'net:in:2001:db8::/48');
  assert.equal(e.direction, 'in');
  const out = entryFromRequest({ address: '2001:db8::/48', action: 'BLOCK' });
  assert.equal(out.id, 'net:out:2001:db8::/48');
  assert.notEqual(out.rule, e.rule, 'both directions can be on the list');
  const bad = (req: Parameters<typeof entryFromRequest>[0]): string => {
    try {
      entryFromRequest(req);
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('accepted');
  };
  assert.match(bad({ address: '192.0.2.1', port: 22, direction: 'in', action: 'BLOCK' }), /without port or protocol/);
  assert.match(bad({ port: 22, direction: 'in', action: 'BLOCK' }), /address or CIDR alone/);
  assert.match(bad({ address: '192.0.2.1', direction: 'in', action: 'TERM' }), /TERM cannot apply to inbound/);
});

void test('XDP interfaces: default is every up, non-loopback interface; configured names resolve, missing ones are named', () => {
  const tmp = tempDir('aegis-ifaces');
  try {
    const mk = (name: string, ifindex: number, flags: string, type: number): void => {
      fs.mkdirSync(path.join(tmp.dir, name));
      fs.writeFileSync(path.join(tmp.dir, name, 'ifindex'), `${ifindex}\n`);
      fs.writeFileSync(path.join(tmp.dir, name, 'flags'), `${flags}\n`);
      fs.writeFileSync(path.join(tmp.dir, name, 'type'), `${type}\n`);
    };
    mk('lo', 1, '0x9', 772);
    mk('eth0', 2, '0x1003', 1);
    mk('eth1', 3, '0x1002', 1); // down
    mk('veth9', 9, '0x1103', 1);
    assert.deepEqual(defaultInterfaces(tmp.dir), [
      { name: 'eth0', ifindex: 2 },
      { name: 'veth9', ifindex: 9 },
    ]);
    assert.deepEqual(resolveInterfaces(['lo', 'nope', 'eth1', '../x'], tmp.dir), {
      found: [
        { name: 'lo', ifindex: 1 },
        { name: 'eth1', ifindex: 3 },
      ],
      missing: ['nope', '../x'],
    });
  } finally {
    tmp.remove();
  }
});

void test('XDP default interfaces: a sensor outside the host network namespace says so (a pod without host networking)', () => {
  const tmp = tempDir('aegis-netns');
  try {
    for (const [pid, ns] of [
      ['self', 'net:[4026532001]'],
      ['1', 'net:[4026531840]'],
    ] as const) {
      fs.mkdirSync(path.join(tmp.dir, pid, 'ns'), { recursive: true });
      fs.symlinkSync(ns, path.join(tmp.dir, pid, 'ns', 'net'));
    }
    assert.match(foreignNetnsReason(tmp.dir) ?? '', /not in the host's network namespace \(net:\[4026532001\]/);
    fs.rmSync(path.join(tmp.dir, 'self', 'ns', 'net'));
    fs.symlinkSync('net:[4026531840]', path.join(tmp.dir, 'self', 'ns', 'net'));
    assert.equal(foreignNetnsReason(tmp.dir), undefined);
    assert.equal(foreignNetnsReason(path.join(tmp.dir, 'absent')), undefined, 'unknown: no claim');
  } finally {
    tmp.remove();
  }
});
