/**
 * One throw-away Elasticsearch node per test file, with a client to it: started in `before`, stopped in `after`.
 * Where the node cannot start here, `es` stays undefined and `skipReason` says why, for `t.skip(skipReason)`.
 */
import { after, before } from 'node:test';
import type { Client } from '../../src/sinks/elasticsearch/client';
import { createEsClient } from '../../src/sinks/elasticsearch/client';
import type { ElasticsearchOptions, ElasticsearchService } from './services';
import { startElasticsearch } from './services';

export interface ElasticsearchFixture {
  /** The running node (after `before`), or undefined when it could not start. */
  readonly es: ElasticsearchService | undefined;
  /** A client to the node; only valid while `es` is defined. */
  readonly client: Client;
  /** Why the node is not running ('' while it is). */
  readonly skipReason: string;
}

/** Registers the file's `before`/`after` hooks; `setup` runs once with the client once the node is up. */
export function useElasticsearch(
  opts: ElasticsearchOptions = {},
  setup?: (client: Client) => Promise<unknown>,
): ElasticsearchFixture {
  const state: { es: ElasticsearchService | undefined; client: Client | undefined; skipReason: string } = {
    es: undefined,
    client: undefined,
    skipReason: '',
  };
  before(async () => {
    const started = await startElasticsearch(opts);
    if (!started.ok) {
      state.skipReason = started.reason;
      return;
    }
    state.es = started;
    state.client = createEsClient({
      urls: [started.url],
      auth: { kind: 'none' },
      tls: { caFile: undefined, verify: true, serverName: undefined },
    });
    await setup?.(state.client);
  });
  after(async () => {
    await state.client?.close();
    await state.es?.stop();
  });
  return {
    get es() {
      return state.es;
    },
    get client() {
      if (state.client === undefined) throw new Error(`no Elasticsearch client: ${state.skipReason || 'not started'}`);
      return state.client;
    },
    get skipReason() {
      return state.skipReason;
    },
  };
}
