// Supervisor UI: plain JavaScript, no build step. Every POST carries the
// session's CSRF token in the X-CSRF-Token header (hyphens, so proxies keep it).
(function () {
  'use strict';
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var isAdmin = document.body.dataset.admin === 'true';

  function post(url, data) {
    var body = new URLSearchParams(data);
    return fetch(url, {method: 'POST', body: body, credentials: 'same-origin',
      headers: {'X-CSRF-Token': csrf, 'Accept': 'application/json', 'X-Requested-With': 'fetch'}})
      .then(function (r) { return r.json().catch(function () { return {ok: false, error: 'HTTP ' + r.status}; }); });
  }
  // Every script registers the keys it handles here (scope: 'list',
  // 'detail', 'lightbox', 'cull' or 'all'; keys as shown to a person; what
  // they do, already translated), so the help overlay (?) lists exactly the
  // keys that work on the page and one key means one thing everywhere.
  var keyHelp = [];
  function addKeys(scope, list) { list.forEach(function (k) { keyHelp.push({scope: scope, keys: k[0], what: k[1]}); }); }
  // The scripts' messages in the page's language (the layout writes the
  // "js." catalogue entries); a missing one shows its key.
  var strings = {};
  try { strings = JSON.parse((document.getElementById('sv-strings') || {}).textContent || '{}') || {}; } catch (err) { /* keys shown */ }
  function t(key, arg) { var s = strings[key] || key; return arg == null ? s : s.replace('%s', arg); }
  window.SuperVisor = {csrfToken: csrf, post: post, addKeys: addKeys, keyHelp: function () { return keyHelp.slice(); },
    t: t, toast: function (text, isErr) { toast(text, isErr); }, loadMore: function () { return loadMore(); }};

  // Confirmation for destructive forms.
  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // ---- action feedback: a button marked data-toast posts its form by
  // fetch and shows the server's sentence as a toast; without JavaScript
  // the form posts and the page shows the same sentence as a banner ----
  function toast(text, isErr, link, linkText) {
    var box = document.getElementById('toasts');
    if (!box) {
      box = el('div', 'toasts'); box.id = 'toasts';
      box.setAttribute('role', 'status'); box.setAttribute('aria-live', 'polite');
      document.body.appendChild(box);
    }
    var t = el('div', 'toast' + (isErr ? ' error' : ''), text);
    if (link) { var a = el('a', null, linkText || link); a.href = link; t.appendChild(document.createTextNode(' ')); t.appendChild(a); }
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, 10000);
  }
  window.SuperVisor.toast = toast;
  document.addEventListener('submit', function (e) {
    var b = e.submitter;
    if (e.defaultPrevented || !b || !b.hasAttribute('data-toast')) return;
    e.preventDefault();
    var data = new FormData(e.target);
    if (b.name) data.set(b.name, b.value);
    b.disabled = true;
    // getAttribute: a control named "action" shadows form.action.
    post(e.target.getAttribute('action') || location.pathname + location.search, data)
      .then(function (r) { toast(r.message || r.error || 'HTTP error', !r.ok); })
      .catch(function () { toast('Network error', true); })
      .then(function () { b.disabled = false; });
  });

  // ---- dashboard import: a move asks first (the files leave their
  // folder); without JavaScript the server shows a confirm page ----
  var imp = document.getElementById('import-form');
  if (imp) imp.addEventListener('submit', function (e) {
    var mode = imp.querySelector('input[name="mode"]:checked'), cm = document.getElementById('confirm-move');
    cm.value = '0';
    if (mode && mode.value === 'move') {
      if (!window.confirm(imp.dataset.confirmMove)) { e.preventDefault(); return; }
      cm.value = '1';
    }
  });

  // ---- media list: a text query's count arrives after the cards ----
  var countEl = document.getElementById('count');
  if (countEl && countEl.dataset.countUrl) {
    fetch(countEl.dataset.countUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (r) { if (r.ok) countEl.textContent = r.text; })
      .catch(function () {});
  }

  // ---- media list: the facets (top models, samplers, LoRAs, tags and
  // software of the current query) arrive after the cards; a value links
  // to the list with its term added to the search (or, when the search
  // has it already, removed) ----
  var facetsEl = document.getElementById('facets');
  if (facetsEl && facetsEl.dataset.facetsUrl) {
    var facetBody = document.getElementById('facet-body'), facetBox = document.getElementById('facets-box');
    // Narrow screens show the panel above the cards: folded until asked.
    if (facetBox && window.matchMedia && window.matchMedia('(max-width: 800px)').matches) facetBox.open = false;
    var facetFail = function (msg) { facetBody.textContent = ''; facetBody.appendChild(el('p', 'hint', msg || facetsEl.dataset.error)); };
    fetch(facetsEl.dataset.facetsUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (r) {
        if (!r.ok) { facetFail(r.error); return; }
        facetBody.textContent = '';
        (r.facets || []).forEach(function (f) {
          var sec = el('section', 'facet'), ul = el('ul');
          sec.dataset.field = f.field;
          sec.appendChild(el('h3', null, f.label));
          f.values.forEach(function (v) {
            var li = el('li'), a = el('a', 'facet-link' + (v.active ? ' active' : ''), v.value);
            a.href = v.url; a.dataset.term = v.term; a.title = v.active ? facetsEl.dataset.remove : v.term;
            li.appendChild(a); li.appendChild(el('span', 'n', v.text)); ul.appendChild(li);
          });
          sec.appendChild(ul); facetBody.appendChild(sec);
        });
        if (r.note) facetBody.appendChild(el('p', 'hint', r.note));
      })
      .catch(function () { facetFail(); });
  }

  // ---- media list: infinite scroll, keyboard, selection, bulk ----
  var grid = document.getElementById('grid');
  var cards = function () { return Array.prototype.slice.call(document.querySelectorAll('.card[data-id]')); };
  var focusIdx = -1;
  function focusCard(i) {
    var cs = cards(); if (!cs.length) return;
    focusIdx = Math.max(0, Math.min(cs.length - 1, i));
    cs.forEach(function (c) { c.classList.remove('focus'); });
    cs[focusIdx].classList.add('focus'); cs[focusIdx].focus({preventScroll: false});
  }
  // The card above (dir -1) or below (+1) card i: in the next visual row,
  // the one nearest by horizontal centre. Rows of the justified grid hold
  // different numbers of cards, so no fixed column count works.
  function verticalNeighbour(i, dir) {
    var cs = cards(); if (i < 0) return 0;
    var cur = cs[i].getBoundingClientRect(), cx = cur.left + cur.width / 2, rowTop = null, best = i, bestD = Infinity;
    for (var j = i + dir; j >= 0 && j < cs.length; j += dir) {
      var r = cs[j].getBoundingClientRect();
      if (Math.abs(r.top - cur.top) < 2) continue; // same row
      if (rowTop === null) rowTop = r.top;
      else if (Math.abs(r.top - rowTop) >= 2) break; // past the next row
      var d = Math.abs(r.left + r.width / 2 - cx);
      if (d < bestD) { bestD = d; best = j; }
    }
    return best;
  }
  function selected() {
    return Array.prototype.slice.call(document.querySelectorAll('input.sel:checked')).map(function (i) { return i.value; });
  }
  function updateBulk() {
    var bar = document.getElementById('bulkbar'); if (!bar) return;
    var ids = selected(); bar.hidden = ids.length === 0;
    document.getElementById('bulk-count').textContent = ids.length;
    document.querySelectorAll('input.sel').forEach(function (i) {
      var c = i.closest('.card'); if (c) c.classList.toggle('selected', i.checked);
    });
  }
  document.addEventListener('change', function (e) { if (e.target.classList && e.target.classList.contains('sel')) updateBulk(); });
  // bulk.js (the bar's actions, ranges, select-all) refreshes the bar.
  window.SuperVisor.updateBulk = updateBulk;

  function rate(card, n) {
    var id = card.dataset.id;
    post('/media/action', {action: 'rate', media_id: id, rating: n}).then(function (r) {
      if (!r.ok) { alert(r.error || 'error'); return; }
      card.dataset.rating = n;
      var chip = card.querySelector('.rating');
      if (chip) chip.textContent = n > 0 ? '★' + n : '';
      else if (n > 0) { var s = document.createElement('span'); s.className = 'chip rating'; s.textContent = '★' + n; var ch = card.querySelector('.chips'); if (ch) ch.appendChild(s); }
      card.classList.add('rated');
    });
  }

  if (document.getElementById('detail')) {
    addKeys('detail', [['← →', t('k.prevnext')], ['Esc, Backspace, u', t('k.back')], ['0 1 2 3', t('k.rate')]]);
  } else if (grid || document.getElementById('media-table')) {
    addKeys('list', [['← → ↑ ↓', t('k.arrows')], ['Enter', t('k.enter')], ['0 1 2 3', t('k.rate')], ['x', t('k.select')]]);
  }
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey) return;
    var detail = document.getElementById('detail');
    if (detail) {
      if (e.key === 'ArrowLeft') { var p = document.getElementById('prev-media'); if (p) location.href = p.href; }
      else if (e.key === 'ArrowRight') { var n = document.getElementById('next-media'); if (n) location.href = n.href; }
      // Back to the list the page was opened from (same filter, sort and
      // query as the link): Esc, Backspace or u.
      else if (e.key === 'Escape' || e.key === 'Backspace' || e.key === 'u') { var b = document.getElementById('back-to-list'); if (b) { e.preventDefault(); location.href = b.href; } }
      else if (/^[0-3]$/.test(e.key)) {
        post('/media/action', {action: 'rate', media_id: detail.dataset.id, rating: e.key}).then(function (r) {
          if (!r.ok) { alert(r.error || 'error'); return; }
          var c = document.getElementById('rating-chip'); if (c) c.textContent = '★' + e.key;
        });
      }
      return;
    }
    if (!cards().length) return;
    var cs = cards();
    switch (e.key) {
      case 'ArrowRight': focusCard(focusIdx + 1); break;
      case 'ArrowLeft': focusCard(focusIdx - 1); break;
      case 'ArrowDown': focusCard(verticalNeighbour(focusIdx, 1)); break;
      case 'ArrowUp': focusCard(verticalNeighbour(focusIdx, -1)); break;
      case 'Enter': if (focusIdx >= 0) { var a = cs[focusIdx].querySelector('a'); if (a) location.href = a.href; } break;
      case 'x': if (focusIdx >= 0) { var cb = cs[focusIdx].querySelector('input.sel'); if (cb) { cb.checked = !cb.checked; updateBulk(); } } break;
      case '0': case '1': case '2': case '3': if (focusIdx >= 0) rate(cs[focusIdx], e.key); break;
      default: return;
    }
    e.preventDefault();
  });

  try {
    var reselect = sessionStorage.getItem('sv-reselect');
    if (reselect) {
      sessionStorage.removeItem('sv-reselect');
      reselect.split(',').forEach(function (id) { var cb = document.querySelector('input.sel[value="' + id + '"]'); if (cb) cb.checked = true; });
      updateBulk();
    }
  } catch (err) { /* no storage */ }

  // Infinite scroll: fetch the next keyset page when the sentinel shows.
  // loadMore is also how the lightbox steps past the last loaded card: it
  // resolves to the number of cards added (0 at the end of the list).
  var loading = null, pager = document.getElementById('pager');
  function loadMore() {
    if (!grid || !grid.dataset.next) return Promise.resolve(0);
    if (loading) return loading;
    var q = grid.dataset.query ? grid.dataset.query + '&' : '';
    // An album's page (data-api) pages through its own endpoint.
    loading = fetch((grid.dataset.api || '/api/media') + '?' + q + 'after=' + encodeURIComponent(grid.dataset.next), {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (r) {
        var items = r.items || [];
        items.forEach(function (it) { grid.appendChild(renderCard(it)); });
        grid.dataset.next = r.next || '';
        if (!r.next && pager) pager.hidden = true;
        loading = null;
        return items.length;
      }).catch(function () { loading = null; return 0; });
    return loading;
  }
  if (grid && 'IntersectionObserver' in window) {
    var sentinel = document.createElement('div'); sentinel.id = 'sentinel'; grid.after(sentinel);
    var io = new IntersectionObserver(function (entries) {
      if (!entries[0].isIntersecting || loading || !grid.dataset.next) return;
      loadMore().then(function () {
        // The observer only fires on changes: when the sentinel is still
        // in view after a short page, re-observing reports it again so
        // the next page loads without the user having to scroll.
        if (grid.dataset.next) { io.unobserve(sentinel); io.observe(sentinel); }
      });
    }, {rootMargin: '600px'});
    io.observe(sentinel);
  }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  // The lock chip's icon, as cards.go writes it (no emoji font needed).
  var LOCK_SVG = '<svg class="ico" viewBox="0 0 16 16" width="11" height="11" aria-hidden="true"><path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z"/></svg>';
  function renderCard(it) {
    var a = el('article', 'card' + (it.ar_class ? ' ' + it.ar_class : '') + (it.nsfw ? ' nsfw' : '')); a.dataset.id = it.id; a.tabIndex = 0;
    if (it.ar_class) { a.dataset.w = it.width; a.dataset.h = it.height; }
    if (it.nsfw) a.dataset.adult = '1';
    var link = el('a', 'thumb'); link.href = it.view_url;
    var img = el('img'); img.loading = 'lazy'; img.src = it.thumb_url; img.alt = it.name; link.appendChild(img); a.appendChild(link);
    var m = el('div', 'meta'); var tt = el('div', 'title', it.title); tt.title = it.name; m.appendChild(tt);
    var chips = el('div', 'chips'); chips.appendChild(el('span', 'chip', it.type));
    if (it.width) chips.appendChild(el('span', 'chip', it.width + '×' + it.height));
    if (it.rating) chips.appendChild(el('span', 'chip rating', '★' + it.rating));
    if (it.nsfw) chips.appendChild(el('span', 'chip warn', '18+'));
    if (it.nsfw_locked) { var lk = el('span', 'chip lock'); lk.innerHTML = LOCK_SVG; chips.appendChild(lk); }
    if (it.tags) chips.appendChild(el('span', 'chip', it.tags + ' tags'));
    m.appendChild(chips); m.appendChild(el('div', 'sub', 'ID ' + it.id + ' · ' + it.name)); a.appendChild(m);
    if (isAdmin) { var l = el('label', 'select'); var cb = el('input', 'sel'); cb.type = 'checkbox'; cb.value = it.id; l.appendChild(cb); a.appendChild(l); }
    return a;
  }

  // ---- detail: player controls ----
  var player = document.getElementById('player');
  if (player) {
    // A video the browser cannot decode (HEVC in an mp4 is the usual case)
    // would leave an empty player: show the poster, a message and the
    // download link instead. Known from the codec up front (canPlayType),
    // else from the element's error event or a video track without
    // picture after the metadata loaded.
    var codecs = {h264: 'avc1.42E01E', hevc: 'hvc1.1.6.L93.B0', h265: 'hvc1.1.6.L93.B0', vp8: 'vp8', vp9: 'vp09.00.10.08',
      av1: 'av01.0.04M.08', mpeg4: 'mp4v.20.9', theora: 'theora'};
    var unplayable = function () {
      var box = document.getElementById('player-unplayable'); if (!box || !box.hidden) return;
      box.hidden = false; player.hidden = true;
      player.removeAttribute('src'); player.load();
      var ctl = document.querySelector('.player-ctl'); if (ctl) ctl.hidden = true;
    };
    var codec = codecs[(player.dataset.codec || '').toLowerCase()];
    if (codec && player.canPlayType('video/mp4; codecs="' + codec + '"') === '' && player.canPlayType('video/webm; codecs="' + codec + '"') === '') {
      unplayable();
    }
    player.addEventListener('error', unplayable);
    player.addEventListener('loadedmetadata', function () { if (player.videoWidth === 0) unplayable(); });
    if (player.error) unplayable();
    var sp = document.getElementById('speed'); if (sp) sp.addEventListener('change', function () { player.playbackRate = parseFloat(sp.value); });
    var lp = document.getElementById('loop'); if (lp) lp.addEventListener('change', function () { player.loop = lp.checked; });
  }

  // ---- dashboard: live polling with back-off, paused in hidden tabs ----
  // Services and supervised workers are re-rendered from every poll (same
  // markup as dashboard.html), so a stale heartbeat or a crashed worker
  // shows within one polling interval without a reload.
  function renderServices(svcs) {
    var ul = document.getElementById('services'); if (!ul || !svcs) return;
    ul.textContent = '';
    Object.keys(svcs).sort().forEach(function (k) {
      // An optional service that never ran is not news (template: keep in step).
      if (svcs[k].optional && svcs[k].status === 'missing') return;
      var v = svcs[k], li = el('li', 'svc-' + v.status, k + ': ' + v.status + (v.optional ? '' : ' (required)'));
      li.dataset.service = k; ul.appendChild(li);
    });
  }
  function renderSupervised(list) {
    var box = document.getElementById('supervised-box'); if (!box) return;
    box.textContent = '';
    if (!list || !list.length) return;
    var t = el('table', 'supervised'); t.id = 'supervised';
    var hr = el('tr');
    ['worker', 'state', 'pid', 'restarts', 'last exit'].forEach(function (h) { hr.appendChild(el('th', null, h)); });
    t.appendChild(hr);
    list.forEach(function (w) {
      var tr = el('tr', 'sv-' + w.state); tr.dataset.worker = w.name;
      [w.name, w.state, w.pid || '', w.restarts, (w.last_exit || '') + (w.last_exit_at ? ' (' + w.last_exit_at + ')' : '')]
        .forEach(function (c) { tr.appendChild(el('td', null, String(c))); });
      t.appendChild(tr);
    });
    box.appendChild(t);
  }
  var jc = document.getElementById('jobcenter');
  if (jc) {
    var delay = 2000, tablesSig = jc.dataset.sig || '', timer = null;
    // The job tables are server-rendered (template "jobcenter"): when the
    // poll's jobs_sig changes they are fetched and swapped in, so running
    // jobs show live progress and finished ones move, without a reload.
    var refreshTables = function (sig) {
      if (!jc.dataset.tables || sig === tablesSig) return;
      tablesSig = sig;
      fetch(jc.dataset.tables, {credentials: 'same-origin'})
        .then(function (r) { if (!r.ok) throw new Error('tables'); return r.text(); })
        .then(function (html) { var box = document.getElementById('jobcenter-tables'); if (box) box.innerHTML = html; })
        .catch(function () { tablesSig = ''; });
      // Imports change the library sources (a folder imported in place).
      if (jc.dataset.sources) fetch(jc.dataset.sources, {credentials: 'same-origin'})
        .then(function (r) { if (!r.ok) throw new Error('sources'); return r.text(); })
        .then(function (html) { var old = document.getElementById('sources'); if (old) old.outerHTML = html; })
        .catch(function () {});
    };
    var tick = function () {
      timer = null;
      if (document.hidden) return; // resumed by visibilitychange
      fetch(jc.dataset.poll, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.json(); })
        .then(function (r) {
          if (!r.ok) throw new Error('poll');
          var c = r.data.counts || {};
          Object.keys(c.by_status || {}).forEach(function (k) { var d = document.querySelector('[data-count="' + k + '"]'); if (d) d.textContent = c.by_status[k]; });
          var st = document.querySelector('[data-count="stuck"]'); if (st) st.textContent = c.stuck;
          var mt = document.getElementById('media-total'); if (mt) mt.textContent = r.data.media_total;
          var h = r.data.health || {};
          renderServices(h.services); renderSupervised(h.supervised);
          var active = (c.by_status || {}).running || (c.by_status || {}).queued;
          // Busy: poll fast; idle or unchanged: back off up to 60 s.
          delay = active ? 2000 : Math.min(delay * 2, 60000);
          refreshTables(r.data.jobs_sig || '');
          schedule();
        }).catch(function () { delay = Math.min(delay * 2, 60000); schedule(); });
    };
    var schedule = function () { if (!timer) timer = setTimeout(tick, delay); };
    document.addEventListener('visibilitychange', function () { if (!document.hidden) { delay = 2000; schedule(); } });
    schedule();
    var pb = document.getElementById('prune-btn');
    if (pb) pb.addEventListener('click', function () {
      if (!confirm(pb.dataset.confirm)) return;
      post('/jobs_prune.php', {group: document.getElementById('prune-group').value, status: document.getElementById('prune-status').value,
        scope: 'all', dry_run: document.getElementById('prune-dry').checked ? '1' : '0'}).then(function (r) {
        var res = r.result || {};
        document.getElementById('prune-result').textContent = r.ok ? ('matched ' + res.matched_count + ' · deleted ' + res.deleted_count + ' · updated ' + res.updated_count + ' · blocked ' + res.blocked_running_count) : (r.error || 'error');
      });
    });
  }
})();
