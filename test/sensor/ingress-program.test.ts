/**
 * The ingress programs themselves (bpf/net/ingress.bpf.c), run by the kernel on synthetic packets with
 * BPF_PROG_TEST_RUN: no network, no attach. A policy goes the real way (parsePolicy -> compilePolicy -> applyToMaps)
 * into the maps of a loaded sensor object; each packet's verdict, the PASS/DROP counters and the rule hit counters
 * are checked for XDP and for cgroup_skb. Skipped with the reason where BPF or these program types cannot load.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NativeBpfObject } from '../../src/native/binding';
import { NATIVE_PATHS } from '../../src/native/binding';
import { MAPS } from '../../src/sensor/abi';
import type { EnforcementCapabilities } from '../../src/sensor/feature-probe';
import { POLICY_MAP_KEYS, compilePolicy, ruleIdOf } from '../../src/sensor/policy/policy-compile';
import { parsePolicy } from '../../src/sensor/policy/policy-file';
import type { PolicyMapSet } from '../../src/sensor/policy/policy-maps';
import { applyToMaps, ruleHits } from '../../src/sensor/policy/policy-maps';
import { readPacketStats } from '../../src/sensor/sensor-telemetry';
import { native, sharedFeatures, skipUnlessKernel } from './helpers';

const CAPS: EnforcementCapabilities = { fileBlock: false, signals: true, networkBlock: true, ingressBlock: true };
const XDP_DROP = 1;
const XDP_PASS = 2;

/**
 * Ethernet + IPv4 or IPv6 + 20 bytes of TCP, source `src`; `vlan` inserts that many VLAN tags (the innermost 802.1Q
 * 0x8100, outer ones 802.1ad 0x88a8, as QinQ stacks them).
 */
function packet(src: string, opts: { vlan?: number; truncate?: number } = {}): Buffer {
  const v6 = src.includes(':');
  const tags = opts.vlan ?? 0;
  const eth = Buffer.alloc(14 + 4 * tags);
  for (let i = 0; i < tags; i++) {
    eth.writeUInt16BE(i === tags - 1 ? 0x8100 : 0x88a8, 12 + 4 * i);
    eth.writeUInt16BE(100 + i, 14 + 4 * i); // TCI: VLAN id
  }
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, eth.length - 2);
  let ip: Buffer;
  if (v6) {
    ip = Buffer.alloc(40);
    ip.writeUInt32BE(0x60000000, 0);
    ip.writeUInt16BE(20, 4);
    ip.writeUInt8(6, 6);
    ip.writeUInt8(64, 7);
    const groups = (a: string): number[] => {
      const [h = '', t = ''] = a.split('::');
      const hs = h === '' ? [] : h.split(':');
      const ts = t === '' ? [] : t.split(':');
      return [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => parseInt(g, 16));
    };
    groups(src).forEach((g, i) => ip.writeUInt16BE(g, 8 + i * 2));
    groups('2001:db8:ffff::1').forEach((g, i) => ip.writeUInt16BE(g, 24 + i * 2));
  } else {
    ip = Buffer.alloc(20);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(40, 2);
    ip.writeUInt8(64, 8);
    ip.writeUInt8(6, 9);
    src.split('.').forEach((o, i) => ip.writeUInt8(Number(o), 12 + i));
    Buffer.from([192, 0, 2, 1]).copy(ip, 16);
  }
  const full = Buffer.concat([eth, ip, Buffer.alloc(20)]);
  return opts.truncate === undefined ? full : full.subarray(0, opts.truncate);
}

const POLICY = (mode: 'audit' | 'enforce'): string =>
  [
    'version: 1',
    `mode: ${mode}`,
    'rules:',
    '  - { id: in-net, match: { address: 198.51.100.0/24, direction: in }, action: BLOCK }',
    '  - { id: in-host-audit, match: { address: 198.51.100.7, direction: in }, action: AUDIT }',
    '  - { id: in-v6, match: { address: "2001:db8::/32", direction: in }, action: BLOCK }',
    '  - { id: out-only, match: { address: 203.0.113.5 }, action: BLOCK }',
  ].join('\n');

void test('the ingress programs drop what the in tries hold (longest prefix, IPv4 and IPv6), pass the rest, count both', (t) => {
  if (skipUnlessKernel(t)) return;
  const features = sharedFeatures();
  const programs = [
    ...(features.xdp.ok ? [{ name: 'aegis_ingress_xdp', drop: XDP_DROP, pass: XDP_PASS }] : []),
    ...(features.cgroupSkb.ok ? [{ name: 'aegis_ingress_skb', drop: 0, pass: 1 }] : []),
  ];
  if (programs.length === 0) {
    t.skip(`neither XDP (${features.xdp.detail}) nor cgroup_skb (${features.cgroupSkb.detail}) loads here`);
    return;
  }
  const b = native();
  const obj: NativeBpfObject = new b.BpfObject(NATIVE_PATHS.sensorObject);
  try {
    for (const p of obj.programs())
      obj.setAutoload(
        p.name,
        programs.some((x) => x.name === p.name),
      );
    obj.load();
    const maps = Object.fromEntries(
      [...POLICY_MAP_KEYS, 'config' as const].map((k) => [k, obj.map(MAPS[k])]),
    ) as unknown as PolicyMapSet;
    applyToMaps(
      maps,
      compilePolicy(parsePolicy(POLICY('enforce')), CAPS, {
        stat: () => ({ dev: 1, ino: 1n }),
        isSymlink: () => false,
        cgroupId: () => 1,
      }),
      1,
    );
    let drops = 0;
    let passes = 0;
    for (const p of programs) {
      const verdict = (pkt: Buffer): 'DROP' | 'PASS' => {
        const r = obj.testRun(p.name, pkt, 1);
        assert.ok(r.retval === p.drop || r.retval === p.pass, `${p.name} returned ${r.retval}`);
        if (r.retval === p.drop) drops++;
        else passes++;
        return r.retval === p.drop ? 'DROP' : 'PASS';
      };
      assert.equal(verdict(packet('198.51.100.9')), 'DROP', `${p.name}: in the /24`);
      assert.equal(verdict(packet('198.51.100.7')), 'PASS', `${p.name}: the /32 AUDIT rule wins (longest prefix)`);
      assert.equal(verdict(packet('198.51.101.9')), 'PASS', `${p.name}: outside`);
      assert.equal(verdict(packet('203.0.113.5')), 'PASS', `${p.name}: an out rule never drops inbound`);
      assert.equal(verdict(packet('2001:db8:1::5')), 'DROP', `${p.name}: IPv6 /32`);
      assert.equal(verdict(packet('2001:db9::5')), 'PASS', `${p.name}: IPv6 outside`);
      if (p.name === 'aegis_ingress_xdp') {
        assert.equal(verdict(packet('198.51.100.9', { truncate: 20 })), 'PASS', 'truncated IPv4 header');
        // 802.1Q and QinQ frames are parsed through their tags (regression: tagged frames used to pass).
        assert.equal(verdict(packet('198.51.100.9', { vlan: 1 })), 'DROP', 'an 802.1Q-tagged frame is parsed');
        assert.equal(verdict(packet('2001:db8:1::5', { vlan: 1 })), 'DROP', 'an 802.1Q-tagged IPv6 frame');
        assert.equal(verdict(packet('198.51.100.9', { vlan: 2 })), 'DROP', 'a QinQ (802.1ad + 802.1Q) frame');
        assert.equal(verdict(packet('198.51.101.9', { vlan: 1 })), 'PASS', 'a tagged frame from outside passes');
        assert.equal(verdict(packet('198.51.100.9', { vlan: 3 })), 'PASS', 'three tags: beyond the parsed depth');
        assert.equal(verdict(packet('198.51.100.9', { vlan: 1, truncate: 16 })), 'PASS', 'a truncated tag');
      }
    }
    const counted = readPacketStats(obj.map(MAPS.pktStats));
    assert.deepEqual(counted, { PASS: passes, DROP: drops });
    const hits = ruleHits(maps);
    // One hit per program, plus XDP's two tagged frames inside the /24 (truncated and 3-tag frames end before the lookup).
    const xdpRuns = programs.filter((p) => p.name === 'aegis_ingress_xdp').length;
    assert.equal(hits.get(ruleIdOf('in-net')), programs.length + 2 * xdpRuns, 'hits of the /24 rule');
    assert.equal(hits.get(ruleIdOf('in-host-audit')), programs.length, 'the AUDIT rule counts its hits');
    assert.equal(hits.get(ruleIdOf('out-only')), undefined, 'the out rule is not consulted');

    // Audit mode: a BLOCK hit passes (and still counts).
    applyToMaps(
      maps,
      compilePolicy(parsePolicy(POLICY('audit')), CAPS, {
        stat: () => ({ dev: 1, ino: 1n }),
        isSymlink: () => false,
        cgroupId: () => 1,
      }),
      2,
    );
    for (const p of programs)
      assert.equal(obj.testRun(p.name, packet('198.51.100.9'), 1).retval, p.pass, `${p.name}: audit mode passes`);
  } finally {
    obj.destroy();
  }
});
