/**
 * A gzip-compressed tar archive (POSIX ustar) of in-memory files, for `aegisbpf debug bundle`: a handful of small
 * text files, so no streaming and no dependency. Names are ASCII, at most 100 bytes (the ustar name field).
 */
import zlib from 'node:zlib';

export interface TarEntry {
  readonly name: string;
  readonly content: string | Buffer;
  /** Permission bits (default 0o600: a bundle holds configuration and logs). */
  readonly mode?: number;
}

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as ustar numeric fields are written.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mode: number, mtimeSeconds: number): Buffer {
  if (!/^[\x20-\x7e]+$/.test(name) || Buffer.byteLength(name) > 100) throw new Error(`tar: bad entry name ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 'ascii');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtimeSeconds, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum is computed with this field as spaces
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\x0000', 257, 'binary');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

export function tarGzip(entries: readonly TarEntry[], mtime: Date = new Date()): Buffer {
  const parts: Buffer[] = [];
  const mtimeSeconds = Math.floor(mtime.getTime() / 1000);
  for (const e of entries) {
    const data = typeof e.content === 'string' ? Buffer.from(e.content, 'utf8') : e.content;
    parts.push(header(e.name, data.length, e.mode ?? 0o600, mtimeSeconds), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return zlib.gzipSync(Buffer.concat(parts));
}
