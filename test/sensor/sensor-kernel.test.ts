/**
 * The sensor against the real kernel (root). Each test loads its own sensor, scopes itself to processes, files and
 * cgroups it creates, and cleans up (stop() detaches, cgroups are removed) in `finally` even when it fails.
 * Whatever the machine cannot do is skipped with the reason printed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { BlockEvent, ConnectEvent, ExecEvent, ExitEvent } from '../../src/event/types';
import { SensorError } from '../../src/native/errors';
import { kernelDevToUser } from '../../src/sensor/text';
import type { PolicyEngine } from '../../src/sensor/policy/policy-engine';
import type { Sensor } from '../../src/sensor/sensor';
import { createSensor } from '../../src/sensor/sensor';
import type { EventCollector, TempDir } from './helpers';
import { createTestCgroup, native, run, sharedFeatures, skipUnlessKernel, startPipelineRig } from './helpers';

interface Rig {
  readonly sensor: Sensor;
  /** What reached the pipeline's file sink. */
  readonly events: EventCollector & { poll(): void };
  readonly policy: PolicyEngine;
  readonly tmp: TempDir;
  close(): Promise<void>;
}

/**
 * A running pipeline (sensor source -> file sink) for one test: events are asserted where a SIEM would see them.
 * Network hooks stay off unless the test gives its own cgroup.
 */
async function rig(name: string, sourceRaw: Record<string, unknown> = {}): Promise<Rig> {
  const p = await startPipelineRig(name, sourceRaw);
  return { sensor: p.handle.sensor, policy: p.handle.policy, events: p.events, tmp: p.tmp, close: () => p.close() };
}

const isBlockFor =
  (pid: number) =>
  (e: { type: string; pid: number }): boolean =>
    e.type === 'block' && e.pid === pid;

void describe('sensor (kernel)', () => {
  void test('exec of a test binary gives exec and exit events with pid, ppid, comm, exe, args', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('exec');
    try {
      // A copy of /bin/sh under a distinctive name: comm and exe are then ours, not the system's.
      const exe = path.join(r.tmp.dir, 'aegis-exec-t');
      fs.copyFileSync('/bin/sh', exe);
      fs.chmodSync(exe, 0o755);
      const res = await run([exe, '-c', 'exit 7', 'arg with space', 'ünï']);
      assert.equal(res.code, 7);
      const ex = (await r.events.waitFor((e) => e.type === 'exec' && e.pid === res.pid, 'exec event')) as ExecEvent;
      assert.equal(ex.ppid, process.pid);
      assert.equal(ex.comm, 'aegis-exec-t');
      assert.equal(ex.exe, fs.realpathSync(exe));
      assert.deepEqual(ex.args, [exe, '-c', 'exit 7', 'arg with space', 'ünï']);
      assert.equal(ex.hook, 'sched_process_exec');
      assert.equal(ex.sensor, r.sensor.backend);
      assert.equal(ex.exec_id, `${res.pid}:${ex.start_time}`);
      assert.equal(ex.trace_id, ex.exec_id);
      assert.equal(ex.uid, process.getuid?.());
      assert.match(ex.parent_exec_id ?? '', new RegExp(`^${process.pid}:\\d+$`));
      assert.match(ex.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.ok(Math.abs(Date.parse(ex.ts) - Date.now()) < 60_000, `ts ${ex.ts} is near now`);
      const exit = (await r.events.waitFor((e) => e.type === 'exit' && e.pid === res.pid, 'exit event')) as ExitEvent;
      assert.equal(exit.exit_code, 7);
      assert.equal(exit.signal, undefined);
      assert.equal(exit.exec_id, ex.exec_id);
      assert.equal(exit.exe, ex.exe);
      assert.ok((exit.duration_ns ?? 0) > 0);
    } finally {
      await r.close();
    }
  });

  void test('exit and fork records do not wake the reader but arrive within the lazy drain interval; exec still wakes it', async (t) => {
    if (skipUnlessKernel(t)) return;
    const seen = new Map<string, number>(); // "<type>:<pid>" -> when it reached JS
    const sensor = createSensor({
      native: native(),
      features: sharedFeatures(),
      cgroupAttachPath: null,
      statsIntervalMillis: 0,
      lazyDrainMillis: 100,
      onEvents: (evs) => {
        const now = performance.now();
        for (const e of evs) if (!seen.has(`${e.type}:${e.pid}`)) seen.set(`${e.type}:${e.pid}`, now);
      },
    });
    const waitSeen = async (key: string, timeoutMillis: number): Promise<number> => {
      const deadline = performance.now() + timeoutMillis;
      while (!seen.has(key)) {
        if (performance.now() > deadline) throw new Error(`no ${key} within ${timeoutMillis} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return seen.get(key) as number;
    };
    try {
      sensor.start();
      const lags: number[] = [];
      for (let i = 0; i < 5; i++) {
        // The child sleeps, so its exit record is written alone, long after the exec record that woke the reader.
        const child = spawn('/bin/sleep', ['0.2']);
        const pid = child.pid as number;
        await waitSeen(`exec:${pid}`, 2000);
        const exitedAt = await new Promise<number>((resolve) => child.on('exit', () => resolve(performance.now())));
        const arrived = await waitSeen(`exit:${pid}`, 2000);
        lags.push(arrived - exitedAt);
      }
      // Collected by the 100 ms drain (or earlier by any exec on the machine): well under 400 ms each time. Without
      // the drain an exit waits for the next exec anywhere on the host.
      assert.ok(
        lags.every((l) => l < 400),
        `exit event lags after the child's exit: ${lags.map((l) => l.toFixed(0)).join(', ')} ms`,
      );
    } finally {
      sensor.stop();
    }
  });

  void test('exit of a process killed by a signal reports the signal', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('exit-signal');
    try {
      const res = await run(['/bin/sh', '-c', 'kill -USR1 $$']);
      assert.equal(res.signal, 'SIGUSR1');
      const exit = (await r.events.waitFor((e) => e.type === 'exit' && e.pid === res.pid, 'exit event')) as ExitEvent;
      assert.equal(exit.signal, 10);
      assert.equal(exit.exit_code, 0);
    } finally {
      await r.close();
    }
  });

  void test('AUDIT rule: the child is not harmed and a block event with action AUDIT arrives', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('audit');
    try {
      const file = r.tmp.file('audited');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: audit-tmp, match: { path: ${file} }, action: AUDIT }\n`,
        'test',
      );
      const res = await run(['/bin/cat', file]);
      assert.equal(res.code, 0);
      assert.equal(res.stdout, 'aegisbpf test data\n');
      const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
      assert.equal(ev.action, 'AUDIT');
      assert.equal(ev.policy, 'audit-tmp');
      assert.equal(ev.mode, 'enforce');
      assert.equal(ev.path, file);
      assert.equal(ev.ino, fs.statSync(file).ino);
      assert.equal(kernelDevToUser(ev.dev), fs.statSync(file).dev, 'dev is the kernel encoding of st_dev');
      assert.equal(ev.comm, 'cat');
      assert.equal((ev.open_flags ?? -1) & 3, 0, 'O_RDONLY');
      assert.equal(ev.hook, r.sensor.backend === 'lsm' ? 'lsm/file_open' : 'sys_exit_openat');
    } finally {
      await r.close();
    }
  });

  const signals = [
    ['KILL', 'SIGKILL'],
    ['TERM', 'SIGTERM'],
    ['INT', 'SIGINT'],
  ] as const;
  for (const by of ['path', 'inode'] as const) {
    for (const [action, signal] of signals) {
      void test(`${action} rule by ${by}: the child that opens the file dies of ${signal}`, async (t) => {
        if (skipUnlessKernel(t)) return;
        if (!sharedFeatures().capabilities.signals) {
          t.skip(`bpf_send_signal unavailable: ${sharedFeatures().sendSignal.detail}`);
          return;
        }
        const r = await rig(`${action}-${by}`);
        try {
          const file = r.tmp.file(`target-${action}`);
          const id = `${action.toLowerCase()}-by-${by}`;
          r.policy.apply(
            `version: 1\nmode: enforce\nrules:\n  - { id: ${id}, match: { ${by}: ${file} }, action: ${action} }\n`,
            'test',
          );
          const res = await run(['/bin/cat', file]);
          assert.equal(res.signal, signal, `cat exited with code ${res.code} / signal ${res.signal}`);
          const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
          assert.equal(ev.action, action);
          assert.equal(ev.policy, id);
          assert.equal(ev.mode, 'enforce');
          const k = r.sensor.stats().kernel;
          assert.ok(k.blocks[action] >= 1, `kernel counted blocks[${action}]`);
        } finally {
          await r.close();
        }
      });
    }
  }

  void test('the legacy open(2) and creat(2) syscalls are hooked too (x86_64)', async (t) => {
    if (skipUnlessKernel(t)) return;
    if (process.arch !== 'x64') {
      t.skip(`open(2)/creat(2) are x86_64 syscalls (this is ${process.arch})`);
      return;
    }
    const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));
    if (python === undefined) {
      t.skip('python3 (for raw syscalls through ctypes) is not installed');
      return;
    }
    const r = await rig('legacy-open');
    try {
      const file = r.tmp.file('legacy');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: legacy, match: { path: ${file} }, action: KILL }\n`,
        'test',
      );
      for (const [nr, hook, args] of [
        [2, 'sys_exit_open', '0'],
        [85, 'sys_exit_creat', '0o600'],
      ] as const) {
        const res = await run([
          python,
          '-c',
          `import ctypes; ctypes.CDLL(None).syscall(${nr}, b${JSON.stringify(file)}, ${args})`,
        ]);
        assert.equal(res.signal, 'SIGKILL', `syscall ${nr}: code ${res.code} ${res.stderr}`);
        const ev = (await r.events.waitFor(isBlockFor(res.pid), `block event for syscall ${nr}`)) as BlockEvent;
        assert.equal(ev.hook, hook);
        assert.equal(ev.path, file, 'the name comes from the saved syscall registers');
      }
    } finally {
      await r.close();
    }
  });

  void test('a process in an allowed cgroup opens a KILL-protected file unharmed; outside it dies', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('allow-cgroup');
    const cg = createTestCgroup('allow');
    try {
      const file = r.tmp.file('protected');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: kill-file, match: { path: ${file} }, action: KILL }\n  - { id: trusted, match: { cgroup: ${cg.rel} }, action: ALLOW }\n`,
        'test',
      );
      const inside = await run(['/bin/cat', file], { cgroup: cg });
      assert.equal(inside.code, 0, `inside the allowed cgroup: code ${inside.code} signal ${inside.signal}`);
      assert.equal(inside.stdout, 'aegisbpf test data\n');
      const outside = await run(['/bin/cat', file]);
      assert.equal(outside.signal, 'SIGKILL');
      // The sink keeps order: once the outside child's event is there, an event for the inside child would be too.
      await r.events.waitFor(isBlockFor(outside.pid), 'block event for the outside child');
      assert.equal(r.events.events.find(isBlockFor(inside.pid)), undefined, 'no block event for the allowed child');
    } finally {
      await r.close();
      cg.remove();
    }
  });

  void test('mode audit: a KILL rule reports but does not kill', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('audit-mode');
    try {
      const file = r.tmp.file('would-kill');
      r.policy.apply(
        `version: 1\nmode: audit\nrules:\n  - { id: would-kill, match: { path: ${file} }, action: KILL }\n`,
        'test',
      );
      const res = await run(['/bin/cat', file]);
      assert.equal(res.code, 0);
      const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
      assert.equal(ev.action, 'KILL');
      assert.equal(ev.mode, 'audit');
    } finally {
      await r.close();
    }
  });

  void test('KILL on an executable by inode (tracepoint mode: at exec, before the first instruction)', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('exec-kill');
    try {
      const exe = path.join(r.tmp.dir, 'aegis-forbidden');
      fs.copyFileSync('/bin/true', exe);
      fs.chmodSync(exe, 0o755);
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: no-exec, match: { inode: ${exe} }, action: KILL }\n`,
        'test',
      );
      const res = await run([exe]);
      assert.equal(res.signal, 'SIGKILL');
      const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
      assert.equal(ev.policy, 'no-exec');
      assert.equal(ev.hook, r.sensor.backend === 'lsm' ? 'lsm/bprm_check_security' : 'sched_process_exec');
    } finally {
      await r.close();
    }
  });

  void test('network deny via the cgroup hook: EPERM inside the test cgroup, unchanged outside', async (t) => {
    if (skipUnlessKernel(t)) return;
    if (!sharedFeatures().capabilities.networkBlock) {
      t.skip(`cgroup connect hooks unavailable: ${sharedFeatures().cgroupConnect.detail}`);
      return;
    }
    const cg = createTestCgroup('net');
    const server = net.createServer((s) => {
      s.on('error', () => undefined); // clients exit right after connecting
      s.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const r = await rig('net', { network_hooks: true, cgroup_path: cg.path });
    try {
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: no-loopback-port, match: { address: 127.0.0.1, port: ${port}, protocol: tcp }, action: BLOCK }\n`,
        'test',
      );
      const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const inside = await run([process.execPath, '-e', script], { cgroup: cg });
      assert.equal(inside.stdout.trim(), 'EPERM');
      const ev = (await r.events.waitFor(
        (e) => e.type === 'connect' && e.pid === inside.pid && e.action !== undefined,
        'connect event',
      )) as ConnectEvent;
      assert.equal(ev.action, 'BLOCK');
      assert.equal(ev.policy, 'no-loopback-port');
      assert.equal(ev.remote_ip, '127.0.0.1');
      assert.equal(ev.remote_port, port);
      assert.equal(ev.protocol, 'tcp');
      assert.equal(ev.family, 'ipv4');
      assert.equal(ev.cgroup_path, cg.rel);
      assert.equal(ev.hook, 'cgroup/connect4');
      const outside = await run([process.execPath, '-e', script]);
      assert.equal(outside.stdout.trim(), 'CONNECTED', 'outside the test cgroup nothing changes');
    } finally {
      await r.close();
      server.close();
      cg.remove();
    }
  });

  void test('network deny for IPv6 (a CIDR) and for an IPv4-mapped destination on a dual-stack socket', async (t) => {
    if (skipUnlessKernel(t)) return;
    if (!sharedFeatures().capabilities.networkBlock) {
      t.skip(`cgroup connect hooks unavailable: ${sharedFeatures().cgroupConnect.detail}`);
      return;
    }
    const cg = createTestCgroup('net6');
    const server6 = net.createServer((s) => s.on('error', () => undefined).end());
    const listening = await new Promise<boolean>((resolve) => {
      server6.once('error', () => resolve(false));
      server6.listen(0, '::1', () => resolve(true));
    });
    if (!listening) {
      cg.remove();
      t.skip('no IPv6 loopback (::1) on this host');
      return;
    }
    const port6 = (server6.address() as net.AddressInfo).port;
    const server4 = net.createServer((s) => s.on('error', () => undefined).end());
    await new Promise<void>((resolve) => server4.listen(0, '127.0.0.1', resolve));
    const port4 = (server4.address() as net.AddressInfo).port;
    const r = await rig('net6', { network_hooks: true, cgroup_path: cg.path });
    try {
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: no-v6-loopback, match: { address: "::1/128" }, action: BLOCK }\n  - { id: no-v4-port, match: { address: 127.0.0.1, port: ${port4} }, action: BLOCK }\n`,
        'test',
      );
      const connect = (host: string, port: number): string =>
        `require('net').connect({ host: '${host}', port: ${port} }).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
      const v6 = await run([process.execPath, '-e', connect('::1', port6)], { cgroup: cg });
      assert.equal(v6.stdout.trim(), 'EPERM');
      const ev6 = (await r.events.waitFor(
        (e) => e.type === 'connect' && e.pid === v6.pid && e.action !== undefined,
        'IPv6 connect event',
      )) as ConnectEvent;
      assert.equal(ev6.family, 'ipv6');
      assert.equal(ev6.remote_ip, '::1');
      assert.equal(ev6.remote_port, port6);
      assert.equal(ev6.policy, 'no-v6-loopback');
      assert.equal(ev6.hook, 'cgroup/connect6');
      // an IPv6 socket connecting to ::ffff:127.0.0.1 is an IPv4 connect: the IPv4 rule applies
      const mapped = await run([process.execPath, '-e', connect('::ffff:127.0.0.1', port4)], { cgroup: cg });
      assert.equal(mapped.stdout.trim(), 'EPERM');
      const evm = (await r.events.waitFor(
        (e) => e.type === 'connect' && e.pid === mapped.pid && e.action !== undefined,
        'mapped connect event',
      )) as ConnectEvent;
      assert.equal(evm.policy, 'no-v4-port');
      assert.equal(evm.remote_ip, '::ffff:127.0.0.1');
    } finally {
      await r.close();
      server6.close();
      server4.close();
      cg.remove();
    }
  });

  void test('BLOCK on file open: enforced where BPF LSM loads; refused by policy apply elsewhere, with the reason', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('block');
    try {
      const file = r.tmp.file('blocked');
      const policy = `version: 1\nmode: enforce\nrules:\n  - { id: block-file, match: { path: ${file} }, action: BLOCK }\n`;
      if (r.sensor.backend !== 'lsm') {
        assert.throws(
          () => r.policy.apply(policy, 'test'),
          (err: unknown) =>
            err instanceof SensorError &&
            err.code === 'AEGIS_ERR_POLICY_UNENFORCEABLE' &&
            /BLOCK on file open\/exec needs BPF LSM/.test(err.message),
        );
        assert.equal(r.policy.show().current, undefined, 'nothing was stored');
        t.skip(
          `BLOCK on file open needs BPF LSM: ${sharedFeatures().lsm.detail} (policy apply refused it, as it must)`,
        );
        return;
      }
      r.policy.apply(policy, 'test');
      const res = await run(['/bin/cat', file]);
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, /Operation not permitted/);
      const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
      assert.equal(ev.action, 'BLOCK');
    } finally {
      await r.close();
    }
  });

  void test('a BLOCK rule with a fallback is accepted in tracepoint mode and enforces the fallback', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('fallback');
    try {
      const file = r.tmp.file('fallback');
      const res0 = r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: block-or-kill, match: { path: ${file} }, action: BLOCK, fallback: KILL }\n`,
        'test',
      );
      const expected = r.sensor.backend === 'lsm' ? 'BLOCK' : 'KILL';
      assert.equal(res0.rules[0]?.action, expected);
      const res = await run(['/bin/cat', file]);
      if (expected === 'KILL') assert.equal(res.signal, 'SIGKILL');
      const ev = (await r.events.waitFor(isBlockFor(res.pid), 'block event')) as BlockEvent;
      assert.equal(ev.action, expected);
    } finally {
      await r.close();
    }
  });

  void test('ring pressure: a burst larger than a tiny ring gives exact drop counts (received + drops = generated)', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('ring', { ring_bytes: 4096 });
    try {
      assert.equal(r.sensor.ringBytes, 4096);
      const file = r.tmp.file('burst');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: burst, match: { path: ${file} }, action: AUDIT }\n`,
        'test',
      );
      r.sensor.drain();
      const before = r.sensor.stats().kernel;
      const generated = 2000;
      r.sensor.pause(); // nobody reads: the ring fills after a handful of records
      const script = `const fs=require('fs');for(let i=0;i<${generated};i++)fs.closeSync(fs.openSync(${JSON.stringify(file)},'r'));`;
      const res = await run([process.execPath, '-e', script]);
      assert.equal(res.code, 0);
      r.sensor.resume();
      r.sensor.drain();
      const after = r.sensor.stats().kernel;
      const drops = after.drops.FILE - before.drops.FILE;
      const emitted = after.events.FILE - before.events.FILE;
      // everything the kernel submitted travels through the pipeline into the sink
      const deadline = Date.now() + 15_000;
      let received = 0;
      while (Date.now() < deadline) {
        r.events.poll();
        received = r.events.events.filter(isBlockFor(res.pid)).length;
        if (received >= emitted) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(drops > 0, `expected drops with a 4 KiB ring (received ${received})`);
      assert.equal(received, emitted, 'every record the kernel submitted arrived');
      assert.equal(received + drops, generated, `received ${received} + drops ${drops} = generated ${generated}`);
    } finally {
      await r.close();
    }
  });

  void test('records reach JS in batches: one call per batch, never one per event', async (t) => {
    if (skipUnlessKernel(t)) return;
    let calls = 0;
    let records = 0;
    // The native reader's contract, below the pipeline: a sensor of its own with a counting consumer.
    const sensor = createSensor({
      native: native(),
      features: sharedFeatures(),
      cgroupAttachPath: null,
      statsIntervalMillis: 0,
      batchBytes: 16 << 20, // room for this test's records plus whatever the rest of the machine does meanwhile
      onEvents: () => undefined,
      onRecords: (recs) => {
        calls++;
        records += recs.length;
      },
    });
    try {
      sensor.start();
      sensor.drain();
      const before = sensor.stats().reader;
      calls = 0;
      records = 0;
      sensor.pause();
      for (let i = 0; i < 30; i++) await run(['/bin/true']);
      sensor.drain();
      const after = sensor.stats().reader;
      assert.ok(records >= 90, `30 fork+exec+exit triples at least (got ${records})`);
      assert.equal(calls, 1, 'one synchronous drain = one JS call');
      assert.equal(after.batches - before.batches, 1);
      assert.equal(after.records - before.records, records);
    } finally {
      sensor.stop();
    }
  });

  void test('a pinned map of another layout (an older aegisbpf killed, then upgraded) is replaced with a warning; a matching pin is reused', (t) => {
    if (skipUnlessKernel(t)) return;
    const pinDir = `/sys/fs/bpf/aegis-test-stale-${process.pid}`;
    fs.mkdirSync(pinDir, { recursive: true });
    const warnings: string[] = [];
    let sensor: Sensor | undefined;
    try {
      // deny_inode as aegisbpf 0.x had it: 8-byte values (no hit counter); allow_cgroup as it is now, with an entry.
      const mk = (name: string, type: string, key: number, value: number, entries: number): void => {
        const r = spawnSync(
          'bpftool',
          [
            'map',
            'create',
            path.join(pinDir, name),
            'type',
            type,
            'key',
            String(key),
            'value',
            String(value),
            'entries',
            String(entries),
            'name',
            name,
          ],
          { encoding: 'utf8' },
        );
        assert.equal(r.status, 0, `bpftool map create ${name}: ${r.stderr}`);
      };
      mk('deny_inode', 'hash', 16, 8, 65536);
      mk('allow_cgroup', 'hash', 8, 4, 1024);
      const kept = native().openPinnedMap(path.join(pinDir, 'allow_cgroup'));
      const cgKey = Buffer.alloc(8);
      cgKey.writeBigUInt64LE(424242n);
      kept.update(cgKey, Buffer.from([7, 0, 0, 0]));
      kept.close();

      sensor = createSensor({
        native: native(),
        features: sharedFeatures(),
        cgroupAttachPath: null,
        statsIntervalMillis: 0,
        pinDir,
        onEvents: () => undefined,
        log: (level, message) => {
          // Hosts without BPF LSM also warn `BPF program load failed` (the LSM probe program; guide-log-lines.test.ts).
          if (level === 'warn' && message !== 'BPF program load failed') warnings.push(message);
        },
      });
      assert.equal(sensor.maps.denyInode.valueSize, 16);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0] as string, /deny_inode has another layout \(value size 8, expected 16\)/);
      const repinned = native().openPinnedMap(path.join(pinDir, 'deny_inode'));
      assert.equal(repinned.valueSize, 16, 'the new map is pinned in place of the stale one');
      repinned.close();
      assert.deepEqual(
        sensor.maps.allowCgroup.lookup(cgKey),
        Buffer.from([7, 0, 0, 0]),
        'the compatible pin was reused, entry and all',
      );
    } finally {
      sensor?.stop();
      fs.rmSync(pinDir, { recursive: true, force: true });
    }
  });

  void test('map full: a policy larger than deny_path is refused with E2BIG naming map, entries and capacity; nothing applied', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('map-full');
    try {
      const keep = r.tmp.file('keep');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: keep, match: { path: ${keep} }, action: AUDIT }\n`,
        'test',
      );
      const capacity = r.sensor.maps.denyPath.maxEntries;
      const lines = ['version: 1', 'mode: enforce', 'rules:'];
      for (let i = 0; i <= capacity; i++)
        lines.push(`  - { id: r${i}, match: { path: /nonexistent/aegis/${i} }, action: AUDIT }`);
      assert.throws(
        () => r.policy.apply(lines.join('\n'), 'big'),
        (err: unknown) =>
          err instanceof SensorError &&
          err.code === 'AEGIS_ERR_POLICY_MAP_FULL' &&
          err.errno === 7 &&
          err.message.includes('deny_path') &&
          err.message.includes(String(capacity + 1)) &&
          err.message.includes(String(capacity)),
      );
      const show = r.policy.show();
      assert.equal(show.current?.source, 'test', 'the stored policy is still the previous one');
      assert.equal(
        show.kernel?.maps.find((m) => m.map === 'deny_path')?.entries,
        1,
        'kernel map still holds exactly the previous policy',
      );
    } finally {
      await r.close();
    }
  });

  void test('policy rollback restores the previous policy in the kernel', async (t) => {
    if (skipUnlessKernel(t)) return;
    const r = await rig('rollback');
    try {
      const a = r.tmp.file('a');
      const b = r.tmp.file('b');
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: kill-a, match: { path: ${a} }, action: KILL }\n`,
        'first',
      );
      r.policy.apply(
        `version: 1\nmode: enforce\nrules:\n  - { id: kill-b, match: { path: ${b} }, action: KILL }\n`,
        'second',
      );
      assert.equal((await run(['/bin/cat', a])).code, 0, 'a is free under the second policy');
      r.policy.rollback();
      assert.equal(r.policy.show().current?.source, 'first');
      assert.equal((await run(['/bin/cat', a])).signal, 'SIGKILL', 'a is protected again');
      assert.equal((await run(['/bin/cat', b])).code, 0, 'b is free again');
    } finally {
      await r.close();
    }
  });
});
