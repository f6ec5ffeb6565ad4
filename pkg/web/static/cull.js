// Culling mode (/cull, issue #23): one media at a time, one key per
// decision, each decision one POST (CSRF; the server stores it with the
// state it replaced and an audit row). The media come page by page from
// /api/media with the list's keyset cursor; the pass resumes after its
// last decision on reload. Keys as everywhere (design key table).
(function () {
  'use strict';
  var root = document.getElementById('cull');
  var SV = window.SuperVisor;
  if (!root || !SV || !SV.Viewer) return;
  var t = SV.t, ds = root.dataset;
  var stage = document.getElementById('cull-stage'), infoBox = document.getElementById('cull-info');
  var counter = document.getElementById('cull-counter'), albumEl = document.getElementById('cull-album');
  var summary = document.getElementById('cull-summary');
  var viewer = new SV.Viewer(stage);
  var pass = parseInt(ds.pass || '0', 10), query = ds.query || '';
  var queue = [], history = [], after = '', more = true, fetching = null;
  // Decisions are posted in order (undo reverts the newest), one after
  // the other, while the view moves on at once.
  var chain = Promise.resolve();

  function getJSON(url) {
    return fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}}).then(function (r) { return r.json(); });
  }
  function setState(st) {
    if (!st || !st.ok) return;
    root.dataset.done = st.done; root.dataset.left = st.left;
    counter.textContent = st.done + ' ' + ds.sDone + ' · ' + st.left + ' ' + ds.sLeft;
    albumEl.textContent = st.collection ? '→ ' + st.collection : ds.sNoAlbum;
    root.dataset.collection = st.collection || '';
    renderSummary(st.counts || {});
  }
  function renderSummary(counts) {
    var dl = document.getElementById('cull-summary-list'), lab = dl.dataset;
    dl.textContent = '';
    var add = function (key, label) {
      var dt = document.createElement('dt'), dd = document.createElement('dd');
      dt.textContent = label; dd.textContent = counts[key] || 0; dd.dataset.key = key;
      dl.appendChild(dt); dl.appendChild(dd);
    };
    add('keep', lab.keep); add('reject', lab.reject);
    ['0', '1', '2', '3'].forEach(function (n) { add('rate:' + n, lab.rate + n); });
    add('adult', lab.adult); add('collect', lab.collect);
  }
  function fetchMore() {
    if (!more) return Promise.resolve(0);
    if (fetching) return fetching;
    var q = query ? query + '&' : '';
    fetching = getJSON('/api/media?' + q + 'after=' + encodeURIComponent(after)).then(function (r) {
      fetching = null;
      if (!r.ok) { SV.toast((r.error && r.error.message) || r.error || 'error', true); more = false; return 0; }
      var items = r.items || [];
      items.forEach(function (it) { if (queue.indexOf(String(it.id)) < 0) queue.push(String(it.id)); });
      after = r.next || ''; more = !!r.next;
      return items.length;
    }, function () { fetching = null; return 0; });
    return fetching;
  }
  function show() {
    var id = queue[0];
    if (!id) {
      if (more) { fetchMore().then(function (n) { if (n > 0 || !more) show(); }); return; }
      end();
      return;
    }
    summary.hidden = true; stage.hidden = false;
    var loadingEl = document.getElementById('cull-loading'); if (loadingEl) loadingEl.remove();
    root.dataset.current = id;
    SV.mediaInfo(id).then(function (info) {
      if (root.dataset.current !== id) return;
      viewer.show(info); SV.infoPanel(infoBox, info);
      root.dataset.adult = info.adult ? '1' : '0';
    }).catch(function (err) { SV.toast(err.message, true); });
    if (queue[1]) SV.preload(queue[1]);
    else if (more) fetchMore().then(function () { if (queue[1]) SV.preload(queue[1]); });
  }
  function end() {
    root.dataset.current = '';
    stage.hidden = true; summary.hidden = false;
    chain = chain.then(function () {
      return SV.post('/cull/finish', {pass: pass}).then(function (r) { if (r.ok) setState(r); root.dataset.finished = '1'; });
    });
  }
  function decide(action, value) {
    var id = queue[0];
    if (!id) return;
    var advances = action === 'keep' || action === 'reject' || action === 'rate';
    // The POST is chained before the view moves on: at the end of the
    // list, moving on chains the pass's finish, which must come after.
    chain = chain.then(function () {
      return SV.post('/cull/decide', {pass: pass, media_id: id, action: action, value: value == null ? '' : value}).then(function (r) {
        if (!r.ok) {
          SV.toast(r.error || 'error', true);
          // Refused: the media waits for a decision again.
          if (advances && queue[0] !== id) { queue.unshift(id); if (history[history.length - 1] === id) history.pop(); show(); }
          return;
        }
        setState(r);
        SV.forgetInfo(id);
        if (!advances && root.dataset.current === id) show(); // 18+ changed: re-read
        if (action === 'collect' && r.collection) SV.toast('→ ' + r.collection);
      });
    });
    if (advances) { history.push(queue.shift()); show(); }
  }
  function undo() {
    chain = chain.then(function () {
      return SV.post('/cull/undo', {pass: pass}).then(function (r) {
        if (!r.ok) { SV.toast(r.error || 'error', true); return; }
        setState(r);
        root.dataset.finished = '';
        var id = String(r.undone.media_id);
        SV.forgetInfo(id);
        if (queue[0] !== id) {
          queue.unshift(id);
          if (history[history.length - 1] === id) history.pop();
        }
        SV.toast(ds.sUndone);
        show();
      });
    });
  }
  function step(d) {
    if (d > 0 && queue[0]) { history.push(queue.shift()); show(); }
    else if (d < 0 && history.length) { queue.unshift(history.pop()); show(); }
  }

  document.getElementById('cull-actions').addEventListener('click', function (e) {
    var b = e.target.closest('button'); if (!b) return;
    if (b.hasAttribute('data-cull-undo')) undo();
    else if (b.hasAttribute('data-cull-finish')) { queue = []; more = false; end(); }
    else if (b.dataset.cull) decide(b.dataset.cull, b.dataset.value);
  });
  SV.addKeys('cull', [['k', t('k.keep')], ['d, Delete', t('k.reject')], ['0 1 2 3', t('k.rate')], ['a', t('k.adult')],
    ['c', t('k.collect')], ['z', t('k.undo')], ['← →', t('k.prevnext')], ['i', t('k.info')], ['f', t('k.zoom')],
    ['+ -', t('k.zoominout')], ['Esc', t('k.back')]].concat(SV.copyHelp));
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var k = e.key, id = queue[0];
    if (k === 'k') decide('keep');
    else if (k === 'd' || k === 'Delete') decide('reject');
    else if (/^[0-3]$/.test(k)) decide('rate', k);
    else if (k === 'a') decide('adult');
    else if (k === 'c') decide('collect');
    else if (k === 'z') undo();
    else if (k === 'ArrowRight') step(1);
    else if (k === 'ArrowLeft') step(-1);
    else if (k === 'i') infoBox.hidden = !infoBox.hidden;
    // b shows a blurred 18+ media (or blurs it again), as gallery.js does
    // for cards and dialogs; the culling stage is neither.
    else if (k === 'b') viewer.box.classList.toggle('revealed');
    else if (k === 'Escape') location.href = ds.back;
    else if (SV.copyKeys[k] && id) SV.copyMedia(id, SV.copyKeys[k]);
    else if (!viewer.key(k)) return;
    e.preventDefault();
  });

  // Start (or resume) the pass, then walk from where it stands.
  var begin = pass ? getJSON('/api/cull?pass=' + pass) : SV.post('/cull/start', {query: query});
  begin.then(function (r) {
    if (!r.ok) { SV.toast((r.error && r.error.message) || r.error || 'error', true); return; }
    pass = r.pass.id; root.dataset.pass = pass;
    setState(r);
    after = r.after || '';
    if (r.current) queue.push(String(r.current));
    if (r.pass.finished_at) { more = false; end(); return; }
    root.dataset.ready = '1';
    show();
  });
})();
