// Bulk actions on a selection (list and album grids): click a card's box,
// Shift+click another to select the range between, or "select all N
// matching" to make the list's query itself the selection (the server
// resolves it; no ids are collected here, so it works at any size). The
// bar's buttons post one action for the selection to /media/bulk (or to
// their own endpoint, data-bulk-url, for small hand-made selections); a
// large selection comes back as a job whose progress is shown until it
// ends. Plain JavaScript, no build step; needs app.js (window.SuperVisor).
(function () {
  'use strict';
  var SV = window.SuperVisor;
  if (!SV) return;
  var bar = document.getElementById('bulkbar');
  // A hand-made selection larger than this runs as a job (bulk.InRequestMax).
  var inRequestMax = 200;
  // all: the query selection ({query, count, text}) or null.
  var all = null;
  var last = null; // the last clicked box

  function boxes() { return Array.prototype.slice.call(document.querySelectorAll('input.sel')); }
  function selected() { return boxes().filter(function (c) { return c.checked; }).map(function (c) { return c.value; }); }
  function fill(text, vals) { return String(text || '').replace(/\{(\w+)\}/g, function (m, k) { return vals[k] != null ? vals[k] : m; }); }
  function refresh() {
    if (SV.updateBulk) SV.updateBulk();
    // "All matching" counts the query's media, not the boxes on the page.
    var n = document.getElementById('bulk-count'); if (n && all) n.textContent = all.text;
    showAll();
  }
  function clearSelection() {
    all = null;
    boxes().forEach(function (i) { i.checked = false; });
    refresh();
  }
  if (bar && bar.dataset.keyRange) SV.addKeys('list', [['Shift+click', bar.dataset.keyRange], ['Shift+x', bar.dataset.keyRange]]);

  // ---- Shift+click: every box between the last clicked one and this one
  // takes this one's state. The box's state is already toggled when the
  // click reaches the document. ----
  function range(cb, to) {
    // A range stays inside one grid (the featured row is another).
    var box = cb.closest('.grid, table') || document;
    var list = Array.prototype.slice.call(box.querySelectorAll('input.sel'));
    var i = list.indexOf(cb), j = last ? list.indexOf(last) : -1;
    if (j >= 0 && j !== i) {
      var a = Math.min(j, i), b = Math.max(j, i);
      for (var k = a; k <= b; k++) list[k].checked = to;
    }
  }
  document.addEventListener('click', function (e) {
    var cb = e.target.closest && e.target.closest('input.sel');
    if (!cb) return;
    if (e.shiftKey) range(cb, cb.checked);
    last = cb;
    // Changing single boxes leaves "all matching": the selection is the
    // boxes again.
    if (all && !cb.checked) all = null;
    refresh();
  });
  // Keyboard: x (app.js) toggles the focused card and becomes the range's
  // start; Shift+x selects from there to the focused card.
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key !== 'x' && e.key !== 'X') return;
    var card = document.querySelector('.card.focus');
    var cb = card && card.querySelector('input.sel');
    if (!cb) return;
    if (e.key === 'X') { range(cb, true); cb.checked = true; e.preventDefault(); }
    last = cb;
    if (all && !cb.checked) all = null;
    refresh();
  });

  // ---- select all matching: the count comes from /api/count (capped
  // like the list's; the job counts exactly) ----
  var allBtn = document.getElementById('bulk-all');
  var allNote = document.getElementById('bulk-all-note');
  var counted = null;
  function countText(r) { return Number(r.total).toLocaleString() + (r.more ? '+' : ''); }
  function showAll() {
    if (!allBtn || !bar || bar.hidden) return;
    if (all) {
      allBtn.hidden = true;
      allNote.hidden = false;
      allNote.textContent = fill(bar.dataset.allSelected, {n: all.text});
      return;
    }
    allNote.hidden = true;
    if (counted) { allBtn.textContent = fill(bar.dataset.allText, {n: countText(counted)}); allBtn.hidden = false; return; }
    counted = {pending: true};
    fetch('/api/count?' + (bar.dataset.query || ''), {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (r) { if (r.ok) { counted = r; showAll(); } else counted = null; })
      .catch(function () { counted = null; });
  }
  if (allBtn) allBtn.addEventListener('click', function () {
    if (!counted || counted.pending) return;
    // The list's own query (grid or table view), as the page was filtered.
    all = {query: bar.dataset.query || '', count: counted.total, text: countText(counted)};
    boxes().forEach(function (i) { i.checked = true; });
    refresh();
  });

  // ---- the bar's actions ----
  var progress = document.getElementById('bulk-progress');
  function say(text, isErr) {
    if (!progress) { SV.toast(text, isErr); return; }
    progress.hidden = false;
    progress.classList.toggle('error', !!isErr);
    progress.textContent = text;
  }
  function follow(r) {
    var poll = function () {
      fetch(r.progress_url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (p) { return p.json(); })
        .then(function (p) {
          if (!p.ok) { say(p.error || 'error', true); return; }
          var text = p.finished ? p.text : fill(bar.dataset.progress, {job: r.job_id, done: p.done, total: p.total});
          say(text, p.status === 'error' || p.status === 'cancelled');
          if (progress) { progress.dataset.status = p.status; progress.dataset.done = p.done; progress.dataset.total = p.total; }
          if (!p.finished) { setTimeout(poll, 700); return; }
          // The cards on the page are from before the job: offer the list again.
          if (progress && bar.dataset.reload) {
            var a = document.createElement('a'); a.href = location.href; a.id = 'bulk-reload'; a.textContent = bar.dataset.reload;
            progress.appendChild(document.createTextNode(' ')); progress.appendChild(a);
          }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    poll();
  }
  document.addEventListener('click', function (e) {
    if (e.target.closest('[data-bulk-clear]')) { clearSelection(); return; }
    var b = e.target.closest('[data-bulk]');
    if (!b) return;
    var ids = selected();
    if (!all && !ids.length) return;
    var n = all ? all.text : String(ids.length);
    var msg = b.getAttribute('data-confirm');
    if (msg && !window.confirm(fill(msg, {n: n}))) return;
    var url = b.dataset.bulkUrl || '/media/bulk';
    var data = {action: b.dataset.bulk};
    // A large selection goes to /media/bulk as a job, under the action's
    // bulk name (an album's add/remove: collection_add/remove).
    if ((all || ids.length > inRequestMax) && b.dataset.bulkJob) { url = '/media/bulk'; data.action = b.dataset.bulkJob; }
    if (all && url !== '/media/bulk') return; // reordering an album needs its boxes
    if (all) { data.select = 'all'; data.query = all.query; } else data.ids = ids.join(',');
    // The fields whose name/value the action sends along, and fixed values.
    (b.dataset.bulkInputs || '').split(',').forEach(function (id) { var i = id && document.getElementById(id); if (i) data[i.name] = i.value; });
    (b.dataset.bulkSet || '').split('&').forEach(function (kv) { var p = kv.split('='); if (p[0]) data[p[0]] = p[1] || ''; });
    b.disabled = true;
    SV.post(url, data).then(function (r) {
      b.disabled = false;
      if (!r.ok) { say(r.message || r.error && (r.error.message || r.error) || 'error', true); return; }
      if (r.job_id) { say(r.message || ''); clearSelection(); follow(r); return; }
      // Nothing on the page changed: say what happened and keep the page.
      if (b.hasAttribute('data-toast')) { SV.toast(r.message || 'OK', false, r.url, b.dataset.linkText); clearSelection(); return; }
      // The order changed: the same cards stay selected after the reload,
      // so "up" can be pressed again.
      if (b.hasAttribute('data-keep')) { try { sessionStorage.setItem('sv-reselect', ids.join(',')); } catch (err) { /* private mode */ } }
      location.reload();
    }).catch(function () { b.disabled = false; say('Network error', true); });
  });
})();
