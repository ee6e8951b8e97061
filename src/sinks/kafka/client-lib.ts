/**
 * The one place that loads the Kafka client library (@platformatic/kafka, chosen in docs/dependencies.md). It is an
 * ES module; Node >= 22.12 loads ES modules with require(), which keeps the transport's construction synchronous.
 * TypeScript's Node16 mode refuses a static import of an ES module from CommonJS, hence the type-only import with
 * `resolution-mode` and one require() here. Everything else imports the library's types and values from this file,
 * so a swap of the client touches this folder only.
 */
import type * as Lib from '@platformatic/kafka' with { 'resolution-mode': 'import' };

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const kafkaLib = require('@platformatic/kafka') as typeof Lib;
export type { Lib as KafkaLib };
