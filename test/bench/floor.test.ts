/**
 * The benchmarks' floor must do all the work it claims (a floor that skipped a step would flatter the platform and
 * blame the pipeline): every event parsed, validated, filtered, formatted and written, byte for byte what the json
 * formatter and the rfc5424 syslog sink produce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { jsonFileFloor, rfc5424TcpFloor } from '../../bench/lib/floor';
import { formatJson } from '../../src/formatters/json';
import { createRfc5424Formatter } from '../../src/formatters/rfc5424';
import { makeEventFactory } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';
import { parseOctetCounted } from '../helpers/octet-frames';

const COUNT = 3000;

function writeInput(file: string): ReturnType<ReturnType<typeof makeEventFactory>>[] {
  const make = makeEventFactory({ adversarial: true, seed: 11 });
  const events = Array.from({ length: COUNT }, (_, i) => make(i));
  fs.writeFileSync(file, events.map((e) => formatJson(e) + '\n').join(''));
  return events;
}

test('json-file floor: every event parsed and counted; the kept ones written exactly as the json formatter writes them', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    const events = writeInput(input);
    const out = path.join(dir, 'out.ndjson');
    const r = jsonFileFloor(input, out);
    assert.equal(r.events, COUNT);
    assert.ok(r.cpuMicrosPerEvent > 0 && r.eventsPerCpuSecond > 0);
    // The benchmark's filter, stated independently: exits with code 0 are dropped.
    const kept = events.filter((e) => !(e.type === 'exit' && e.exit_code === 0));
    assert.ok(kept.length < COUNT && kept.length > 0, 'the input exercises the filter');
    assert.equal(fs.readFileSync(out, 'utf8'), kept.map((e) => formatJson(e) + '\n').join(''));
  } finally {
    cleanup();
  }
});

test('json-file floor: a line that is not a valid event is an error, not a counted event', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    writeInput(input);
    fs.appendFileSync(input, '{"type":"exec"}\n');
    assert.throws(() => jsonFileFloor(input, path.join(dir, 'out.ndjson')), /line 3001 is not a valid event/);
  } finally {
    cleanup();
  }
});

test('rfc5424-tcp floor: every event sent as one octet-counted frame holding the rfc5424 formatter output', async () => {
  const { dir, cleanup } = makeTempDir();
  const received: Buffer[] = [];
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const server = net.createServer((socket) => {
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('end', () => ended());
  });
  try {
    const input = path.join(dir, 'in.ndjson');
    const events = writeInput(input);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const r = await rfc5424TcpFloor(input, (server.address() as net.AddressInfo).port);
    await done;
    assert.equal(r.events, COUNT);
    const frames = parseOctetCounted(Buffer.concat(received));
    const formatter = createRfc5424Formatter({}, { hostname: 'bench', version: 'floor' });
    assert.equal(frames.length, COUNT);
    for (let i = 0; i < COUNT; i++) assert.equal(frames[i], formatter.format(events[i]!), `frame ${i + 1}`);
  } finally {
    server.close();
    cleanup();
  }
});
