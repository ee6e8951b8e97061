#!/usr/bin/env node
// Build step after tsc: write the ajv validators as standalone modules (src/util/precompiled-validator.ts).
// Old modules (of schemas that changed) are removed so dist/generated/validators holds exactly the current ones.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src');
const { generateValidator, GENERATED_VALIDATORS_DIR } = require(path.join(dist, 'util', 'precompiled-validator.js'));
const { configValidatorSpec } = require(path.join(dist, 'config', 'load.js'));
const { eventValidatorSpecs } = require(path.join(dist, 'event', 'validate.js'));

const events = eventValidatorSpecs();
const specs = [configValidatorSpec(), events.full, ...events.fast.values()];
const written = new Set(specs.map((spec) => path.basename(generateValidator(spec))));
for (const f of fs.readdirSync(GENERATED_VALIDATORS_DIR)) {
  if (!written.has(f)) fs.rmSync(path.join(GENERATED_VALIDATORS_DIR, f), { force: true });
}
process.stderr.write(
  `gen-validators: ${written.size} validators in ${path.relative(process.cwd(), GENERATED_VALIDATORS_DIR) || '.'}\n`,
);
