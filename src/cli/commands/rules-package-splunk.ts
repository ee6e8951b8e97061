/**
 * `aegisbpf rules package splunk [--out DIR]`: the Splunk apps in rules/ as the .tgz files users install (Apps →
 * Install app from file, `splunk install app FILE`) and that Splunk AppInspect checks:
 *   TA-aegisbpf-<version>.tgz             rules/splunk/             knowledge objects; search heads and indexers
 *   TA-aegisbpf-hec-inputs-<version>.tgz  rules/splunk-hec-inputs/  the HEC token input; Splunk Enterprise only
 * Reproducible: entries sorted, owner 0, mtime 0, modes 0644/0755, gzip without a timestamp. Test data (samples/)
 * stays out. A POSIX ustar archive is written here (a few dozen lines) rather than depending on a tar package.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { AegisError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { packagePath } from '../../util/paths';
import { parseCommandArgs } from '../args';
import type { CommandIo } from '../command';
import { aegisVersion } from '../version';

export const PACKAGE_SPLUNK_USAGE = `Usage: aegisbpf rules package splunk [--out DIR]

Write the Splunk apps as installable, reproducible .tgz files (default DIR: dist/splunk):
  TA-aegisbpf-<version>.tgz             rules/splunk: sourcetype, CIM mapping, eventtypes, detections
                                        (search heads, indexers, heavy forwarders; Splunk Cloud too)
  TA-aegisbpf-hec-inputs-<version>.tgz  rules/splunk-hec-inputs: the HEC token input (Splunk Enterprise only)
Prints the paths written. See docs/siem/splunk.md.`;

const APPS: readonly { readonly dir: string; readonly name: string }[] = [
  { dir: 'splunk', name: 'TA-aegisbpf' },
  { dir: 'splunk-hec-inputs', name: 'TA-aegisbpf-hec-inputs' },
];

/** Files of an app, relative and sorted; test data is not part of the app. */
function appFiles(root: string, rel = ''): string[] {
  return fs
    .readdirSync(path.join(root, rel), { withFileTypes: true })
    .flatMap((d) => {
      const r = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) return r === 'samples' ? [] : appFiles(root, r);
      return [r];
    })
    .sort();
}

/** The [id] version of default/app.conf. */
function appVersion(root: string): string | undefined {
  let inId = false;
  for (const line of fs.readFileSync(path.join(root, 'default', 'app.conf'), 'utf8').split('\n')) {
    const t = line.trim();
    if (t.startsWith('[')) inId = t === '[id]';
    else if (inId) {
      const m = /^version\s*=\s*(\S+)$/.exec(t);
      if (m !== null) return m[1];
    }
  }
  return undefined;
}

/** One 512-byte ustar header (POSIX.1-1988): a regular file ('0') or a directory ('5'), owner 0, mtime 0. */
function ustarHeader(name: string, size: number, type: '0' | '5'): Buffer {
  if (Buffer.byteLength(name) > 100)
    throw new AegisError('AEGIS_ERR_USAGE', `rules package: path too long for ustar: ${name}`);
  const h = Buffer.alloc(512);
  const put = (offset: number, length: number, value: string): void => void h.write(value, offset, length, 'utf8');
  const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0') + '\0';
  put(0, 100, name);
  put(100, 8, octal(type === '5' ? 0o755 : 0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(size, 12));
  put(136, 12, octal(0, 12));
  put(148, 8, '        '); // checksum field counts as spaces while summing
  put(156, 1, type);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** A gzipped ustar archive of `files` (relative to `root`) under the top directory `top`. */
export function tarGz(root: string, top: string, files: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>([top]);
  for (const f of files) {
    const segs = `${top}/${f}`.split('/');
    for (let i = 1; i < segs.length; i++) dirs.add(segs.slice(0, i).join('/'));
  }
  const entries = [
    ...[...dirs].map((d) => ({ name: `${d}/`, file: undefined })),
    ...files.map((f) => ({ name: `${top}/${f}`, file: f })),
  ];
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.file === undefined) {
      parts.push(ustarHeader(e.name, 0, '5'));
      continue;
    }
    const data = fs.readFileSync(path.join(root, e.file));
    parts.push(ustarHeader(e.name, data.length, '0'), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts), { level: 9 });
}

export function packageSplunk(argv: readonly string[], io: CommandIo): number {
  const { values } = parseCommandArgs(
    'rules package splunk',
    argv,
    { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    0,
  );
  if (values.help === true) {
    io.stdout.write(PACKAGE_SPLUNK_USAGE + '\n');
    return EXIT.OK;
  }
  const out = path.resolve(values.out ?? 'dist/splunk');
  fs.mkdirSync(out, { recursive: true });
  for (const app of APPS) {
    const root = packagePath('rules', app.dir);
    const version = appVersion(root);
    if (version !== aegisVersion())
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `rules package splunk: rules/${app.dir}/default/app.conf [id] version is ${version ?? 'missing'}, aegisbpf is ${aegisVersion()}`,
      );
    const file = path.join(out, `${app.name}-${version}.tgz`);
    fs.writeFileSync(file, tarGz(root, app.name, appFiles(root)));
    io.stdout.write(file + '\n');
  }
  return EXIT.OK;
}
