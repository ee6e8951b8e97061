/**
 * TLS test certificates, generated at test time with the openssl CLI (never committed): a CA, a server certificate
 * for localhost / 127.0.0.1 / siem.example.net, a client certificate, and the broken variants the TLS tests need
 * (another CA, a certificate for the wrong host, an expired one). EC P-256 keys: fast to make.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  /** A CA that signed nothing the receiver uses ("untrusted CA" for the client). */
  readonly otherCaCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Signed by the CA, but for wrong.example only. */
  readonly wrongHostCert: string;
  readonly wrongHostKey: string;
  /** Signed by the CA for localhost, valid 2020-01-01 … 2020-01-02. */
  readonly expiredCert: string;
  readonly expiredKey: string;
  /** Signed by the CA for DNS:localhost only (no IP SAN): connecting to 127.0.0.1 is a host name mismatch. */
  readonly localhostOnlyCert: string;
  readonly localhostOnlyKey: string;
}

export function opensslSkipReason(): string | undefined {
  return spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0
    ? undefined
    : 'the openssl CLI is not installed';
}

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '3650',
    '-subj',
    `/CN=aegisbpf test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  cn: string,
  san: string,
  usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth',
): void {
  openssl(dir, ['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=${san}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '825',
    '-extfile',
    `${name}.ext`,
  ]);
}

function makeExpired(dir: string): void {
  // `openssl x509` cannot set dates in the past; `openssl ca` can, given a minimal CA database.
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
  fs.writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir',
      'default_md = sha256',
      'policy = any',
      'copy_extensions = copy',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '[ext]',
      'subjectAltName = DNS:localhost,IP:127.0.0.1',
      'extendedKeyUsage = serverAuth',
      'basicConstraints = CA:FALSE',
      '',
    ].join('\n'),
  );
  openssl(dir, ['req', '-new', ...EC, '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=localhost']);
  openssl(dir, [
    'ca',
    '-batch',
    '-config',
    'ca.cnf',
    '-cert',
    'ca.pem',
    '-keyfile',
    'ca.key',
    '-in',
    'expired.csr',
    '-out',
    'expired.pem',
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200102000000Z',
    '-extensions',
    'ext',
    '-notext',
  ]);
}

/** Generate the whole set in `dir` (created if missing). Takes well under a second. */
export function makeTestPki(dir: string): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(
    dir,
    'server',
    'ca',
    'localhost',
    'DNS:localhost,IP:127.0.0.1,DNS:siem.example.net',
    'serverAuth,clientAuth',
  );
  makeLeaf(dir, 'client', 'ca', 'agent.example.net', 'DNS:agent.example.net', 'clientAuth');
  makeLeaf(dir, 'wrong-host', 'ca', 'wrong.example', 'DNS:wrong.example', 'serverAuth');
  makeLeaf(dir, 'localhost-only', 'ca', 'localhost', 'DNS:localhost', 'serverAuth');
  makeExpired(dir);
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.key')) fs.chmodSync(path.join(dir, f), 0o600);
  const p = (f: string): string => path.join(dir, f);
  return {
    dir,
    caCert: p('ca.pem'),
    otherCaCert: p('other-ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    wrongHostCert: p('wrong-host.pem'),
    wrongHostKey: p('wrong-host.key'),
    expiredCert: p('expired.pem'),
    expiredKey: p('expired.key'),
    localhostOnlyCert: p('localhost-only.pem'),
    localhostOnlyKey: p('localhost-only.key'),
  };
}
