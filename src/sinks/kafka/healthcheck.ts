/**
 * The Kafka healthcheck does what a send does before it writes: fetch the cluster metadata for the sink's topic and
 * check that every partition has a leader. With a `{{type}}` topic template there is no single topic to check, so
 * it checks that the brokers answer (and authenticate) only.
 */
import type { HealthResult } from '../core/types';
import { describeKafkaError } from './retry-policy';

export interface MetadataView {
  readonly topics: ReadonlyMap<string, { readonly partitions: readonly { readonly leader: number }[] }>;
}

export async function checkKafkaHealth(
  metadata: (topics: string[]) => Promise<MetadataView>,
  topic: string | undefined,
  signal: AbortSignal,
): Promise<HealthResult> {
  if (signal.aborted) return { healthy: false, reason: 'healthcheck aborted' };
  try {
    const md = await metadata(topic === undefined ? [] : [topic]);
    if (topic === undefined) return { healthy: true };
    const t = md.topics.get(topic);
    if (t === undefined) return { healthy: false, reason: `topic '${topic}' does not exist on the brokers` };
    const leaderless = t.partitions.filter((p) => p.leader < 0).length;
    if (leaderless > 0)
      return {
        healthy: false,
        reason: `topic '${topic}': ${leaderless} of ${t.partitions.length} partitions have no leader`,
      };
    return { healthy: true };
  } catch (err) {
    const what = describeKafkaError(err);
    if (topic !== undefined && /UNKNOWN_TOPIC/.test(what))
      return { healthy: false, reason: `topic '${topic}' does not exist on the brokers: ${what}` };
    if (/SASL_AUTHENTICATION_FAILED|PLT_KFK_AUTHENTICATION/.test(what))
      return { healthy: false, reason: `the brokers refused the SASL credentials: ${what}` };
    if (topic !== undefined && /AUTHORIZATION_FAILED/.test(what))
      return { healthy: false, reason: `not authorized for topic '${topic}': ${what}` };
    return { healthy: false, reason: `cannot reach the Kafka brokers: ${what}` };
  }
}
