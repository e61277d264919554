// Reads a .heapsnapshot with memlab (tests/formats.rs): prints one JSON line with per-class counts
// and self sizes, and for each class named on the command line the retainer path memlab computes
// for one instance (root first: [edge name, holder node name] pairs).
// Usage: node memlab.js FILE [CLASS...]   (NODE_PATH points at the cached node_modules)
'use strict';
const { getFullHeapFromFile } = require('@memlab/heap-analysis');

(async () => {
  const [file, ...classes] = process.argv.slice(2);
  const heap = await getFullHeapFromFile(file);
  const counts = {};
  let synthetic = 0;
  heap.nodes.forEach(node => {
    if (node.type === 'synthetic') {
      synthetic += 1;
      return;
    }
    const c = counts[node.name] || (counts[node.name] = { count: 0, bytes: 0 });
    c.count += 1;
    c.bytes += node.self_size;
  });
  const paths = {};
  for (const cls of classes) {
    let found = null;
    heap.nodes.forEach(node => {
      if (found === null && node.name === cls && node.type !== 'synthetic') {
        found = node;
      }
    });
    if (found === null) {
      paths[cls] = null;
      continue;
    }
    const steps = [];
    let node = found;
    const seen = new Set();
    while (node && node.pathEdge && !seen.has(node.id)) {
      seen.add(node.id);
      const e = node.pathEdge;
      steps.push([e.type, String(e.name_or_index), e.fromNode.name]);
      node = e.fromNode;
    }
    steps.reverse();
    paths[cls] = { path: steps, retained: Number(found.retainedSize), id: found.id };
  }
  process.stdout.write(JSON.stringify({ nodes: heap.nodes.length, synthetic, counts, paths }) + '\n');
})().catch(e => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
