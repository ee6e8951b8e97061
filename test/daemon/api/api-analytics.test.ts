/**
 * The analytics routes of the REST API (`/anomalies`, `/trends`, `/metrics/realtime`, `/metrics/history`) over real
 * HTTPS against a running daemon with an anomaly processor and the host and trends sources: anomalies planted in a
 * replayed stream come back with their fields, the host sample agrees with /proc read by the test, the history is
 * bounded and stepped, bad parameters get a 400 naming the problem, and the detectors' evictions reach /metrics.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MAX_HOST_SAMPLES } from '../../../src/pipeline/analytics-view';
import { formatTimestampFromMillis } from '../../../src/util/time';
import { apiPortOf, apiRequest, createApiKey } from '../../helpers/api-client';
import type { ApiResponse } from '../../helpers/api-client';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import type { TestDaemon } from '../../helpers/daemon';
import { sampleValue, startDaemon, until } from '../../helpers/daemon';
import { makeTempDir } from '../../helpers/tmp';

const skip = opensslSkipReason();
const MIN = 60_000;

let tmp: { dir: string; cleanup: () => void };
let d: TestDaemon;
let port: number;
let ca: string;
let viewer: string;
/** Wall clock the stream was written against: the planted findings are at known minutes before it. */
let t0: number;
let streamLength: number;

const startedAt = (): number => Date.parse(String(d.logs().find((l) => l.msg === 'aegisbpf started.')?.ts));
const get = (urlPath: string, key: string = viewer): Promise<ApiResponse> => apiRequest(port, ca, urlPath, { key });

function meminfo(name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1]) * 1024;
}

/**
 * 50 minutes of a steady `worker` (3 execs a minute, cron → worker), one first-seen pair (nginx → sh) 10 minutes
 * before t0, after the 30-minute learning period, and a spike of 60 worker execs in the minute 5 minutes before t0.
 */
function writeStream(file: string): number {
  const lines: string[] = [];
  let pid = 20_000;
  const exec = (at: number, parentExe: string, exe: string, eventId: string): void => {
    pid++;
    const id = `${pid}:${pid * 1000}`;
    lines.push(
      JSON.stringify({
        ts: formatTimestampFromMillis(at),
        type: 'exec',
        host: 'web-1',
        pid,
        ppid: 1,
        start_time: pid * 1000,
        exec_id: id,
        trace_id: id,
        cgid: 1,
        cgroup_path: '/system.slice/app.service',
        comm: path.basename(exe),
        exe,
        parent_exe: parentExe,
        args: [path.basename(exe)],
        event_id: eventId,
      }),
    );
  };
  const start = t0 - 55 * MIN;
  for (let minute = 0; minute < 54; minute++) {
    const at = start + minute * MIN;
    if (at === t0 - 10 * MIN) exec(at + 5000, '/usr/sbin/nginx', '/bin/sh', 'planted-rare');
    const n = at === t0 - 5 * MIN ? 60 : 3;
    for (let i = 0; i < n; i++)
      exec(at + Math.floor((i * MIN) / n), '/usr/sbin/cron', '/usr/bin/worker', `w-${minute}-${i}`);
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return lines.length;
}

before(async () => {
  if (skip !== undefined) return;
  tmp = makeTempDir('aegis-api-analytics-');
  const pki = makeTestPki(path.join(tmp.dir, 'pki'));
  ca = pki.caCert;
  viewer = createApiKey(tmp.dir, 'v', 'viewer');
  t0 = Math.floor(Date.now() / MIN) * MIN;
  const stream = path.join(tmp.dir, 'stream.ndjson');
  streamLength = writeStream(stream);
  d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      'sources:',
      `  replay: { type: replay, path: ${stream} }`,
      // 10 ms: the history reaches its bound of 1024 samples within seconds.
      '  host: { type: host, interval: 10ms, top: 0 }',
      '  trends: { type: trends, interval: 200ms, window: 1m, horizon: 1d }',
      'processors:',
      '  - type: anomaly',
      '    name: anomaly',
      '    detectors:',
      `      - { kind: rate, key: [comm], window: 1m, baseline: 30m, threshold: 4, when: 'type == "exec"' }`,
      `      - { kind: rare, key: [parent_exe, exe], learn: 30m, when: 'type == "exec"' }`,
      // Every exec is a new exec_id and nothing is reported for a week: only evictions.
      '  - type: anomaly',
      '    name: churn',
      `    detectors: [{ kind: rare, key: [exec_id], learn: 7d, max_keys: 16, when: 'type == "exec"' }]`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { listen: 127.0.0.1 }',
      'control: { enabled: false }',
      `api: { listen: 127.0.0.1:0, tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey} } }`,
    ].join('\n'),
  );
  port = apiPortOf(d);
});

after(async () => {
  if (skip !== undefined) return;
  await d.stop();
  tmp.cleanup();
});

interface Anomaly {
  ts: string;
  type: string;
  detector: string;
  anomaly_key: string;
  score: number;
  threshold: number;
  baseline?: number;
  trigger_event_id?: string;
  trigger_type?: string;
  exe?: string;
  message?: string;
}

void test(
  '/anomalies returns the planted spike and first-seen pair with their fields; since filters them',
  { skip },
  async () => {
    const body = await until('both planted anomalies', async () => {
      const b = (await get('/api/v1/anomalies?since=1h')).json() as {
        anomalies: Anomaly[];
        capacity: number;
        detectors: Record<string, unknown>;
      };
      return b.anomalies.length >= 2 ? b : undefined;
    });
    assert.deepEqual(
      body.anomalies.map((a) => a.detector),
      ['rare', 'rate'],
      'exactly the two planted findings, oldest first',
    );
    const [rare, rate] = body.anomalies as [Anomaly, Anomaly];
    assert.equal(rare.type, 'anomaly');
    assert.equal(rare.anomaly_key, 'parent_exe=/usr/sbin/nginx exe=/bin/sh');
    assert.equal(rare.trigger_event_id, 'planted-rare');
    assert.equal(rare.trigger_type, 'exec');
    assert.equal(rare.exe, '/bin/sh');
    assert.equal(rare.score, 1);
    assert.equal(Date.parse(rare.ts), t0 - 10 * MIN + 5000);
    assert.equal(rate.anomaly_key, 'comm=worker');
    assert.ok(rate.score >= 4 && rate.threshold === 4, String(rate.score));
    assert.equal(rate.baseline, 3, 'the steady 3 a minute is the centre');
    assert.match(rate.trigger_event_id ?? '', /^w-50-\d+$/, 'triggered in the spike minute (t0 − 5 min)');
    assert.equal(Math.floor((Date.parse(rate.ts) - t0) / MIN), -5);
    assert.equal(typeof rate.message, 'string');
    assert.equal(body.capacity, 1000);
    assert.deepEqual(Object.keys(body.detectors).sort(), ['anomaly', 'churn']);

    // since: a duration ago or RFC 3339; the boundary is inclusive.
    const since = (q: string): Promise<string[]> =>
      get(`/api/v1/anomalies?since=${encodeURIComponent(q)}`).then((r) =>
        (r.json().anomalies as Anomaly[]).map((a) => a.detector),
      );
    assert.deepEqual(await since(formatTimestampFromMillis(t0 - 7 * MIN)), ['rate']);
    assert.deepEqual(await since(rare.ts), ['rare', 'rate']);
    assert.deepEqual(await since('2999-01-01T00:00:00Z'), []);
    assert.deepEqual(await since('1m'), [], 'both are older than a minute');
    assert.deepEqual(((await get('/api/v1/anomalies')).json().anomalies as unknown[]).length, 2, 'no since: all kept');
  },
);

void test('the anomaly detectors’ keys and evictions: in /anomalies and as metrics', { skip }, async () => {
  type Counts = Record<string, Record<string, { keys: number; evicted: number }>>;
  // churn: one key per exec of the stream, at most 16 held, the least recently seen eighth (2) evicted at a time;
  // once the whole stream is read, every exec_id is held or was evicted.
  const detectors = await until('the whole stream through the detectors', async () => {
    const c = (await get('/api/v1/anomalies')).json().detectors as Counts;
    const r = c.churn?.rare;
    return r !== undefined && r.keys + r.evicted === streamLength ? c : undefined;
  });
  const churn = detectors.churn?.rare as { keys: number; evicted: number };
  assert.ok(churn.keys <= 16 && churn.keys >= 14, JSON.stringify(churn));
  assert.ok(churn.evicted > 0);
  assert.equal(detectors.anomaly?.rare?.evicted, 0);
  assert.equal(detectors.anomaly?.rare?.keys, 2, 'cron→worker and nginx→sh');
  assert.equal(detectors.anomaly?.rate?.keys, 2, 'comm=worker and comm=sh');
  const text = (await d.get('/metrics')).body;
  assert.equal(
    sampleValue(text, 'aegisbpf_anomaly_keys_evicted_total', { processor: 'churn', detector: 'rare' }),
    churn.evicted,
  );
  assert.equal(sampleValue(text, 'aegisbpf_anomaly_keys', { processor: 'churn', detector: 'rare' }), churn.keys);
  assert.equal(sampleValue(text, 'aegisbpf_anomaly_keys_evicted_total', { processor: 'anomaly', detector: 'rate' }), 0);
});

interface HostPoint {
  ts: string;
  interval_ms: number;
  cpu_percent: number;
  load1: number;
  mem_total_bytes: number;
  mem_available_bytes: number;
  disk_read_bytes: number;
  disk_write_bytes: number;
  net_rx_bytes: number;
  net_tx_bytes: number;
}

void test(
  '/metrics/realtime: the last host sample agrees with /proc; the pipeline rates per source',
  { skip },
  async () => {
    // MemAvailable read just before and after the request that returns the sample (other work shares this host).
    let availBefore = 0;
    let availAfter = 0;
    const body = await until('a host sample and a rate', async () => {
      availBefore = meminfo('MemAvailable');
      const r = await get('/api/v1/metrics/realtime');
      availAfter = meminfo('MemAvailable');
      const b = r.json() as {
        host: HostPoint | null;
        pipeline: {
          events_per_second: number;
          window_seconds: number;
          in_flight: number;
          sources: Record<string, { events_total: number; events_per_second: number }>;
        };
      };
      return b.host !== null && (b.pipeline.sources.host?.events_per_second ?? 0) > 0 ? b : undefined;
    });
    const h = body.host as HostPoint;
    const age = Date.now() - Date.parse(h.ts);
    assert.ok(age >= 0 && age < 2000, `the last sample is ${age} ms old`);
    assert.ok(h.interval_ms >= 5 && h.interval_ms < 1000, String(h.interval_ms));
    assert.equal(h.mem_total_bytes, meminfo('MemTotal'));
    const [lo, hi] = [Math.min(availBefore, availAfter), Math.max(availBefore, availAfter)];
    assert.ok(
      h.mem_available_bytes >= lo * 0.95 && h.mem_available_bytes <= hi * 1.05,
      `${h.mem_available_bytes} within ${lo}..${hi} ± 5 %`,
    );
    const load = Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    assert.ok(Math.abs(h.load1 - load) <= 1 + load * 0.5, `${h.load1} vs ${load}`);
    assert.ok(h.cpu_percent >= 0 && h.cpu_percent <= 100, String(h.cpu_percent));
    for (const f of ['disk_read_bytes', 'disk_write_bytes', 'net_rx_bytes', 'net_tx_bytes'] as const)
      assert.ok(Number.isInteger(h[f]) && h[f] >= 0, `${f} ${h[f]}`);
    const p = body.pipeline;
    // The configured sources, and the API's own audit trail (docs/api.md).
    assert.deepEqual(Object.keys(p.sources).sort(), ['audit', 'host', 'replay', 'trends']);
    assert.equal(p.sources.replay?.events_total, streamLength, 'every line of the stream was read');
    // At most 100 samples a second at a 10 ms interval (fewer under load), give or take one sample at the edges of
    // a window that may be just over a second long yet.
    const hostRate = p.sources.host?.events_per_second ?? 0;
    assert.ok(hostRate > 5 && hostRate <= 130, String(hostRate));
    // The total is read a moment later than the per-source rates: equal within the jitter of that moment.
    assert.ok(p.events_per_second >= hostRate * 0.9, `${p.events_per_second} ≥ ${hostRate}`);
    assert.equal(p.window_seconds, 10);
    assert.ok(Number.isInteger(p.in_flight) && p.in_flight >= 0);
  },
);

void test('/trends: the event-volume forecast of the trends source', { skip }, async () => {
  // A forecast made after the replay's burst (its first second), when the host source is the only volume.
  const started = startedAt();
  const t = await until('an events forecast', async () => {
    const list = (await get('/api/v1/trends')).json().trends as Record<string, unknown>[];
    return list.find((x) => x.subject === 'events' && Date.parse(x.ts as string) > started + 2000);
  });
  assert.ok((t.current as number) > 0, String(t.current));
  assert.equal(typeof t.slope_per_s, 'number');
  assert.equal(t.capacity, null, 'no events_limit configured');
  assert.equal(t.horizon_seconds, 86_400);
  assert.ok(Date.now() - Date.parse(t.ts as string) < 5000);
  // The volume is the host source's samples: at most one per 10 ms.
  assert.ok((t.current as number) < 150, String(t.current));
});

void test('/metrics/history: bounded to the last 1024 samples, stepped, since', { skip }, async () => {
  const history = async (q: string): Promise<{ points: HostPoint[]; capacity: number; step_seconds: number | null }> =>
    (await get(`/api/v1/metrics/history${q}`)).json() as {
      points: HostPoint[];
      capacity: number;
      step_seconds: number | null;
    };
  await until(
    'the history at its bound',
    async () => {
      const h = await history('');
      return h.points.length >= MAX_HOST_SAMPLES ? true : undefined;
    },
    60_000,
  );
  // Some more samples, so that the oldest ones have been dropped.
  await new Promise((r) => setTimeout(r, 1500));
  const full = await history('');
  assert.equal(full.capacity, MAX_HOST_SAMPLES);
  assert.equal(full.step_seconds, null);
  assert.equal(full.points.length, MAX_HOST_SAMPLES, 'never more than the bound');
  const times = full.points.map((x) => Date.parse(x.ts));
  assert.ok(
    times.every((t, i) => i === 0 || t > (times[i - 1] as number)),
    'oldest first',
  );
  // The samples before the bound were dropped: the oldest kept is newer than the daemon's first sample.
  assert.ok((times[0] as number) > startedAt() + 1000, 'the oldest samples were dropped');
  const memTotal = meminfo('MemTotal');
  assert.ok(
    full.points.every((x) => x.mem_total_bytes === memTotal && x.interval_ms >= 5),
    'every point is a host sample',
  );
  assert.ok(!('top_cpu' in (full.points[0] as object)) && !('pid' in (full.points[0] as object)), 'figures only');
  // step=1s: one point per second, each the last sample of its second (compared with the full list, bar the
  // current second which may have grown since).
  const stepped = await history('?step=1s');
  assert.equal(stepped.step_seconds, 1);
  const seconds = stepped.points.map((x) => Math.floor(Date.parse(x.ts) / 1000));
  assert.ok(
    seconds.every((s, i) => i === 0 || s > (seconds[i - 1] as number)),
    'one point per second',
  );
  const lastOfSecond = new Map<number, string>();
  for (const x of full.points) lastOfSecond.set(Math.floor(Date.parse(x.ts) / 1000), x.ts);
  // As many points as seconds with a sample; a few more or fewer at the edges, which moved between the two calls.
  assert.ok(
    Math.abs(stepped.points.length - lastOfSecond.size) <= 2,
    `${stepped.points.length} points for ${lastOfSecond.size} seconds`,
  );
  const lastFull = Math.floor((times[times.length - 1] as number) / 1000);
  let compared = 0;
  for (const x of stepped.points) {
    const s = Math.floor(Date.parse(x.ts) / 1000);
    if (s >= lastFull || !lastOfSecond.has(s)) continue;
    assert.equal(x.ts, lastOfSecond.get(s), `second ${s}`);
    compared++;
  }
  assert.ok(compared >= lastOfSecond.size - 3 && compared >= 8, `${compared} seconds compared`);
  assert.ok((await history('?step=1d')).points.length <= 2, 'a day step: one point (two at midnight)');

  // since: only the samples at or after it.
  const from = Date.now() - 2000;
  const recent = await history(`?since=${encodeURIComponent(formatTimestampFromMillis(from))}`);
  assert.ok(recent.points.length > 0 && recent.points.length < MAX_HOST_SAMPLES);
  assert.ok(recent.points.every((x) => Date.parse(x.ts) >= from));
  assert.deepEqual((await history('?since=2999-01-01T00:00:00Z')).points, []);
});

void test(
  'the OpenAPI document publishes the routes with their permission and the validated parameters',
  { skip },
  async () => {
    const doc = (await apiRequest(port, ca, '/api/v1/openapi.json')).json() as {
      paths: Record<
        string,
        { get: { 'x-aegis-permission': string; parameters?: { name: string; schema: unknown }[] } }
      >;
    };
    const params = (p: string): Record<string, unknown> =>
      Object.fromEntries((doc.paths[p]?.get.parameters ?? []).map((x) => [x.name, x.schema]));
    for (const p of ['/api/v1/anomalies', '/api/v1/trends', '/api/v1/metrics/realtime', '/api/v1/metrics/history'])
      assert.equal(doc.paths[p]?.get['x-aegis-permission'], 'analytics:read', p);
    assert.deepEqual(Object.keys(params('/api/v1/anomalies')), ['since']);
    assert.deepEqual(Object.keys(params('/api/v1/metrics/history')), ['since', 'step']);
    assert.equal((params('/api/v1/metrics/history').step as { pattern: string }).pattern, '^[1-9][0-9]{0,5}[smhd]$');
    assert.deepEqual(params('/api/v1/trends'), {});
  },
);

void test('bad parameters: 400 naming the parameter and the problem, the one error shape', { skip }, async () => {
  const cases: [string, RegExp][] = [
    ['/api/v1/anomalies?since=yesterday', /^since: "yesterday" is neither RFC 3339 nor a duration/],
    ['/api/v1/anomalies?since=2026-13-45T99:00:00Z', /^since: /],
    ['/api/v1/anomalies?limit=5', /^query: unknown field "limit"/],
    ['/api/v1/anomalies?since=1h&since=2h', /^query parameter since: given more than once/],
    ['/api/v1/trends?subject=events', /^query: unknown field "subject"/],
    ['/api/v1/metrics/realtime?x=1', /^query: unknown field "x"/],
    ['/api/v1/metrics/history?step=0s', /^query\.step: must match pattern/],
    ['/api/v1/metrics/history?step=500ms', /^query\.step: must match pattern/],
    ['/api/v1/metrics/history?step=10', /^query\.step: must match pattern/],
    ['/api/v1/metrics/history?step=2d', /^step: "2d" is outside 1s to 1d/],
    ['/api/v1/metrics/history?step=1s&since=soon', /^since: "soon"/],
  ];
  for (const [url, message] of cases) {
    const r = await get(url);
    assert.equal(r.status, 400, `${url}: ${r.body}`);
    const e = r.json().error as { code: string; message: string };
    assert.equal(e.code, 'AEGIS_ERR_API_BAD_REQUEST', url);
    assert.match(e.message, message, url);
  }
  // The same routes without a key: 401, never the data.
  assert.equal((await apiRequest(port, ca, '/api/v1/anomalies')).status, 401);
});
