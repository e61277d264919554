// The pages of what happens over time: `record` (births by type and site) and `watch` (a series
// per type). Runs in the scope of html.js (its helpers: section, cards, table, treemap, spark, ...).

  const sum = (list, k) => list.reduce((s, x) => s + x[k], 0);
  const site = f => (f.function ? f.function + ' ' : '') + f.filename + (f.line === null || f.line === undefined ? '' : ':' + f.line);

  // One type's sites as a list: share, counts, and every frame (innermost first).
  function siteList(t, exact) {
    const base = exact ? sum(t.sites, 'alive') : t.pairs;
    const out = ['<ul class="sites">'];
    for (const x of t.sites) {
      const w = exact ? x.alive : x.pairs;
      const pct = base ? ((100 * w) / base).toFixed(0) + '%' : '';
      out.push('<li' + attr('site-born', x.born) + attr('site-alive', x.alive) + attr('site-bytes', x.alive_bytes) + '><span class="share">' + pct + '</span>' + num(x.born) + ' born, ' + num(x.alive) + ' alive, ' + bytes(x.alive_bytes) + (exact ? '' : ' <span class="frames">(' + num(x.pairs) + ' pairs)</span>') + '<ol>');
      for (const f of x.frames) out.push('<li class="frames">' + esc(site(f)) + '</li>');
      if (!x.frames.length) out.push('<li class="frames">(no Python frame)</li>');
      out.push('</ol></li>');
    }
    if (!t.sites.length) out.push('<li class="frames">no sample saw a frame holding one</li>');
    out.push('</ul>');
    return out.join('');
  }

  function recordPage() {
    const types = D.types;
    header(document.title, 'Python ' + D.python_version + ' · pid ' + D.pid + ' · ' + Number(D.duration_s).toFixed(1) + ' s · ' + num(D.samples) + ' samples');
    const s = section('summary', 'Summary', D.untracked);
    s.dataset.duration = String(D.duration_s);
    s.dataset.samples = String(D.samples);
    s.dataset.exact = String(D.exact);
    cards(s, [
      ['duration', Number(D.duration_s).toFixed(1) + ' s'],
      ['samples', num(D.samples) + (D.paused_samples ? ' (paused)' : '')],
      ['sites', D.exact ? 'exact (tracemalloc)' : 'sampled (estimates)'],
      ['types born', num(types.length)],
      ['born', num(sum(types, 'born'))],
      ['alive at the end', num(sum(types, 'alive'))],
      ['alive bytes', bytes(sum(types, 'alive_bytes'))],
      ['already there', num(D.baseline_objects)],
    ]);
    warnings(D.warnings);
    const rows = types.map((t, i) => ({ i: i, type: t.type, born: t.born, alive: t.alive, alive_bytes: t.alive_bytes, sites: t.sites.length }));
    const ts = section('record-types', 'Born during the recording, by type (' + rows.length + ' types)', 'Click a type for its allocation sites (' + (D.exact ? "tracemalloc's tracebacks of the survivors" : 'shares of the sampled (type, stack) pairs; per-site counts are estimates') + '); click a column to sort.');
    const fill = d => {
      if (d.dataset.filled) return;
      d.dataset.filled = '1';
      d.insertAdjacentHTML('beforeend', siteList(types[Number(d.dataset.i)], D.exact));
    };
    table(ts, 'record-table', [
      { key: 'type', label: 'type / sites', cls: 'name', fmt: (v, r) => '<details' + attr('i', r.i) + '><summary>' + esc(v) + ' <span class="frames">(' + num(r.sites) + ' sites)</span></summary></details>' },
      { key: 'born', label: 'born', num: true, fmt: num },
      { key: 'alive', label: 'alive', num: true, fmt: num },
      { key: 'alive_bytes', label: 'alive bytes', num: true, fmt: bytes },
      { key: 'sites', label: 'sites', num: true, fmt: num },
    ], rows, {
      sort: 'alive_bytes', tie: 'type',
      attrs: r => attr('type', r.type) + attr('born', r.born) + attr('alive', r.alive) + attr('alive-bytes', r.alive_bytes),
      // The largest type opens with its sites; the others fill in when opened.
      rendered: tb => {
        const first = tb.querySelector('details');
        if (first && !ts.dataset.opened) { ts.dataset.opened = '1'; fill(first); first.open = true; }
      },
    });
    ts.addEventListener('toggle', e => { if (e.target.open && e.target.dataset.i !== undefined) fill(e.target); }, true);
    const items = [];
    for (const t of types) {
      let charged = 0;
      for (const x of t.sites) {
        charged += x.alive_bytes;
        const f = x.frames[0];
        items.push({ label: t.type + ' @ ' + (f ? (f.function || String(f.filename).split('/').pop() + ':' + f.line) : '?'), value: x.alive_bytes, title: num(x.alive) + ' alive' + (f ? ', ' + site(f) : '') });
      }
      if (t.alive_bytes > charged) items.push({ label: t.type + ' @ (no sampled site)', value: t.alive_bytes - charged, title: 'alive bytes no sample located' });
    }
    const tm = section('treemap-record', 'Alive bytes by allocation site', 'Type @ innermost frame; bytes of objects still alive at the end.');
    treemap(tm, items, 300);
    flame('Bytes alive at the end by birth stack (outermost at the bottom), the type on top.');
  }

  function watchPage() {
    const P = D.points;
    const first = P[0], last = P[P.length - 1];
    header(document.title, 'Python ' + D.python_version + ' · pid ' + D.pid + ' · ' + P.length + ' samples over ' + (last.elapsed_s - first.elapsed_s).toFixed(1) + ' s' + (D.thinned ? ' (' + num(D.thinned) + ' older samples thinned out)' : ''));
    const s = section('summary', 'Summary', 'Rewritten after every sample of the watch.');
    s.dataset.samples = String(P.length);
    cards(s, [['samples', num(last.sample)], ['objects now', num(last.objects)], ['objects +/-', signed(last.objects - first.objects)], ['bytes now', bytes(last.bytes)], ['bytes +/-', sbytes(last.bytes - first.bytes)]]);
    const totals = el('div', 'cards');
    totals.appendChild(el('div', 'card', spark(P.map(p => p.objects), num) + '<div class="k">objects</div>'));
    totals.appendChild(el('div', 'card', spark(P.map(p => p.bytes), bytes) + '<div class="k">bytes</div>'));
    s.appendChild(totals);
    const list = D.types.map(t => ({ type: t.type, count_before: t.count[0], count_after: t.count[t.count.length - 1], bytes_before: t.bytes[0], bytes_after: t.bytes[t.bytes.length - 1], series_count: t.count, series_bytes: t.bytes }));
    const rows = growth('growth', 'Growth by type', list, 'The ' + D.types.length + ' types (of ' + D.types_seen + ' seen) that grew most in bytes from the first sample to the last; each sparkline is one type over the samples.');
    const tm = section('treemap-growth', 'Bytes grown by type');
    treemap(tm, rows.map(r => ({ label: r.type, value: r.dbytes, title: signed(r.dcount) + ' objects' })), 300);
  }

  if (kind === 'record') recordPage();
  else if (kind === 'watch') watchPage();
