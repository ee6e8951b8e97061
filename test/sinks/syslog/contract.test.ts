/**
 * The shared transport contract (test/sinks/transport-contract.ts) for each syslog transport, against a real
 * rsyslog running the shipped receiver configuration. The contract checks the transport, so messages carry the
 * event as exact canonical JSON (the `json` formatter, NUL included) in an RFC 5424 envelope, and the receiver's
 * raw MSG log is read back.
 */
import fs from 'node:fs';
import type { AegisEvent } from '../../../src/event/types';
import { formatJson } from '../../../src/formatters/json';
import { parseSyslogConfig } from '../../../src/sinks/syslog/config';
import { createSyslogTransport } from '../../../src/sinks/syslog/transport';
import { createLogger } from '../../../src/util/logger';
import { readJsonLines } from '../../helpers/rsyslog';
import { receiverSkipReason, startReceiver } from '../../helpers/syslog-receiver';
import type { ReceiverVariant } from '../../helpers/syslog-receiver';
import { runTransportContract } from '../transport-contract';
import { assertValidSinkConfig } from './harness';

const encode = (e: AegisEvent): string => `<134>1 ${e.ts} contract-host aegisbpf ${e.pid} contract - ${formatJson(e)}`;

const TRANSPORTS: readonly { transport: 'udp' | 'tcp' | 'tls' | 'relp'; variant: ReceiverVariant; label: string }[] = [
  { transport: 'udp', variant: 'aegisbpf-receiver.conf', label: 'syslog udp' },
  { transport: 'tcp', variant: 'aegisbpf-receiver.conf', label: 'syslog tcp' },
  { transport: 'tls', variant: 'aegisbpf-receiver.conf', label: 'syslog tls' },
  { transport: 'relp', variant: 'aegisbpf-receiver.conf', label: 'syslog relp' },
  { transport: 'relp', variant: 'aegisbpf-receiver-gtls.conf', label: 'syslog relp+tls' },
];

for (const { transport, variant, label } of TRANSPORTS) {
  runTransportContract({
    name: label,
    encode,
    create: async () => {
      const skip = receiverSkipReason(variant);
      if (skip !== undefined) return { skip };
      const receiver = await startReceiver(variant, { recordRaw: true });
      const raw = receiver.sinkConfig(transport);
      assertValidSinkConfig(raw);
      const t = createSyslogTransport(parseSyslogConfig(raw), {
        logger: createLogger({ level: 'ERROR', write: () => undefined }),
        counters: {},
      });
      return {
        transport: t,
        received: async () => {
          // Wait until the receiver has written what it got (its queue is asynchronous).
          let last = -1;
          for (let i = 0; i < 100; i++) {
            const n = fs.existsSync(receiver.rawFile) ? fs.statSync(receiver.rawFile).size : 0;
            if (n === last && n > 0) break;
            last = n;
            await new Promise((r) => setTimeout(r, 100));
          }
          return readJsonLines(receiver.rawFile) as unknown as AegisEvent[];
        },
        breakReceiver: () => receiver.rsyslog.stop(),
        restoreReceiver: async () => {
          // Start from an empty log: the contract compares what arrived after the failure.
          fs.rmSync(receiver.rawFile, { force: true });
          await receiver.rsyslog.start();
        },
        cleanup: () => receiver.cleanup(),
      };
    },
  });
}
