/** HTTPS requests to a daemon's REST API (test/daemon/api/), with a key, a body and optional client certificate. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { runCli } from './cli';
import type { TestDaemon } from './daemon';

export interface ApiResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  json(): Record<string, unknown>;
}

export interface ApiRequest {
  readonly method?: string;
  readonly key?: string;
  /** JSON-encoded unless a string (sent as is). */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Client certificate and key files (mTLS). */
  readonly cert?: string;
  readonly certKey?: string;
}

export function apiRequest(port: number, caFile: string, urlPath: string, req: ApiRequest = {}): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload =
      req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const r = https.request(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        method: req.method ?? 'GET',
        ca: fs.readFileSync(caFile),
        servername: 'localhost',
        agent: false,
        timeout: 10_000,
        ...(req.cert !== undefined ? { cert: fs.readFileSync(req.cert) } : {}),
        ...(req.certKey !== undefined ? { key: fs.readFileSync(req.certKey) } : {}),
        headers: {
          ...(req.key !== undefined ? { authorization: `Bearer ${req.key}` } : {}),
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
          ...req.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            headers: res.headers,
            json: () => JSON.parse(body) as Record<string, unknown>,
          }),
        );
      },
    );
    r.on('timeout', () => r.destroy(new Error(`${req.method ?? 'GET'} ${urlPath} timed out`)));
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
}

/** The API port the daemon logged in its `aegisbpf started.` line. */
export function apiPortOf(d: TestDaemon): number {
  const line = d.logs().find((l) => l.msg === 'aegisbpf started.');
  const port = line?.apiPort;
  if (typeof port !== 'number') throw new Error('the daemon did not log an apiPort');
  return port;
}

/**
 * `aegisbpf auth create-key` into `<dir>/api-keys.json` (audit records in `<dir>/audit.log`, the daemon's defaults when
 * its data_dir is `dir`): the key, shown once. Fails the test when the command fails.
 */
export function createApiKey(dir: string, name: string, role: string): string {
  const r = runCli([
    'auth',
    'create-key',
    '--name',
    name,
    '--role',
    role,
    '--keys-file',
    path.join(dir, 'api-keys.json'),
    '--audit-file',
    path.join(dir, 'audit.log'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}
