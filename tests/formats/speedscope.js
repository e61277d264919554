// Validates a speedscope file against speedscope's own schema (file-format-schema.json shipped in
// the npm package `speedscope`) with ajv (tests/formats.rs), then prints one JSON line: whether it
// is valid (and ajv's errors), and per profile its unit, end value, summed weights, and the stacks
// (frame names, outermost first) with their weights.
// Usage: node speedscope.js FILE
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const schemaFile = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist/release/file-format-schema.json');
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
const file = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
const validate = ajv.compile(Object.assign({}, schema, { $ref: '#/definitions/FileFormat.File' }));
const valid = validate(file);
const frames = file.shared && file.shared.frames || [];
const profiles = (file.profiles || []).map(p => ({
  name: p.name, unit: p.unit, endValue: p.endValue,
  total: (p.weights || []).reduce((a, b) => a + b, 0),
  stacks: (p.samples || []).map((s, i) => ({ stack: s.map(f => frames[f] && frames[f].name), weight: p.weights[i] })),
}));
process.stdout.write(JSON.stringify({ valid, errors: validate.errors, profiles }) + '\n');
