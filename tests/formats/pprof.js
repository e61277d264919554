// Decodes a gzipped pprof profile with the npm pprof-format package (tests/formats.rs) and prints one
// JSON line: the sample types, per type (the leaf location's function, and the `type` label) the
// summed values, the totals, and the stacks (function names, leaf first) of each sample.
// Usage: node pprof.js FILE.pb.gz
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

const file = process.argv[2];
const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(file)));
const str = i => p.stringTable.strings[Number(i)];
const fnName = new Map(p.function.map(f => [Number(f.id), str(f.name)]));
const locFn = new Map(p.location.map(l => [Number(l.id), fnName.get(Number(l.line[0].functionId))]));
const sampleTypes = p.sampleType.map(t => [str(t.type), str(t.unit)]);
const byType = {};
const total = [0, 0];
const stacks = [];
for (const s of p.sample) {
  const stack = s.locationId.map(id => locFn.get(Number(id)));
  const label = s.label.find(l => str(l.key) === 'type');
  const leaf = stack[0];
  if (!label || str(label.str) !== leaf) {
    throw new Error(`sample's type label ${label && str(label.str)} is not its leaf ${leaf}`);
  }
  const v = s.value.map(Number);
  const t = byType[leaf] || (byType[leaf] = [0, 0]);
  t[0] += v[0];
  t[1] += v[1];
  total[0] += v[0];
  total[1] += v[1];
  stacks.push({ stack, value: v });
}
process.stdout.write(JSON.stringify({
  sampleTypes, defaultSampleType: str(p.defaultSampleType), byType, total, stacks,
  comments: p.comment.map(str),
}) + '\n');
