// leakspy's HTML report: everything from the inline JSON (#leakspy-data), no network. This file
// (the shared parts and the heap pages) and html-time.js (record, watch) run in one function scope
// that html.rs writes around them.
  const body = document.body;
  const main = document.getElementById('leakspy-main');
  const D = JSON.parse(document.getElementById('leakspy-data').textContent);
  const kind = body.dataset.kind;

  const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = s => String(s).replace(/[&<>"']/g, c => ESC[c]);
  // One formatter: Number.toLocaleString builds one per call (10,000 calls took 550 ms).
  const NF = new Intl.NumberFormat('en-US');
  const num = n => NF.format(Number(n));
  const signed = n => (n > 0 ? '+' : '') + num(n);
  function bytes(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Math.abs(n), i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    const s = i === 0 ? String(v) : v.toFixed(1) + ' ' + u[i];
    return (n < 0 ? '-' : '') + (i === 0 ? s + ' B' : s);
  }
  const sbytes = n => (n > 0 ? '+' : '') + bytes(n);
  const frame = f => f.filename + ':' + f.line;
  const short = t => String(t).replace(/^builtins\./, '');

  function el(tag, cls, html) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (html !== undefined) e.innerHTML = html;
    return e;
  }
  function section(id, title, note) {
    const s = el('section');
    s.id = id;
    s.appendChild(el('h2', '', esc(title)));
    if (note) s.appendChild(el('div', 'note', esc(note)));
    main.appendChild(s);
    return s;
  }
  function cards(parent, items) {
    const c = el('div', 'cards');
    for (const [k, v] of items) c.appendChild(el('div', 'card', '<div class="v">' + esc(v) + '</div><div class="k">' + esc(k) + '</div>'));
    parent.appendChild(c);
  }

  // Rows a table puts in the DOM at first (and per "show more").
  const PAGE = 500;

  // A sortable, filterable table. cols: {key, label, num, fmt, cls}; rows carry data-* from attrs(row).
  function table(parent, id, cols, rows, opt) {
    const o = Object.assign({ sort: null, desc: true, filter: true, attrs: () => '', tie: null, page: PAGE }, opt || {});
    let sortKey = o.sort, desc = o.desc, needle = '', limit = o.page;
    const wrap = el('div');
    if (o.filter) {
      const f = el('input', 'filter');
      f.type = 'search';
      f.placeholder = 'filter (substring)';
      f.addEventListener('input', () => { needle = f.value.toLowerCase(); limit = o.page; render(); });
      wrap.appendChild(f);
      wrap.appendChild(el('span', 'shown'));
    }
    const sc = el('div', 'scroll');
    const t = el('table');
    t.id = id;
    const head = el('thead');
    const tr = el('tr');
    cols.forEach(c => {
      const th = el('th', c.num ? 'n' : '', esc(c.label));
      th.dataset.key = c.key;
      th.addEventListener('click', () => {
        if (sortKey === c.key) desc = !desc; else { sortKey = c.key; desc = !!c.num; }
        render();
      });
      tr.appendChild(th);
    });
    head.appendChild(tr);
    t.appendChild(head);
    const tb = el('tbody');
    t.appendChild(tb);
    sc.appendChild(t);
    wrap.appendChild(sc);
    // Only `limit` rows are in the DOM (a page of 10,000 sites stays quick to sort and filter).
    const more = el('button', 'more');
    more.type = 'button';
    more.addEventListener('click', () => { limit += o.page; render(); });
    const all = el('button', 'more');
    all.type = 'button';
    all.textContent = 'show all';
    all.addEventListener('click', () => { limit = Infinity; render(); });
    wrap.appendChild(more);
    wrap.appendChild(all);
    parent.appendChild(wrap);
    const text = r => cols.map(c => String(r[c.key] === undefined ? '' : r[c.key])).join(' ').toLowerCase();
    const hay = rows.map(text);
    function render() {
      let idx = rows.map((_, i) => i).filter(i => !needle || hay[i].includes(needle));
      if (sortKey) {
        const col = cols.find(c => c.key === sortKey);
        idx.sort((a, b) => {
          const x = rows[a][sortKey], y = rows[b][sortKey];
          let d = col.num ? (x - y) : cmp(x, y);
          if (desc) d = -d;
          if (d === 0 && o.tie) d = cmp(rows[a][o.tie], rows[b][o.tie]);
          return d;
        });
      }
      head.querySelectorAll('th').forEach(th => {
        th.classList.toggle('sorted', th.dataset.key === sortKey);
        th.classList.toggle('asc', th.dataset.key === sortKey && !desc);
      });
      const out = [];
      for (const i of idx.slice(0, limit)) {
        const r = rows[i];
        out.push('<tr' + o.attrs(r) + '>' + cols.map(c => {
          const v = r[c.key];
          const s = c.fmt ? c.fmt(v, r) : esc(v === undefined ? '' : v);
          return '<td class="' + (c.num ? 'n' : (c.cls || '')) + '">' + s + '</td>';
        }).join('') + '</tr>');
      }
      tb.innerHTML = out.join('');
      const hidden = Math.max(0, idx.length - limit);
      more.hidden = all.hidden = hidden === 0;
      more.textContent = 'show ' + Math.min(hidden, o.page) + ' more (' + hidden + ' not shown)';
      t.dataset.hidden = String(hidden);
      const shown = wrap.querySelector('.shown');
      if (shown) shown.textContent = idx.length + ' of ' + rows.length + ' rows' + (hidden ? ', ' + out.length + ' on the page' : '');
      if (o.rendered) o.rendered(tb);
    }
    render();
    return t;
  }
  // Code-unit order, as leakspy's own reports sort names (ties in --json).
  function cmp(x, y) {
    const a = String(x), b = String(y);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  const attr = (k, v) => ' data-' + k + '="' + esc(v) + '"';

  // Squarified treemap of items {label, value, title} (the largest `max`, the rest as one).
  const PALETTE = ['#2f6fde', '#0e9f6e', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#dc2626', '#4f46e5', '#ca8a04'];
  function treemap(parent, items, max) {
    const box = el('div', 'treemap');
    parent.appendChild(box);
    let list = items.filter(i => i.value > 0).sort((a, b) => b.value - a.value);
    if (list.length > max) {
      const rest = list.slice(max).reduce((s, i) => s + i.value, 0);
      list = list.slice(0, max);
      list.push({ label: '(' + (items.length - max) + ' more)', value: rest, title: 'the rest' });
    }
    // Laid out on a 1000 x 360 grid and placed in percent of the width: reading the box's size
    // would force a layout of the whole page (about 300 ms each with 500-row tables above).
    const W = 1000, H = 360;
    const total = list.reduce((s, i) => s + i.value, 0);
    if (!total) { box.innerHTML = '<div style="color:#667085;position:static">nothing to show</div>'; return; }
    const scale = (W * H) / total;
    const cells = [];
    let x = 0, y = 0, w = W, h = H, row = [], i = 0;
    const worst = (r, side) => {
      const s = r.reduce((a, b) => a + b, 0);
      let mx = 0, mn = Infinity;
      for (const v of r) { mx = Math.max(mx, v); mn = Math.min(mn, v); }
      return Math.max((side * side * mx) / (s * s), (s * s) / (side * side * mn));
    };
    const areas = list.map(it => it.value * scale);
    function layout(r, first) {
      const s = r.reduce((a, b) => a + b, 0);
      if (w >= h) {
        const cw = s / h;
        let cy = y;
        r.forEach((a, k) => { cells.push([first + k, x, cy, cw, a / cw]); cy += a / cw; });
        x += cw; w -= cw;
      } else {
        const ch = s / w;
        let cx = x;
        r.forEach((a, k) => { cells.push([first + k, cx, y, a / ch, ch]); cx += a / ch; });
        y += ch; h -= ch;
      }
    }
    let first = 0;
    while (i < areas.length) {
      const side = Math.min(w, h);
      const a = areas[i];
      if (row.length === 0 || worst(row.concat([a]), side) <= worst(row, side)) { row.push(a); i++; } else { layout(row, first); first += row.length; row = []; }
    }
    if (row.length) layout(row, first);
    const html = [];
    for (const [k, cx, cy, cw, ch] of cells) {
      const it = list[k];
      const tip = it.label + ': ' + bytes(it.value) + (it.title ? ' (' + it.title + ')' : '');
      html.push('<div title="' + esc(tip) + '" style="left:' + (cx / 10).toFixed(2) + '%;top:' + cy.toFixed(1) + 'px;width:' + (cw / 10).toFixed(2) + '%;height:' + ch.toFixed(1) + 'px;background:' + PALETTE[k % PALETTE.length] + '">' + (cw > 40 && ch > 14 ? esc(short(it.label)) + ' ' + esc(bytes(it.value)) : '') + '</div>');
    }
    box.innerHTML = html.join('');
  }

  function breakdown(parent, parts, total) {
    const colors = ['#2f6fde', '#0e9f6e', '#d97706', '#7c3aed', '#db2777', '#94a3b8'];
    const bar = el('div', 'bar');
    const legend = el('div', 'legend');
    parts.forEach(([label, v], k) => {
      const d = el('div');
      d.style.width = (total ? (100 * v) / total : 0) + '%';
      d.style.background = colors[k % colors.length];
      d.title = label + ': ' + bytes(v);
      bar.appendChild(d);
      const s = el('span', '', esc(label) + ' ' + esc(bytes(v)));
      s.style.setProperty('--c', colors[k % colors.length]);
      legend.appendChild(s);
    });
    parent.appendChild(bar);
    parent.appendChild(legend);
  }

  function flame(note) {
    const src = document.getElementById('leakspy-flame');
    if (!src) return;
    const s = section('flame', 'Flame graph', note || 'Live bytes by allocation traceback (outermost at the bottom) and type (the top).');
    const d = el('div', 'flame');
    const img = el('img');
    img.alt = 'flame graph';
    // Decoded when scrolled to and off the main thread: 10,000 sites make an SVG of megabytes.
    img.loading = 'lazy';
    img.decoding = 'async';
    img.src = src.dataset.src;
    d.appendChild(img);
    s.appendChild(d);
  }

  function threads(list) {
    const s = section('threads', 'Threads (' + list.length + ')');
    const ul = el('ul', 'tree top');
    for (const t of list) {
      const li = el('li');
      const flags = [t.holds_gil ? 'holds the GIL' : '', t.idle === true ? 'idle' : t.idle === false ? 'running' : ''].filter(Boolean).join(', ');
      const top = t.frames && t.frames.length ? t.frames[0] : null;
      const det = el('details');
      det.dataset.thread = String(t.native_id === null || t.native_id === undefined ? t.thread_id : t.native_id);
      det.appendChild(el('summary', '', '<b>' + esc(t.name || 'thread') + '</b> ' + esc(t.native_id === null || t.native_id === undefined ? '' : 'tid ' + t.native_id) + (flags ? ' (' + esc(flags) + ')' : '') + (top ? ' &mdash; ' + esc(top.function) + ' <span class="frames">' + esc(frame(top)) + '</span>' : '')));
      const fl = el('ul', 'tree');
      for (const f of t.frames || []) fl.appendChild(el('li', '', esc(f.function) + ' <span class="frames">' + esc(frame(f)) + '</span>'));
      det.appendChild(fl);
      li.appendChild(det);
      ul.appendChild(li);
    }
    s.appendChild(ul);
  }

  function types(heap) {
    const rows = heap.types.map(t => ({ type: t.type, count: t.count, bytes: t.bytes, tracked: t.tracked, sites: t.allocated_at ? t.allocated_at.length : 0, exact: t.size_exact === false ? 'no' : '' }));
    const s = section('types', 'Heap by type (' + rows.length + ' types)', 'Click a column to sort; type in the box to filter.' + (rows.some(r => r.exact) ? ' "inexact": the size is a lower bound.' : ''));
    table(s, 'type-table', [
      { key: 'type', label: 'type', cls: 'name' },
      { key: 'count', label: 'objects', num: true, fmt: num },
      { key: 'bytes', label: 'bytes', num: true, fmt: bytes },
      { key: 'tracked', label: 'GC-tracked', num: true, fmt: num },
      { key: 'sites', label: 'sites', num: true, fmt: num },
      { key: 'exact', label: 'inexact' },
    ], rows, { sort: 'bytes', tie: 'type', attrs: r => attr('type', r.type) + attr('count', r.count) + attr('bytes', r.bytes) });
    const tm = section('treemap-types', 'Bytes by type');
    treemap(tm, heap.types.map(t => ({ label: t.type, value: t.bytes, title: num(t.count) + ' objects' })), 300);
    const sites = [];
    const base = f => String(f.filename).split('/').pop() + ':' + f.line;
    for (const t of heap.types) for (const x of t.allocated_at || []) sites.push({ label: t.type + ' @ ' + (x.frames.length ? base(x.frames[0]) : '?'), value: x.bytes, title: num(x.count) + ' objects' + (x.frames.length ? ', ' + frame(x.frames[0]) : '') });
    if (sites.length) {
      const ts = section('treemap-sites', 'Bytes by allocation site', 'Type @ innermost frame of the traceback (tracemalloc).');
      treemap(ts, sites, 300);
    }
  }

  function memory(m, heap) {
    if (!m || !m.rss) return;
    const s = section('memory', 'Resident memory (' + bytes(m.rss) + ')', 'By mapping kind, read during the pause.');
    breakdown(s, [['heap', m.heap], ['anonymous', m.anonymous], ['file', m.file], ['stack', m.stack], ['other', m.other]].filter(p => p[1] > 0), m.rss);
    if (heap && heap.bytes) {
      s.appendChild(el('div', 'note', esc('Python objects: ' + bytes(heap.bytes) + ' (' + num(heap.objects) + ' objects)')));
    }
  }

  function pathTree(parent, groups) {
    // Shapes "a -> b -> c" merged into a tree; counts summed.
    const root = { kids: new Map(), count: 0 };
    for (const g of groups) {
      let n = root;
      n.count += g.count;
      for (const step of g.shape.split(' -> ')) {
        if (!n.kids.has(step)) n.kids.set(step, { kids: new Map(), count: 0, kind: g.root_kind });
        n = n.kids.get(step);
        n.count += g.count;
      }
    }
    function render(n, top) {
      const ul = el('ul', top ? 'tree top' : 'tree');
      for (const [step, k] of n.kids) {
        const li = el('li');
        li.dataset.step = step;
        li.dataset.count = String(k.count);
        const label = '<span class="c">' + num(k.count) + '</span>' + esc(step) + (top ? ' <span class="frames">(' + esc(k.kind) + ')</span>' : '');
        if (k.kids.size) {
          const d = el('details');
          d.open = true;
          d.appendChild(el('summary', '', label));
          d.appendChild(render(k, false));
          li.appendChild(d);
        } else {
          li.innerHTML = label;
        }
        ul.appendChild(li);
      }
      return ul;
    }
    parent.appendChild(render(root, true));
  }

  function refs(r) {
    const s = section('refs', 'What keeps ' + r.type + ' alive', num(r.instances) + ' instances, ' + bytes(r.bytes) + '; retained ' + bytes(r.retained_bytes) + (r.unreachable ? '; ' + num(r.unreachable) + ' reached by no root' : ''));
    s.dataset.type = r.type;
    s.dataset.instances = String(r.instances);
    s.appendChild(el('div', 'note', 'Shortest paths from the roots, merged into a tree (instances per step):'));
    pathTree(s, r.paths || []);
    const rf = section('referrers', 'Referred to by');
    table(rf, 'referrer-table', [
      { key: 'type', label: 'referring type', cls: 'name' },
      { key: 'references', label: 'references', num: true, fmt: num },
    ], r.referrers || [], { sort: 'references', tie: 'type', filter: false, attrs: x => attr('type', x.type) });
    if (r.retained_by_type && r.retained_by_type.length) {
      const rt = section('retained', 'Retained size by type');
      table(rt, 'retained-table', [
        { key: 'type', label: 'type', cls: 'name' },
        { key: 'count', label: 'objects', num: true, fmt: num },
        { key: 'bytes', label: 'bytes', num: true, fmt: bytes },
        { key: 'retained_bytes', label: 'retained', num: true, fmt: bytes },
      ], r.retained_by_type, { sort: 'retained_bytes', tie: 'type', filter: false, attrs: x => attr('type', x.type) });
    }
  }

  function growth(id, title, list, note) {
    // The sparklines: the series watch kept (d.series_count, d.series_bytes) or diff's two points.
    const rows = list.map(d => ({ type: d.type, site: d.frames && d.frames.length ? frame(d.frames[0]) : '', dcount: d.count_after - d.count_before, dbytes: d.bytes_after - d.bytes_before, count: d.count_after, bytes: d.bytes_after, sc: d.series_count || [d.count_before, d.count_after], sb: d.series_bytes || [d.bytes_before, d.bytes_after] }));
    const s = section(id, title + ' (' + rows.length + ')', note);
    const cols = [{ key: 'type', label: 'type', cls: 'name' }];
    if (rows.some(r => r.site)) cols.push({ key: 'site', label: 'site (innermost)', cls: 'name' });
    cols.push(
      { key: 'dcount', label: 'objects +/-', num: true, fmt: v => '<span class="' + (v > 0 ? 'up' : v < 0 ? 'down' : '') + '">' + signed(v) + '</span>' },
      { key: 'dbytes', label: 'bytes +/-', num: true, fmt: v => '<span class="' + (v > 0 ? 'up' : v < 0 ? 'down' : '') + '">' + sbytes(v) + '</span>' },
      { key: 'count', label: 'objects after', num: true, fmt: num },
      { key: 'sc', label: 'objects', fmt: v => spark(v, num) },
      { key: 'bytes', label: 'bytes after', num: true, fmt: bytes },
      { key: 'sb', label: 'bytes', fmt: v => spark(v, bytes) });
    table(s, id + '-table', cols, rows, { sort: 'dbytes', tie: 'type', attrs: r => attr('type', r.type) + attr('count-delta', r.dcount) + attr('bytes-delta', r.dbytes) + attr('count-series', r.sc.join(',')) });
    return rows;
  }

  // A sparkline of values (oldest first) as inline SVG; its tooltip: first, least, most, last.
  function spark(values, fmt) {
    const n = values.length;
    if (!n) return '';
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const W = 90, H = 20, span = hi - lo || 1;
    const pts = values.map((v, i) => (1 + (n === 1 ? (W - 2) / 2 : (i * (W - 2)) / (n - 1))).toFixed(1) + ',' + (H - 2 - ((v - lo) * (H - 4)) / span).toFixed(1)).join(' ');
    const tip = n + ' points: ' + fmt(values[0]) + ' first, ' + fmt(lo) + ' least, ' + fmt(hi) + ' most, ' + fmt(values[n - 1]) + ' last';
    const up = values[n - 1] > values[0] ? ' up' : values[n - 1] < values[0] ? ' down' : '';
    return '<svg class="spark' + up + '" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + ' ' + H + '"><title>' + esc(tip) + '</title><polyline points="' + pts + '"/></svg>';
  }

  function header(title, sub) {
    document.getElementById('leakspy-title').textContent = title;
    document.getElementById('leakspy-sub').textContent = sub;
  }

  function warnings(list) {
    if (!list || !list.length) return;
    const s = section('warnings', 'Warnings (' + list.length + ')');
    const ul = el('ul');
    for (const w of list) ul.appendChild(el('li', '', esc(w)));
    s.appendChild(ul);
  }

  if (kind === 'dump' || kind === 'refs') {
    header(document.title, 'Python ' + D.python_version + ' · pid ' + D.pid + (D.paused ? ' · paused ' + Number(D.pause_ms).toFixed(1) + ' ms' : ' · not paused') + (D.partial ? ' · PARTIAL' : ''));
    const s = section('summary', 'Summary');
    cards(s, [['objects', num(D.heap.objects)], ['bytes in objects', bytes(D.heap.bytes)], ['types', num(D.heap.types.length)], ['threads', num(D.threads.length)]].concat(D.memory && D.memory.rss ? [['resident', bytes(D.memory.rss)]] : []));
    if (kind === 'refs' && D.refs) refs(D.refs);
    threads(D.threads);
    memory(D.memory, D.heap);
    types(D.heap);
    flame();
    warnings(D.warnings);
  } else if (kind === 'diff') {
    header(document.title, 'pid ' + D.after.pid + ' · ' + ((D.after.taken_at_ms - D.before.taken_at_ms) / 1000).toFixed(1) + ' s apart');
    const s = section('summary', 'Summary');
    cards(s, [['objects before', num(D.before.objects)], ['objects after', num(D.after.objects)], ['objects +/-', signed(D.after.objects - D.before.objects)], ['bytes +/-', sbytes(D.after.bytes - D.before.bytes)]]);
    const rows = growth('growth', 'Growth by type', D.types, 'Types whose count or bytes changed; click a column to sort.');
    const tm = section('treemap-growth', 'Bytes grown by type');
    treemap(tm, rows.map(r => ({ label: r.type, value: r.dbytes, title: signed(r.dcount) + ' objects' })), 300);
    if (D.sites && D.sites.length) growth('growth-sites', 'Growth by allocation site', D.sites);
    flame();
  } else if (kind === 'leaks') {
    header(document.title, 'pid ' + D.pid + ' · snapshots at ' + D.snapshots_s.map(x => Number(x).toFixed(1) + ' s').join(', '));
    const rows = D.survivors.map(g => ({ type: g.type, site: g.frames && g.frames.length ? frame(g.frames[0]) : '', count: g.count, bytes: g.bytes }));
    const s = section('survivors', 'Survivors (' + rows.length + ')', 'Objects born after the first snapshot and still alive at the third, by type and allocation site.');
    table(s, 'survivor-table', [
      { key: 'type', label: 'type', cls: 'name' },
      { key: 'site', label: 'site (innermost)', cls: 'name' },
      { key: 'count', label: 'objects', num: true, fmt: num },
      { key: 'bytes', label: 'bytes', num: true, fmt: bytes },
    ], rows, { sort: 'bytes', tie: 'type', attrs: r => attr('type', r.type) + attr('count', r.count) + attr('bytes', r.bytes) });
    const tm = section('treemap-survivors', 'Surviving bytes by type and site');
    treemap(tm, rows.map(r => ({ label: r.type + (r.site ? ' @ ' + r.site : ''), value: r.bytes, title: num(r.count) + ' objects' })), 300);
  }
