/**
 * Durable delivery end to end (issue 17): `aegisbpf run` with a checkpointed replay source and a disk-buffered
 * sink is killed with SIGKILL at random moments while shipping to a real receiver (rsyslog over RELP; the
 * OpenTelemetry Collector's Splunk HEC receiver with indexer acknowledgements); each restart resumes. At the end the
 * receiver has every event (zero lost), and the duplicates stay within the documented bound (docs/delivery.md,
 * "Disk buffer: what can be lost"): per kill, the events settled in the last checkpoint interval plus those
 * accepted and not yet settled.
 *
 * Size: AEGIS_DURABLE_EVENTS (default 20 000) events at AEGIS_DURABLE_RATE (default 5 000/s), AEGIS_DURABLE_KILLS
 * (default 5) kills; the full size is 200 000 events and 20 kills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { formatJson } from '../../src/formatters/json';
import { checkpointFile } from '../../src/pipeline/sources/checkpoint';
import { generateEvents } from '../helpers/events';
import { spawnCli, waitExit, waitForLog } from '../helpers/cli';
import { readJsonLines } from '../helpers/rsyslog';
import { receiverSkipReason, startReceiver } from '../helpers/syslog-receiver';
import { readHecRecords, startHecReceiver } from '../helpers/services';
import type { TestContext } from 'node:test';
import { makeTempDir } from '../helpers/tmp';

const EVENTS = Number(process.env.AEGIS_DURABLE_EVENTS ?? 20_000);
const RATE = Number(process.env.AEGIS_DURABLE_RATE ?? 5_000);
const KILLS = Number(process.env.AEGIS_DURABLE_KILLS ?? 5);
const CHUNK_EVENTS = 100;

/** The receiver's parse ruleset in the input thread: imrelp answers 200 only after omfile wrote the event. */
const DIRECT_QUEUE = (config: string): string =>
  config.replace(
    /ruleset\(name="aegisbpf" queue\.type="LinkedList"[^)]*\)/,
    'ruleset(name="aegisbpf" queue.type="Direct")',
  );

interface Receiver {
  /** The sink's entry (disk buffer options are merged in). */
  readonly sink: Record<string, unknown>;
  /** Environment for the daemon (secrets). */
  readonly env: NodeJS.ProcessEnv;
  /** event_id of every event that arrived, duplicates included. */
  received(): Promise<string[]>;
  output(): string;
  cleanup(): Promise<void>;
}

async function runKills(t: TestContext, receiver: Receiver, label: string): Promise<void> {
  const { dir, cleanup } = makeTempDir();
  const children: ReturnType<typeof spawnCli>[] = [];
  try {
    const events = generateEvents(EVENTS, { seed: 17 }).map((e, i) => ({ ...e, event_id: `durable-${i}` }));
    const input = path.join(dir, 'in.ndjson');
    fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
    const cfg = path.join(dir, 'aegis.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        data_dir: path.join(dir, 'data'),
        sources: { r: { type: 'replay', path: input, rate: RATE, checkpoint: true, chunk_events: CHUNK_EVENTS } },
        sinks: {
          out: {
            ...receiver.sink,
            batch: { max_events: 200, timeout_ms: 50 },
            buffer: { type: 'disk', max_bytes: 64 * 1024 * 1024, fsync: 'interval' },
            retry: { initial_backoff_ms: 50, max_backoff_ms: 500 },
          },
        },
        metrics: { listen: '127.0.0.1', port: 0 },
        control: { socket: path.join(dir, 'control.sock') },
      }),
    );
    const cpFile = checkpointFile(path.join(dir, 'data'), 'r');
    const checkpointByte = (): number => {
      try {
        return (JSON.parse(fs.readFileSync(cpFile, 'utf8')) as { byte: number }).byte;
      } catch {
        return 0;
      }
    };
    const inputBytes = fs.statSync(input).size;
    const fullRunMillis = (EVENTS / RATE) * 1000;
    const atKill: { checkpoint: number; received: number }[] = [];
    for (let k = 0; k < KILLS && checkpointByte() < inputBytes; k++) {
      const child = spawnCli(['run', '--config', cfg], receiver.env);
      children.push(child);
      const exited = waitExit(child);
      // A random moment once the daemon runs (start-up alone takes about a second on a loaded machine).
      await waitForLog(child, (l) => l.msg === 'aegisbpf started.', 30_000).catch(() => undefined);
      await new Promise((res) => setTimeout(res, 100 + Math.random() * Math.min(1500, fullRunMillis / 4)));
      child.kill('SIGKILL');
      await exited;
      atKill.push({ checkpoint: checkpointByte(), received: (await receiver.received()).length });
    }
    // The last run goes to the end: a replay without loop stops the daemon by itself once every event settled.
    const last = spawnCli(['run', '--config', cfg], receiver.env);
    children.push(last);
    const timer = setTimeout(() => last.kill('SIGTERM'), 120_000);
    const { code, stderr } = await waitExit(last);
    clearTimeout(timer);
    assert.equal(code, 0, stderr.slice(-3000));
    assert.equal(checkpointByte(), inputBytes, `the checkpoint did not reach the end:\n${stderr.slice(-3000)}`);

    const seen = new Map<string, number>();
    for (const id of await receiver.received()) seen.set(id, (seen.get(id) ?? 0) + 1);
    const missing = events.filter((e) => !seen.has(e.event_id)).length;
    let duplicates = 0;
    for (const n of seen.values()) duplicates += n - 1;
    // Per kill: the checkpoint interval's settled events (RATE × 1 s) plus what was accepted and not settled:
    // the source's chunk in hand and what waited in the disk buffer and in flight (at RATE, about one second).
    const boundPerKill = RATE * 2 + CHUNK_EVENTS + 200;
    const measurement = {
      receiver: label,
      events: EVENTS,
      rate: RATE,
      kills: atKill.length,
      missing,
      duplicates,
      atKill,
    };
    t.diagnostic(`durable-kill ${JSON.stringify(measurement)}`);
    console.log(`durable-kill ${JSON.stringify(measurement)}`);
    assert.equal(missing, 0, 'events lost');
    assert.ok(atKill.length >= 1, 'no kill landed mid-stream');
    assert.ok(
      duplicates <= atKill.length * boundPerKill,
      `${duplicates} duplicates, more than ${atKill.length} kills × ${boundPerKill}`,
    );
  } catch (err) {
    t.diagnostic(`receiver output:\n${receiver.output().slice(-2000)}`);
    throw err;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await receiver.cleanup();
    cleanup();
  }
}

test(
  `kill -9 of aegisbpf run ${KILLS} times while shipping ${EVENTS} events over RELP to rsyslog with a disk buffer: zero lost, duplicates bounded`,
  { timeout: 300_000 },
  async (t) => {
    const skip = receiverSkipReason();
    if (skip !== undefined) {
      t.skip(skip);
      return;
    }
    const r = await startReceiver('aegisbpf-receiver.conf', { rewrite: DIRECT_QUEUE });
    await runKills(
      t,
      {
        sink: r.sinkConfig('relp'),
        env: {},
        received: () =>
          Promise.resolve(
            readJsonLines(r.eventsFile)
              .map((l) => (l.event as { event_id?: string } | undefined)?.event_id)
              .filter((id): id is string => id !== undefined),
          ),
        output: () => r.rsyslog.output(),
        cleanup: () => r.cleanup(),
      },
      'relp',
    );
  },
);

test(
  `kill -9 of aegisbpf run ${KILLS} times while shipping ${EVENTS} events to a HEC receiver with indexer acknowledgements and a disk buffer: zero lost, duplicates bounded`,
  { timeout: 300_000 },
  async (t) => {
    const hec = await startHecReceiver();
    if (!hec.ok) {
      t.skip(hec.reason);
      return;
    }
    await runKills(
      t,
      {
        sink: {
          type: 'splunk_hec',
          endpoint: hec.url,
          token: '${SPLUNK_HEC_TOKEN}',
          acknowledgements: { poll_interval_ms: 100 },
        },
        env: { SPLUNK_HEC_TOKEN: hec.tokens[0] },
        received: async () => {
          if (!fs.existsSync(hec.outputFile)) return [];
          return (await readHecRecords(hec.outputFile))
            .map((r) => (r.body as { event_id?: string } | null)?.event_id)
            .filter((id): id is string => typeof id === 'string');
        },
        output: () => (fs.existsSync(hec.logFile) ? fs.readFileSync(hec.logFile, 'utf8') : ''),
        cleanup: () => hec.stop(),
      },
      'hec',
    );
  },
);
