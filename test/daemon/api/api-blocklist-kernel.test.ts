/**
 * The blocklist round trip on the real kernel: an entry added over the API reaches the running sensor's maps and
 * acts on a test process within one second (a path entry with KILL: tracepoint mode + bpf_send_signal; an address
 * entry with BLOCK: the cgroup connect hook, inside a test-owned cgroup), a deleted entry stops acting, and a
 * restarted daemon enforces what the policy store kept. Skipped with the reason where BPF cannot run.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { apiPortOf, apiRequest, createApiKey } from '../../helpers/api-client';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import type { TestDaemon } from '../../helpers/daemon';
import { startDaemon, until } from '../../helpers/daemon';
import { createTestCgroup, run, sharedFeatures, skipUnlessKernel, tempDir } from '../../sensor/helpers';

void test('a blocklist entry added over the API acts on a test process within one second; delete stops it; a restart keeps it', async (t) => {
  if (skipUnlessKernel(t)) return;
  const skipTls = opensslSkipReason();
  if (skipTls !== undefined) {
    t.skip(skipTls);
    return;
  }
  const features = sharedFeatures();
  if (!features.capabilities.signals) {
    t.skip(`bpf_send_signal unavailable: ${features.sendSignal.detail}`);
    return;
  }
  const tmp = tempDir('aegis-api-kernel');
  const pki = makeTestPki(path.join(tmp.dir, 'pki'));
  const pinDir = `/sys/fs/bpf/aegis-test-api-${process.pid}`;
  const policyDir = path.join(tmp.dir, 'policy');
  const netHooks = features.capabilities.networkBlock;
  const cg = netHooks ? createTestCgroup('api') : undefined;
  const key = createApiKey(tmp.dir, 'op', 'operator');
  const config = [
    `data_dir: ${tmp.dir}`,
    `sources: { kernel: { type: sensor, ${cg !== undefined ? `network_hooks: true, cgroup_path: ${cg.path}` : 'network_hooks: false'}, pin_dir: ${pinDir}, policy_dir: ${policyDir} } }`,
    `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never, batch: { timeout_ms: 10 } } }`,
    'metrics: { listen: 127.0.0.1, port: 0 }',
    `api: { listen: 127.0.0.1:0, tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey} } }`,
  ].join('\n');
  const server = net.createServer((s) => s.on('error', () => undefined).end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tcpPort = (server.address() as net.AddressInfo).port;
  const connectScript = `require('net').connect(${tcpPort}, '127.0.0.1').on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
  let d: TestDaemon | undefined;
  const ready = async (daemon: TestDaemon): Promise<void> => {
    await until('/ready with the sensor attached', async () =>
      (await daemon.get('/ready')).status === 200 ? true : undefined,
    );
  };
  try {
    d = await startDaemon(tmp.dir, config);
    await ready(d);
    const port = apiPortOf(d);
    const call = (p: string, req: Parameters<typeof apiRequest>[3] = {}): ReturnType<typeof apiRequest> =>
      apiRequest(port, pki.caCert, p, { key, ...req });
    const target = tmp.file('forbidden');
    assert.equal((await run(['/bin/cat', target])).code, 0, 'not blocked before');

    const t0 = performance.now();
    const add = await call('/api/v1/blocklist', { method: 'POST', body: { path: target, action: 'KILL' } });
    assert.equal(add.status, 201, add.body);
    assert.equal(add.json().live, true, 'written into the running sensor’s maps');
    const victim = await run(['/bin/cat', target]);
    const elapsed = performance.now() - t0;
    assert.equal(victim.signal, 'SIGKILL', `cat exited with ${victim.code} / ${victim.signal}`);
    assert.ok(elapsed < 1000, `blocked ${elapsed.toFixed(0)} ms after the request was sent`);

    if (cg !== undefined) {
      assert.equal((await run([process.execPath, '-e', connectScript], { cgroup: cg })).stdout.trim(), 'CONNECTED');
      const addNet = await call('/api/v1/blocklist', {
        method: 'POST',
        body: { address: '127.0.0.1', port: tcpPort, protocol: 'tcp', action: 'BLOCK', direction: 'out' },
      });
      assert.equal(addNet.status, 201, addNet.body);
      assert.equal((await run([process.execPath, '-e', connectScript], { cgroup: cg })).stdout.trim(), 'EPERM');
    }

    const del = await call(`/api/v1/blocklist/${encodeURIComponent(target)}`, { method: 'DELETE' });
    assert.equal(del.status, 200, del.body);
    assert.equal((await run(['/bin/cat', target])).code, 0, 'deleted: no longer enforced');

    // Restart: the store keeps the remaining entries and the sensor enforces them again at start.
    await d.stop();
    d = await startDaemon(tmp.dir, config);
    await ready(d);
    const after = (await apiRequest(apiPortOf(d), pki.caCert, '/api/v1/blocklist', { key })).json().entries as {
      id: string;
    }[];
    if (cg !== undefined) {
      assert.deepEqual(
        after.map((e) => e.id),
        [`net:out:127.0.0.1:${tcpPort}/tcp`],
      );
      assert.equal(
        (await run([process.execPath, '-e', connectScript], { cgroup: cg })).stdout.trim(),
        'EPERM',
        'kept across the restart',
      );
    } else assert.deepEqual(after, []);
  } finally {
    await d?.stop();
    server.close();
    cg?.remove();
    fs.rmSync(pinDir, { recursive: true, force: true }); // the sensor unpins its maps, the directory stays
    tmp.remove();
  }
});
