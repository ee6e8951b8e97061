/** Pure parts of the syslog sink: configuration, framing, RELP frames, failure descriptions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigText } from '../../../src/config/load';
import { checkSyslogConfig, parseSyslogConfig } from '../../../src/sinks/syslog/config';
import {
  escapeNewlines,
  frameMessages,
  frameOne,
  truncateMessage,
  utf8Boundary,
} from '../../../src/sinks/syslog/framing';
import {
  buildFrame,
  parseOffers,
  parseRelpFrames,
  parseRsp,
  RelpProtocolError,
} from '../../../src/sinks/syslog/relp-session';
import { describeSyslogFailure } from '../../../src/sinks/syslog/retry-policy';
import { describeTlsError } from '../../../src/sinks/syslog/tls';
import { parseOctetCounted } from '../../helpers/octet-frames';

const config = (sink: string): readonly string[] =>
  validateConfigText(`sources: { s: { type: replay, path: samples/events.ndjson } }\nsinks: { out: ${sink} }\n`, {
    TOKEN: 'x',
  }).problems;

test('syslog config: defaults per transport (tls on 6514 by default, udp 514 with 2048-byte messages, relp 2514 window 128)', () => {
  const tls = parseSyslogConfig({ host: 'siem' });
  assert.deepEqual(
    [tls.transport, tls.port, tls.framing, tls.maxMessageBytes, tls.tls.minVersion],
    ['tls', 6514, 'octet_counting', 0, 'TLSv1.2'],
  );
  const udp = parseSyslogConfig({ host: 'siem', transport: 'udp' });
  assert.deepEqual([udp.port, udp.maxMessageBytes], [514, 2048]);
  const relp = parseSyslogConfig({ host: 'siem', transport: 'relp' });
  assert.deepEqual([relp.port, relp.relpWindow, relp.relpTls], [2514, 128, false]);
  assert.equal(parseSyslogConfig({ host: 'siem', transport: 'tcp', framing: 'lf' }).framing, 'lf');
  assert.deepEqual(config('{ type: syslog, host: siem.example.net }'), []);
  assert.deepEqual(
    config(
      '{ type: syslog, transport: relp, host: h, relp: { window: 512, tls: true }, tls: { ca_file: /etc/ca.pem, cert_file: /c, key_file: /k }, tls_key_passphrase_file: /run/secrets/p }',
    ),
    [],
  );
  assert.deepEqual(config('{ type: syslog, transport: tcp, host: h, format: { type: rfc3164, facility: auth } }'), []);
});

test('syslog config: problems name the key (no I/O)', () => {
  const cases: [string, RegExp][] = [
    ['{ type: syslog }', /sinks\.out\.host: is required/],
    ['{ type: syslog, host: h, transport: tls, framing: lf }', /framing: lf is only for transport tcp/],
    ['{ type: syslog, host: h, transport: udp, max_message_bytes: 70000 }', /max_message_bytes: must be 1–65507/],
    ['{ type: syslog, host: h, max_message_bytes: 100 }', /max_message_bytes: must be at least 480/],
    ['{ type: syslog, host: h, transport: tcp, tls: { ca_file: /x } }', /tls: transport tcp does not use TLS/],
    ['{ type: syslog, host: h, transport: relp, tls: { ca_file: /x } }', /tls: set relp.tls: true/],
    ['{ type: syslog, host: h, tls: { cert_file: /c } }', /cert_file and key_file go together/],
    ['{ type: syslog, host: h, tls: { ca_file: /etc/ } }', /tls\.ca_file: must name a file/],
    ['{ type: syslog, host: h, transport: udp, relp: { window: 3 } }', /relp: only for transport relp/],
    ['{ type: syslog, host: h, format: json }', /format/],
    ['{ type: syslog, host: h, tls: { min_version: TLSv1.1 } }', /min_version/],
    ['{ type: syslog, host: h, tls: { verify: false } }', /unknown key/],
    [
      '{ type: syslog, host: h, tls_key_passphrase: x, tls_key_passphrase_file: /y, tls: { cert_file: /c, key_file: /k } }',
      /either tls_key_passphrase or tls_key_passphrase_file/,
    ],
  ];
  for (const [sink, want] of cases) {
    const problems = config(sink);
    assert.ok(
      problems.some((p) => want.test(p)),
      `${sink}: ${JSON.stringify(problems)}`,
    );
  }
  assert.deepEqual(checkSyslogConfig({ host: 'h', transport: 'tcp', framing: 'lf' }), []);
});

test('octet counting: MSG-LEN is the byte length of the message (UTF-8), no trailer; transparent for LF and NUL', () => {
  assert.equal(frameOne('<13>1 - - - - - - a', 'octet_counting').toString(), '19 <13>1 - - - - - - a');
  const msg = '<13>1 - - - - - [x@1 v="a\nb"] ü☃😀\u0000';
  const framed = frameOne(msg, 'octet_counting');
  const sp = framed.indexOf(0x20);
  assert.equal(Number(framed.subarray(0, sp).toString()), Buffer.byteLength(msg));
  assert.equal(framed.subarray(sp + 1).toString(), msg);
});

test('LF framing: one LF after each message; embedded LF sent as \\n (lossy by design)', () => {
  assert.equal(frameOne('a\nb\n', 'lf').toString(), 'a\\nb\\n\n');
  assert.equal(escapeNewlines('no newline'), 'no newline');
  const chunks = frameMessages(['x', 'y\nz'], 'lf', 0, () => undefined);
  assert.equal(Buffer.concat(chunks.map((c) => c.data)).toString(), 'x\ny\\nz\n');
});

test('frameMessages: chunks of whole frames cover the batch in order; truncation is counted per message', () => {
  const messages = Array.from({ length: 2000 }, (_, i) => `<13>1 - h a ${i} - - ${'x'.repeat(300 + (i % 7))}`);
  let truncated = 0;
  const chunks = frameMessages(messages, 'octet_counting', 303 + 20, () => truncated++);
  assert.ok(chunks.length > 1, 'large batches are split into several writes');
  assert.equal(chunks[0]!.first, 0);
  assert.equal(chunks[chunks.length - 1]!.end, messages.length);
  for (let k = 1; k < chunks.length; k++) assert.equal(chunks[k]!.first, chunks[k - 1]!.end);
  // Re-parse the octet-counted stream.
  const out = parseOctetCounted(Buffer.concat(chunks.map((c) => c.data)));
  assert.equal(out.length, messages.length);
  assert.equal(truncated, messages.filter((m) => Buffer.byteLength(m) > 323).length);
  for (let i = 0; i < messages.length; i++) assert.equal(out[i], messages[i]!.slice(0, 323));
});

test('frameMessages: sizes measured by the sink core are used as they are, and a wrong size never reaches the wire', () => {
  const texts = Array.from({ length: 500 }, (_, i) => `<13>1 - h a ${i} - - ü☃😀 ${'y'.repeat(i % 300)}\n`);
  const plain = (style: 'octet_counting' | 'lf'): Buffer =>
    Buffer.concat(frameMessages(texts, style, 0, () => undefined).map((c) => c.data));
  for (const style of ['octet_counting', 'lf'] as const) {
    const sized = texts.map((data) => ({ data, bytes: Buffer.byteLength(data) }));
    assert.deepEqual(
      Buffer.concat(frameMessages(sized, style, 0, () => undefined).map((c) => c.data)),
      plain(style),
      style,
    );
    // One size off by one either way (a custom size function that disagrees with UTF-8): the frames stay exact.
    for (const delta of [-1, 1]) {
      const wrong = sized.map((m, i) => (i === 123 ? { ...m, bytes: m.bytes + delta } : m));
      const chunks = frameMessages(wrong, style, 0, () => undefined);
      assert.deepEqual(Buffer.concat(chunks.map((c) => c.data)), plain(style), `${style} ${delta}`);
      assert.equal(chunks[chunks.length - 1]!.end, texts.length);
    }
  }
  // Truncation with sizes given: cut at the limit on a character boundary, counted once per message.
  let truncated = 0;
  const cut = frameMessages(
    texts.map((data) => ({ data, bytes: Buffer.byteLength(data) })),
    'octet_counting',
    100,
    () => truncated++,
  );
  assert.deepEqual(
    Buffer.concat(cut.map((c) => c.data)),
    Buffer.concat(frameMessages(texts, 'octet_counting', 100, () => undefined).map((c) => c.data)),
  );
  assert.equal(truncated, texts.filter((t) => Buffer.byteLength(t) > 100).length);
});

test('truncation cuts at the end on a UTF-8 character boundary', () => {
  const s = 'ab' + '😀'.repeat(10); // 2 + 40 bytes
  for (let max = 2; max <= 42; max++) {
    const { bytes, truncated } = truncateMessage(s, max);
    assert.equal(truncated, max < 42);
    assert.ok(bytes.length <= max && bytes.length > max - 4);
    assert.equal(Buffer.from(bytes.toString('utf8')).length, bytes.length, `max ${max}: valid UTF-8`);
  }
  assert.equal(utf8Boundary(Buffer.from('abc'), 10), 3);
  assert.equal(truncateMessage('x'.repeat(10), 0).truncated, false, '0 = no limit');
});

test('RELP frames: build and parse, partial input kept for the next read, malformed input refused', () => {
  assert.equal(buildFrame(1, 'open', 'relp_version=0').toString(), '1 open 14 relp_version=0\n');
  assert.equal(buildFrame(7, 'close', '').toString(), '7 close 0\n');
  assert.equal(buildFrame(2, 'syslog', 'ü').toString(), '2 syslog 2 ü\n', 'DATALEN counts bytes');
  const wire = Buffer.from(
    '1 rsp 6 200 OK\n2 rsp 30 500 command disabled by server\n0 serverclose 0\n3 rsp 0\n4 rsp 6 200',
  );
  const { frames, consumed } = parseRelpFrames(wire);
  assert.deepEqual(
    frames.map((f) => [f.txnr, f.command, f.data.toString()]),
    [
      [1, 'rsp', '200 OK'],
      [2, 'rsp', '500 command disabled by server'],
      [0, 'serverclose', ''],
      [3, 'rsp', ''],
    ],
  );
  assert.equal(wire.subarray(consumed).toString(), '4 rsp 6 200', 'an incomplete frame waits for more bytes');
  for (const bad of ['x rsp 0\n', '1 r5p 0\n', '1 rsp 3 abcX', '1234567890 rsp 0\n', '1 rsp 0X'])
    assert.throws(() => parseRelpFrames(Buffer.from(bad)), RelpProtocolError, bad);
  assert.deepEqual(parseRsp(Buffer.from('200 OK\nrelp_version=0\ncommands=syslog')), {
    status: 200,
    text: 'OK',
    data: 'relp_version=0\ncommands=syslog',
  });
  assert.deepEqual(parseRsp(Buffer.from('500 error')), { status: 500, text: 'error', data: '' });
  assert.deepEqual(
    parseOffers('relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog'),
    new Map([
      ['relp_version', ['0']],
      ['relp_software', ['librelp', '1.11.0', 'http://librelp.adiscon.com']],
      ['commands', ['syslog']],
    ]),
  );
});

test('failure descriptions name the cause and whether an operator must act', () => {
  const ctx = {
    transport: 'tls',
    where: 'siem:6514',
    tls: {
      caFile: '/etc/ca.pem',
      certFile: undefined,
      keyFile: undefined,
      keyPassphrase: undefined,
      serverName: undefined,
      minVersion: 'TLSv1.2' as const,
    },
  };
  const err = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  assert.deepEqual(describeSyslogFailure(err('ECONNREFUSED'), ctx).needsOperator, false);
  assert.match(describeSyslogFailure(err('ECONNREFUSED'), ctx).reason, /nothing accepts connections at siem:6514/);
  assert.match(describeSyslogFailure(err('ENOTFOUND'), ctx).reason, /does not resolve/);
  assert.equal(describeSyslogFailure(err('ENOTFOUND'), ctx).needsOperator, true);
  assert.match(
    describeTlsError(err('SELF_SIGNED_CERT_IN_CHAIN'), 'siem:6514', ctx.tls)!.reason,
    /not trusted.*\/etc\/ca\.pem/,
  );
  assert.match(describeTlsError(err('CERT_HAS_EXPIRED'), 'siem:6514', ctx.tls)!.reason, /has expired/);
  assert.match(
    describeTlsError(err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'siem:6514', ctx.tls)!.reason,
    /refused our client certificate/,
  );
  assert.match(
    describeTlsError(err('ERR_SSL_WRONG_VERSION_NUMBER'), 'siem:6514', ctx.tls)!.reason,
    /did not answer with TLS.*never falls back to plaintext/,
  );
  assert.equal(describeTlsError(err('ECONNRESET'), 'siem:6514', ctx.tls), undefined, 'not a TLS problem');
  assert.match(
    describeSyslogFailure(Object.assign(new RelpProtocolError('refused'), {}), {
      ...ctx,
      transport: 'relp',
      tls: undefined,
    }).reason,
    /relp: refused/,
  );
});
