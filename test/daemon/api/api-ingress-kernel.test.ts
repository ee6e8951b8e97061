/**
 * Inbound (`direction: in`) blocklist entries on the real kernel, end to end through the REST API:
 *
 * - XDP: a veth pair whose peer is in a test network namespace; the ingress program on the host end, attached only
 *   once the first `in` entry exists and detached after the last one goes (lazy), and onto a second veth created
 *   after the daemon started (`ip link add`; the rescan) (a second sensor finds the interface taken, EBUSY, and falls
 *   back to cgroup_skb). A TCP connect
 *   from the blocked namespace address (IPv4 and IPv6) to a listener on the host times out while the same connect
 *   from the namespace's other address works; `packets_dropped` and `aegisbpf_packets_total{direction="in"}` move;
 *   deleting the entry restores the traffic; stopping the daemon detaches the program.
 * - cgroup_skb (the fallback, forced with `ingress.mode: cgroup_skb`): on loopback, a connect from 127.x.y.z (blocked)
 *   to 127.0.0.1 fails while 127.0.0.1 -> 127.0.0.1 works (IPv6: fdXX::2 -> ::1 in a namespace's loopback); the
 *   entry survives a daemon restart (policy store); delete restores.
 *
 * Addresses are random per run (10.x.y.0/29, fdXX::/64, 127.x.y.z) so parallel runs on one host do not meet.
 * Skipped with the reason where BPF, the ingress programs, `ip netns` or openssl are unavailable.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { apiPortOf, apiRequest, createApiKey } from '../../helpers/api-client';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import type { TestDaemon } from '../../helpers/daemon';
import { sampleValue, startDaemon, until } from '../../helpers/daemon';
import { loadSensorObject } from '../../../src/sensor/bpf-object';
import { INGRESS_RESCAN_MILLIS } from '../../../src/sensor/sensor';
import { native, run, sharedFeatures, skipUnlessKernel, tempDir } from '../../sensor/helpers';

/** A connect that prints CONNECTED, TIMEOUT (SYN dropped) or the error code; ~1.5 s at most. */
function connectScript(host: string, port: number, localAddress: string): string {
  return `const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port}, localAddress: ${JSON.stringify(localAddress)} });
s.setTimeout(1500, () => { console.log('TIMEOUT'); process.exit(0); });
s.on('connect', () => { console.log('CONNECTED'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
}

function skipReason(t: TestContext): boolean {
  if (skipUnlessKernel(t)) return true;
  const tls = opensslSkipReason();
  if (tls !== undefined) {
    t.skip(tls);
    return true;
  }
  return false;
}

interface Rig {
  readonly tmp: ReturnType<typeof tempDir>;
  readonly pki: ReturnType<typeof makeTestPki>;
  readonly key: string;
  readonly pinDir: string;
  readonly policyDir: string;
  config(ingress: string): string;
  remove(): void;
}

function rig(name: string): Rig {
  const tmp = tempDir(`aegis-ingress-${name}`);
  const pki = makeTestPki(path.join(tmp.dir, 'pki'));
  const key = createApiKey(tmp.dir, 'op', 'operator');
  const pinDir = `/sys/fs/bpf/aegis-test-ingress-${name}-${process.pid}`;
  const policyDir = path.join(tmp.dir, 'policy');
  return {
    tmp,
    pki,
    key,
    pinDir,
    policyDir,
    config: (ingress) =>
      [
        `data_dir: ${tmp.dir}`,
        `sources: { kernel: { type: sensor, network_hooks: false, connect_events: false, ingress: ${ingress}, pin_dir: ${pinDir}, policy_dir: ${policyDir} } }`,
        `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never, batch: { timeout_ms: 10 } } }`,
        'metrics: { listen: 127.0.0.1, port: 0 }',
        `api: { listen: 127.0.0.1:0, tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey} } }`,
      ].join('\n'),
    remove() {
      fs.rmSync(pinDir, { recursive: true, force: true });
      tmp.remove();
    },
  };
}

async function started(d: TestDaemon): Promise<string> {
  await until('/ready with the sensor attached', async () =>
    (await d.get('/ready')).status === 200 ? true : undefined,
  );
  const line = d.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('eBPF sensor started'));
  return typeof line?.msg === 'string' ? line.msg : '';
}

async function listen(host: string): Promise<net.Server> {
  const server = net.createServer((s) => s.on('error', () => undefined).end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

void test('direction in over XDP: attached on the first in rule, onto an interface created after start, detached after the last; a veth peer address on the blocklist cannot connect (IPv4, IPv6); counters move; delete restores', async (t) => {
  if (skipReason(t)) return;
  const features = sharedFeatures();
  if (!features.xdp.ok) {
    t.skip(`XDP does not load here: ${features.xdp.detail}`);
    return;
  }
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch (err) {
    t.skip(`ip netns unavailable: ${(err as Error).message}`);
    return;
  }
  const tag = crypto.randomBytes(3).toString('hex');
  const ns = `aegis-ing-${tag}`;
  const hostIf = `aih${tag}`;
  const peerIf = `aip${tag}`;
  const lateIf = `ail${tag}`;
  const latePeer = `aiq${tag}`;
  const b = crypto.randomBytes(2);
  const v4 = (n: number): string => `10.${200 + ((b[0] as number) % 50)}.${b[1] as number}.${n}`;
  const v6 = (n: number): string => `fd${tag.slice(0, 2)}:${tag.slice(2)}::${n}`;
  const ip = (...args: string[]): void => {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const inNs = (script: string): Promise<{ stdout: string }> =>
    run(['ip', 'netns', 'exec', ns, process.execPath, '-e', script]);
  const r = rig('xdp');
  let server: net.Server | undefined;
  let d: TestDaemon | undefined;
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peerIf, 'netns', ns);
    ip('addr', 'add', `${v4(1)}/29`, 'dev', hostIf);
    ip('-6', 'addr', 'add', `${v6(1)}/64`, 'dev', hostIf, 'nodad');
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'addr', 'add', `${v4(2)}/29`, 'dev', peerIf);
    ip('-n', ns, 'addr', 'add', `${v4(3)}/29`, 'dev', peerIf);
    ip('-n', ns, '-6', 'addr', 'add', `${v6(2)}/64`, 'dev', peerIf, 'nodad');
    ip('-n', ns, '-6', 'addr', 'add', `${v6(3)}/64`, 'dev', peerIf, 'nodad');
    ip('-n', ns, 'link', 'set', peerIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    server = await listen('::');
    const port = (server.address() as net.AddressInfo).port;

    // lateIf does not exist yet: it is attached when it appears (the rescan), without a restart.
    d = await startDaemon(r.tmp.dir, r.config(`{ mode: xdp, interfaces: [${hostIf}, ${lateIf}] }`));
    const line = await started(d);
    // Lazy: no `direction: in` rule yet, so nothing in the packet path.
    assert.match(line, /inbound filter: none \(idle: no direction: in rule/, line);
    assert.match(line, new RegExp(`ingress\\.interfaces not found: ${lateIf}`), line);
    assert.doesNotMatch(execFileSync('ip', ['link', 'show', hostIf], { encoding: 'utf8' }), /prog\/xdp/);

    const api = apiPortOf(d);
    const call = (p: string, req: Parameters<typeof apiRequest>[3] = {}): ReturnType<typeof apiRequest> =>
      apiRequest(api, r.pki.caCert, p, { key: r.key, ...req });
    const connect = async (host: string, from: string): Promise<string> =>
      (await inNs(connectScript(host, port, from))).stdout.trim();
    const healthIngress = async (): Promise<unknown> =>
      ((await call('/api/v1/health')).json() as { sensor: { ingress: unknown } }).sensor.ingress;
    assert.deepEqual(await healthIngress(), { hook: 'none', targets: [] });

    assert.equal(await connect(v4(1), v4(2)), 'CONNECTED', 'not blocked before');
    assert.equal(await connect(v6(1), v6(2)), 'CONNECTED', 'not blocked before (IPv6)');

    const add4 = await call('/api/v1/blocklist', {
      method: 'POST',
      body: { address: `${v4(2)}/32`, direction: 'in', action: 'BLOCK' },
    });
    assert.equal(add4.status, 201, add4.body);
    assert.equal((add4.json().entry as { id: string }).id, `net:in:${v4(2)}`, 'a /32 is stored as the address');
    assert.equal(add4.json().live, true);
    // The first `in` rule attaches the filter (at once: the API's write tells the sensor in-process).
    await until('XDP attached on the first in rule', async () =>
      JSON.stringify(await healthIngress()) === JSON.stringify({ hook: 'xdp', targets: [hostIf] }) ? true : undefined,
    );
    assert.match(
      execFileSync('ip', ['link', 'show', hostIf], { encoding: 'utf8' }),
      /prog\/xdp id \d+ name aegis_ingress_x/,
    );
    const add6 = await call('/api/v1/blocklist', {
      method: 'POST',
      body: { address: `${v6(2)}/128`, direction: 'in', action: 'BLOCK' },
    });
    assert.equal(add6.status, 201, add6.body);

    // A second sensor cannot take the interface (one XDP link per interface: EBUSY) and falls back to cgroup_skb.
    const second = loadSensorObject({
      native: native(),
      backend: features.backend ?? 'tracepoint',
      ringBytes: 4096,
      selfTgid: process.pid,
      connectAll: false,
      cgroupAttachPath: undefined,
      pinDir: undefined,
      ingress: {
        mode: 'auto',
        xdpLoads: true,
        cgroupSkbLoads: features.cgroupSkb.ok,
        interfaces: [],
        cgroupPath: features.cgroupV2.path,
      },
    });
    try {
      const itf = { name: hostIf, ifindex: Number(fs.readFileSync(`/sys/class/net/${hostIf}/ifindex`, 'utf8')) };
      assert.equal(second.reconcileIngress(true, [itf]), true);
      assert.equal(second.ingress?.hook, features.cgroupSkb.ok ? 'cgroup_skb' : 'none');
      assert.match(second.ingress?.reason ?? '', new RegExp(`XDP attach on ${hostIf} failed: .*errno 16`));
    } finally {
      second.destroy();
    }

    // An interface that appears after start gets the filter at the next rescan (INGRESS_RESCAN_MILLIS).
    ip('link', 'add', lateIf, 'type', 'veth', 'peer', 'name', latePeer);
    ip('link', 'set', lateIf, 'up');
    const appeared = Date.now();
    await until('XDP on the interface created after start', () =>
      Promise.resolve(
        /prog\/xdp id \d+ name aegis_ingress_x/.test(execFileSync('ip', ['link', 'show', lateIf], { encoding: 'utf8' }))
          ? true
          : undefined,
      ),
    );
    t.diagnostic(`interface created after start: filtered after ${Date.now() - appeared} ms`);
    assert.ok(Date.now() - appeared < INGRESS_RESCAN_MILLIS + 1500, 'within one rescan');
    assert.deepEqual(await healthIngress(), { hook: 'xdp', targets: [hostIf, lateIf] });

    assert.equal(await connect(v4(1), v4(2)), 'TIMEOUT', 'SYN from the blocked address dropped');
    assert.equal(await connect(v4(1), v4(3)), 'CONNECTED', 'the namespace’s other address still connects');
    assert.equal(await connect(v6(1), v6(2)), 'TIMEOUT', 'IPv6 source blocked');
    assert.equal(await connect(v6(1), v6(3)), 'CONNECTED', 'the other IPv6 address still connects');

    const stats = (await call('/api/v1/stats')).json() as { packets_dropped: number; packets_passed: number };
    // A dropped connect is the SYN and its retransmissions (at least 2 in 1.5 s per family).
    assert.ok(stats.packets_dropped >= 2, JSON.stringify(stats));
    assert.ok(stats.packets_passed > 0, JSON.stringify(stats));
    const metrics = (await d.get('/metrics')).body;
    const dropped = sampleValue(metrics, 'aegisbpf_packets_total', { direction: 'in', action: 'DROP' }) ?? 0;
    assert.ok(dropped >= stats.packets_dropped, `metric ${dropped}, stats ${stats.packets_dropped}`);

    const del = await call(`/api/v1/blocklist/${encodeURIComponent(`net:in:${v4(2)}`)}`, { method: 'DELETE' });
    assert.equal(del.status, 200, del.body);
    assert.equal(await connect(v4(1), v4(2)), 'CONNECTED', 'deleted: traffic restored');
    assert.equal(await connect(v6(1), v6(2)), 'TIMEOUT', 'the IPv6 entry is still there');
    const after = (await call('/api/v1/stats')).json() as { packets_dropped: number };
    assert.ok(after.packets_dropped > stats.packets_dropped, 'the drop counter moved again');

    // The last `in` rule gone: the filter detaches (nothing left in the packet path).
    const del6 = await call(`/api/v1/blocklist/${encodeURIComponent(`net:in:${v6(2)}`)}`, { method: 'DELETE' });
    assert.equal(del6.status, 200, del6.body);
    await until('XDP detached after the last in rule', () =>
      Promise.resolve(
        /prog\/xdp/.test(execFileSync('ip', ['link', 'show', hostIf], { encoding: 'utf8' })) ? undefined : true,
      ),
    );
    assert.deepEqual(await healthIngress(), { hook: 'none', targets: [] });
    assert.equal(await connect(v6(1), v6(2)), 'CONNECTED', 'detached: IPv6 traffic restored');

    // Stop detaches: no XDP program left (attached again for the check: a new in rule).
    assert.equal(
      (await call('/api/v1/blocklist', { method: 'POST', body: { address: v4(2), direction: 'in', action: 'BLOCK' } }))
        .status,
      201,
    );
    await until('XDP attached again', () =>
      Promise.resolve(
        /prog\/xdp/.test(execFileSync('ip', ['link', 'show', hostIf], { encoding: 'utf8' })) ? true : undefined,
      ),
    );
    await d.stop();
    d = undefined;
    assert.doesNotMatch(execFileSync('ip', ['link', 'show', hostIf], { encoding: 'utf8' }), /prog\/xdp/);
    assert.doesNotMatch(execFileSync('ip', ['link', 'show', lateIf], { encoding: 'utf8' }), /prog\/xdp/);
  } finally {
    await d?.stop();
    server?.close();
    try {
      ip('link', 'del', hostIf);
    } catch {
      // already gone with the namespace, or never created
    }
    try {
      ip('link', 'del', lateIf);
    } catch {
      // never created
    }
    try {
      ip('netns', 'del', ns);
    } catch {
      // never created
    }
    r.remove();
  }
});

/** In network namespace `ns`: listen on [::1], connect to it from `from`; prints what connectScript prints. */
function loopbackV6Script(from: string): string {
  return `const net = require('net');
const srv = net.createServer((s) => s.end()).listen(0, '::1', () => {
  ${connectScript('::1', 0, from).replace('port: 0', 'port: srv.address().port')}
});`;
}

void test('direction in over cgroup_skb: 127.x.y.z (and an IPv6 source) on the blocklist cannot reach loopback, 127.0.0.1 can; kept across a restart; delete restores', async (t) => {
  if (skipReason(t)) return;
  const features = sharedFeatures();
  if (!features.cgroupSkb.ok) {
    t.skip(`cgroup_skb ingress does not load here: ${features.cgroupSkb.detail}`);
    return;
  }
  const b = crypto.randomBytes(3);
  // 127.0.0.0/8 is all loopback on Linux: a random source nobody else uses.
  const blocked = `127.${100 + ((b[0] as number) % 100)}.${b[1] as number}.${1 + ((b[2] as number) % 250)}`;
  const r = rig('skb');
  const server = await listen('127.0.0.1');
  const port = (server.address() as net.AddressInfo).port;
  const connect = async (from: string): Promise<string> =>
    (await run([process.execPath, '-e', connectScript('127.0.0.1', port, from)])).stdout.trim();
  const config = r.config('{ mode: cgroup_skb }');
  // IPv6: a second loopback address needs a namespace of our own (the host's lo is everyone's). cgroup_skb on the
  // cgroup2 root sees sockets in every network namespace.
  const tag = b.toString('hex');
  const ns = `aegis-skb-${tag}`;
  const blocked6 = `fd${tag.slice(0, 2)}:${tag.slice(2)}::2`;
  let v6 = true;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, '-6', 'addr', 'add', `${blocked6}/128`, 'dev', 'lo', 'nodad'], { stdio: 'ignore' });
  } catch (err) {
    v6 = false;
    t.diagnostic(`IPv6 part skipped: ip netns unavailable: ${(err as Error).message}`);
  }
  const connect6 = async (from: string): Promise<string> =>
    (await run(['ip', 'netns', 'exec', ns, process.execPath, '-e', loopbackV6Script(from)])).stdout.trim();
  let d: TestDaemon | undefined;
  try {
    d = await startDaemon(r.tmp.dir, config);
    const line = await started(d);
    assert.match(line, /inbound filter: none \(idle: no direction: in rule/, line);
    const call = (p: string, req: Parameters<typeof apiRequest>[3] = {}): ReturnType<typeof apiRequest> =>
      apiRequest(apiPortOf(d as TestDaemon), r.pki.caCert, p, { key: r.key, ...req });
    assert.equal(await connect(blocked), 'CONNECTED', 'not blocked before');
    const add = await call('/api/v1/blocklist', {
      method: 'POST',
      body: { address: blocked, direction: 'in', action: 'BLOCK' },
    });
    assert.equal(add.status, 201, add.body);
    await until('cgroup_skb attached on the first in rule', () =>
      Promise.resolve(
        (d as TestDaemon)
          .logs()
          .some((l) =>
            /^Inbound filter: cgroup_skb on \S+ \(not XDP: ingress\.mode is cgroup_skb\)/.test(String(l.msg)),
          )
          ? true
          : undefined,
      ),
    );
    assert.equal(await connect(blocked), 'TIMEOUT', `${blocked} -> 127.0.0.1 dropped`);
    assert.equal(await connect('127.0.0.1'), 'CONNECTED', '127.0.0.1 -> 127.0.0.1 still works');
    const stats = (await call('/api/v1/stats')).json() as { packets_dropped: number };
    assert.ok(stats.packets_dropped >= 2, JSON.stringify(stats));
    if (v6) {
      assert.equal(await connect6(blocked6), 'CONNECTED', 'IPv6: not blocked before');
      const add6 = await call('/api/v1/blocklist', {
        method: 'POST',
        body: { address: `${blocked6}/128`, direction: 'in', action: 'BLOCK' },
      });
      assert.equal(add6.status, 201, add6.body);
      assert.equal(await connect6(blocked6), 'TIMEOUT', `${blocked6} -> ::1 dropped`);
      assert.equal(await connect6('::1'), 'CONNECTED', '::1 -> ::1 still works');
      const del6 = await call(`/api/v1/blocklist/${encodeURIComponent(blocked6)}`, { method: 'DELETE' });
      assert.equal(del6.status, 200, del6.body);
    }

    // The policy store keeps the entry: a restarted daemon drops the traffic again.
    await d.stop();
    d = await startDaemon(r.tmp.dir, config);
    // The stored `in` rule attaches the filter at start (re-applied from the store).
    await until('cgroup_skb attached after the restart', () =>
      Promise.resolve(
        (d as TestDaemon).logs().some((l) => /inbound filter: cgroup_skb on/i.test(String(l.msg))) ? true : undefined,
      ),
    );
    const list = (await call('/api/v1/blocklist')).json().entries as { id: string; direction: string }[];
    assert.deepEqual(
      list.map((e) => [e.id, e.direction]),
      [[`net:in:${blocked}`, 'in']],
    );
    assert.equal(await connect(blocked), 'TIMEOUT', 'kept across the restart');

    const del = await call(`/api/v1/blocklist/${encodeURIComponent(blocked)}`, { method: 'DELETE' });
    assert.equal(del.status, 200, del.body);
    assert.equal(await connect(blocked), 'CONNECTED', 'deleted: traffic restored');
  } finally {
    await d?.stop();
    server.close();
    if (v6) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    r.remove();
  }
});
