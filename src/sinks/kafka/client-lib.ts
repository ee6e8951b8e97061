/**
 * The one place that loads the Kafka client library (@platformatic/kafka, chosen in docs/dependencies.md). It is an
 * ES module; Node >= 22.12 loads ES modules with require(), which keeps the transport's construction synchronous.
 * TypeScript's Node16 mode refuses a static import of an ES module from CommonJS, hence the type-only import with
 * `resolution-mode` and one require() here. Everything else imports the library's types and values from this file,
 * so a swap of the client touches this folder only.
 */
import type * as Lib from '@platformatic/kafka' with { 'resolution-mode': 'import' };

let loaded: typeof Lib | undefined;
/**
 * Loaded on first use, not at import: the library and its dependencies (ajv, mnemonist, …) cost ~50 MiB of RSS at
 * start-up, which every daemon paid whether or not it had a Kafka sink or source (issue 23, memory). The proxy keeps
 * the call sites as they were (`kafkaLib.Producer`).
 */
export const kafkaLib = new Proxy({} as typeof Lib, {
  get: (_target, key): unknown => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded ??= require('@platformatic/kafka') as typeof Lib;
    return loaded[key as keyof typeof Lib];
  },
});
export type { Lib as KafkaLib };
