/**
 * Ingress filter benchmark (issue 18, item "ingress"): what the inbound filter costs per packet, in the kernel.
 *
 * BPF_PROG_TEST_RUN runs a loaded program `repeat` times on one packet and reports the mean ns per run; no network,
 * no attach. Measured in the same run, alternating, medians of --runs:
 *
 * - floor: an XDP / cgroup_skb program that only returns PASS (bpf/probe/probe.bpf.c probe_xdp, probe_cgroup_skb):
 *   the test-run harness itself.
 * - miss: aegis_ingress_xdp / aegis_ingress_skb on an IPv4 (and an IPv6) packet whose source is in no rule, with
 *   --rules CIDRs loaded in each trie (the common case: every packet of normal traffic); a near miss shares a long
 *   prefix with a rule, so the trie walk is as deep as a hit's.
 * - hit: the same on a packet from a blocked /24 (DROP).
 * - hit in audit mode: the same rule hit, returning PASS: separates the rule's work (lookup, the atomic hit counter,
 *   the mode read) from what the test-run harness spends on a dropped packet.
 *
 * Reported: ns per packet and the extra ns over the floor; the ratio to the floor. Needs root and BPF.
 *
 *   node dist/bench/ingress.js [--repeat N] [--runs N] [--rules N]
 */
import type { NativeBpfObject } from '../src/native/binding';
import { NATIVE_PATHS, loadNative } from '../src/native/binding';
import { MAPS } from '../src/sensor/abi';
import type { EnforcementCapabilities } from '../src/sensor/feature-probe';
import { POLICY_MAP_KEYS, compilePolicy } from '../src/sensor/policy/policy-compile';
import { parsePolicy } from '../src/sensor/policy/policy-file';
import type { PolicyMapSet } from '../src/sensor/policy/policy-maps';
import { applyToMaps } from '../src/sensor/policy/policy-maps';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

function packet(v6: boolean, src: readonly number[]): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  const ip = Buffer.alloc(v6 ? 40 : 20);
  if (v6) {
    ip.writeUInt32BE(0x60000000, 0);
    ip.writeUInt16BE(20, 4);
    ip.writeUInt8(6, 6);
    Buffer.from(src).copy(ip, 8);
  } else {
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(40, 2);
    ip.writeUInt8(6, 9);
    Buffer.from(src).copy(ip, 12);
  }
  return Buffer.concat([eth, ip, Buffer.alloc(20)]);
}

function main(): void {
  const repeat = arg('repeat', 1_000_000);
  const runs = arg('runs', 5);
  const ruleCount = arg('rules', 1000);
  const native = loadNative();
  const caps: EnforcementCapabilities = { fileBlock: false, signals: true, networkBlock: true, ingressBlock: true };

  const probe: NativeBpfObject = new native.BpfObject(NATIVE_PATHS.probeObject);
  const sensor: NativeBpfObject = new native.BpfObject(NATIVE_PATHS.sensorObject);
  try {
    const floors = ['probe_xdp', 'probe_cgroup_skb'];
    for (const p of probe.programs()) probe.setAutoload(p.name, floors.includes(p.name));
    probe.load();
    const progs = ['aegis_ingress_xdp', 'aegis_ingress_skb'];
    for (const p of sensor.programs()) sensor.setAutoload(p.name, progs.includes(p.name));
    sensor.load();

    // --rules /24s in each trie (10.x.y.0/24, 2001:db8:x:y::/64), one of them hit by the "hit" packets.
    const rules: string[] = [];
    for (let i = 0; i < ruleCount; i++) {
      const a = (i >> 8) & 0xff;
      const b = i & 0xff;
      rules.push(`  - { id: v4-${i}, match: { address: 10.${a}.${b}.0/24, direction: in }, action: BLOCK }`);
      rules.push(
        `  - { id: v6-${i}, match: { address: "2001:db8:${a.toString(16)}:${b.toString(16)}::/64", direction: in }, action: BLOCK }`,
      );
    }
    const maps = Object.fromEntries(
      [...POLICY_MAP_KEYS, 'config' as const].map((k) => [k, sensor.map(MAPS[k])]),
    ) as unknown as PolicyMapSet;
    const resolver = { stat: () => ({ dev: 1, ino: 1n }), isSymlink: () => false, cgroupId: () => 1 };
    const apply = (mode: string, generation: number): void => {
      applyToMaps(
        maps,
        compilePolicy(parsePolicy(`version: 1\nmode: ${mode}\nrules:\n${rules.join('\n')}`), caps, resolver),
        generation,
      );
    };
    apply('enforce', 1);

    const v4miss = packet(false, [192, 0, 2, 77]);
    const v4hit = packet(false, [10, 0, 1, 9]);
    // Shares the first 22 bits with rule 10.3.231.0/24 (the last of 1000), so the walk goes as deep as a hit's.
    const v4near = packet(false, [10, 3, 233, 1]);
    const v6miss = packet(true, [0x20, 0x01, 0x0d, 0xb9, ...Array<number>(12).fill(1)]);
    const v6hit = packet(true, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, ...Array<number>(8).fill(1)]);
    const cases: { name: string; obj: NativeBpfObject; prog: string; pkt: Buffer }[] = [];
    for (const [kind, floor, prog] of [
      ['xdp', 'probe_xdp', 'aegis_ingress_xdp'],
      ['cgroup_skb', 'probe_cgroup_skb', 'aegis_ingress_skb'],
    ] as const) {
      cases.push({ name: `${kind} floor (return PASS)`, obj: probe, prog: floor, pkt: v4miss });
      cases.push({ name: `${kind} IPv4 miss`, obj: sensor, prog, pkt: v4miss });
      cases.push({ name: `${kind} IPv4 near miss`, obj: sensor, prog, pkt: v4near });
      cases.push({ name: `${kind} IPv4 hit (DROP)`, obj: sensor, prog, pkt: v4hit });
      cases.push({ name: `${kind} IPv6 miss`, obj: sensor, prog, pkt: v6miss });
      cases.push({ name: `${kind} IPv6 hit (DROP)`, obj: sensor, prog, pkt: v6hit });
    }
    const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let r = 0; r < runs; r++)
      for (const c of cases) samples.get(c.name)?.push(c.obj.testRun(c.prog, c.pkt, repeat).durationNs);
    apply('audit', 2);
    for (const [kind, prog] of [
      ['xdp', 'aegis_ingress_xdp'],
      ['cgroup_skb', 'aegis_ingress_skb'],
    ] as const) {
      const c = { name: `${kind} IPv4 hit, audit (PASS)`, obj: sensor, prog, pkt: v4hit };
      cases.push(c);
      samples.set(
        c.name,
        Array.from({ length: runs }, () => sensor.testRun(prog, v4hit, repeat).durationNs),
      );
    }

    console.log(`ingress: ${repeat} runs per sample, ${runs} samples (median), ${ruleCount} CIDRs per trie`);
    for (const kind of ['xdp', 'cgroup_skb']) {
      const floor = median(samples.get(`${kind} floor (return PASS)`) ?? [0]);
      for (const c of cases.filter((x) => x.name.startsWith(`${kind} `))) {
        const ns = median(samples.get(c.name) ?? [0]);
        console.log(
          `  ${c.name.padEnd(32)} ${ns.toFixed(0).padStart(4)} ns/packet  +${(ns - floor).toFixed(0).padStart(3)} ns  ×${(ns / Math.max(1, floor)).toFixed(2)} of the floor`,
        );
      }
    }
  } finally {
    sensor.destroy();
    probe.destroy();
  }
}

main();
