// Lightbox, copy keys and the key help (issue #23): plain JavaScript, no
// build step. One key means one thing everywhere (the design's key table):
// the list acts on the focused card, the lightbox and the culling page
// (cull.js) on the media they show. The viewer (zoom, pan, preload), the
// media info and copying are shared with cull.js through window.SuperVisor.
(function () {
  'use strict';
  var SV = window.SuperVisor, t = SV.t;

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function typing(e) {
    var tag = (e.target.tagName || '').toLowerCase();
    return tag === 'input' || tag === 'textarea' || tag === 'select' || e.target.isContentEditable;
  }

  // ---- media info: one small JSON per media (prompt, parameters, the
  // A1111 text, 18+), cached for the page's life so flipping back and
  // forth and the copy keys cost no second request ----
  var infoCache = {};
  function mediaInfo(id) {
    id = String(id);
    if (!infoCache[id]) {
      infoCache[id] = fetch('/api/media/info?id=' + encodeURIComponent(id), {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.json(); })
        .then(function (r) { if (!r.ok) { delete infoCache[id]; throw new Error(r.error || 'error'); } return r; })
        .catch(function (err) { delete infoCache[id]; throw err; });
    }
    return infoCache[id];
  }
  function forget(id) { delete infoCache[String(id)]; }

  // ---- copy: the Clipboard API where the page is a secure context; on
  // plain http from another machine (a LAN address is not one) a hidden
  // textarea and execCommand('copy'). The textarea stays (hidden) with the
  // last copied text, so a person or a test can see what was copied. ----
  var copyFields = {prompt: 'prompt', negative: 'negative', params: 'parameters', seed: 'seed'};
  function fallbackCopy(text) {
    var ta = document.getElementById('sv-copy-buffer');
    if (!ta) {
      ta = el('textarea', 'sv-copy-buffer'); ta.id = 'sv-copy-buffer';
      ta.setAttribute('aria-hidden', 'true'); ta.tabIndex = -1; ta.readOnly = true;
      document.body.appendChild(ta);
    }
    var active = document.activeElement;
    ta.value = text; ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
    if (active && active.focus) active.focus({preventScroll: true});
    return ok;
  }
  function copyText(text) {
    if (window.isSecureContext && navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }
  function copyMedia(id, what) {
    var name = t('what.' + what);
    return mediaInfo(id).then(function (info) {
      var text = info[copyFields[what]] || '';
      if (!text) { SV.toast(t('none', name), true); return false; }
      return copyText(text).then(function (ok) {
        SV.toast(ok ? t('copied', name) : t('copy_failed'), !ok);
        return ok;
      });
    }).catch(function (err) { SV.toast(err.message || 'error', true); return false; });
  }
  var copyKeys = {p: 'prompt', n: 'negative', g: 'params', s: 'seed'};
  // Buttons: <button data-copy="prompt" data-id="7">.
  document.addEventListener('click', function (e) {
    var b = e.target.closest('[data-copy]');
    if (!b) return;
    e.preventDefault();
    var id = b.dataset.id || (b.closest('[data-media-id]') || {dataset: {}}).dataset.mediaId;
    if (id) copyMedia(id, b.dataset.copy);
  });

  // ---- the viewer: one media in a stage, fit or zoomed, panned by drag,
  // zoomed by wheel, pinch or keys; used by the lightbox and cull.js ----
  function Viewer(stage) {
    this.stage = stage; this.box = el('div', 'lb-media'); stage.appendChild(this.box);
    this.scale = 1; this.fit = 1; this.tx = 0; this.ty = 0; this.mode = 'fit'; this.media = null;
    this.pointers = {}; this.pinch = 0;
    var v = this;
    stage.addEventListener('wheel', function (e) { if (!v.media) return; e.preventDefault(); v.zoomBy(Math.pow(1.0015, -e.deltaY)); }, {passive: false});
    stage.addEventListener('pointerdown', function (e) {
      if (!v.media || e.button > 0 || e.target.closest('video')) return;
      v.pointers[e.pointerId] = {x: e.clientX, y: e.clientY};
      stage.setPointerCapture(e.pointerId);
    });
    stage.addEventListener('pointermove', function (e) {
      var p = v.pointers[e.pointerId]; if (!p) return;
      var ids = Object.keys(v.pointers);
      if (ids.length === 2) {
        // Pinch: the scale follows the distance between the two fingers.
        p.x = e.clientX; p.y = e.clientY;
        var a = v.pointers[ids[0]], b = v.pointers[ids[1]], d = Math.hypot(a.x - b.x, a.y - b.y);
        if (v.pinch) v.zoomBy(d / v.pinch);
        v.pinch = d;
        return;
      }
      v.tx += e.clientX - p.x; v.ty += e.clientY - p.y; p.x = e.clientX; p.y = e.clientY;
      v.apply();
    });
    var up = function (e) { delete v.pointers[e.pointerId]; v.pinch = 0; };
    stage.addEventListener('pointerup', up); stage.addEventListener('pointercancel', up);
    window.addEventListener('resize', function () { if (v.mode === 'fit') v.setFit(); });
  }
  Viewer.prototype.show = function (info) {
    this.box.textContent = '';
    this.info = info;
    // The NSFW contract: the media container says it is 18+, the session's
    // setting (body[data-nsfw]) decides in CSS whether it is blurred.
    if (info.adult) this.box.dataset.adult = '1'; else delete this.box.dataset.adult;
    this.box.classList.remove('revealed');
    var m;
    if (info.type === 'video') {
      m = el('video'); m.controls = true; m.autoplay = true; m.loop = true; m.playsInline = true; m.preload = 'auto';
      m.poster = info.thumb_url; m.src = info.stream_url;
    } else {
      m = el('img'); m.alt = info.title || ''; m.decoding = 'async'; m.src = info.stream_url; m.draggable = false;
    }
    m.className = 'lb-el'; m.dataset.id = info.id;
    this.media = m; this.box.appendChild(m);
    this.box.dataset.id = info.id;
    var v = this;
    var ready = function () { v.setFit(); };
    if (m.tagName === 'IMG' && m.complete && m.naturalWidth) ready(); else m.addEventListener(m.tagName === 'IMG' ? 'load' : 'loadedmetadata', ready, {once: true});
    this.setFit();
  };
  Viewer.prototype.natural = function () {
    var m = this.media, i = this.info || {};
    return {w: m.naturalWidth || m.videoWidth || i.width || 1, h: m.naturalHeight || m.videoHeight || i.height || 1};
  };
  Viewer.prototype.setFit = function () {
    if (!this.media) return;
    var n = this.natural(), r = this.stage.getBoundingClientRect();
    // Fit fills the stage (small images grow too); f shows 100 %.
    this.fit = Math.min((r.width || n.w) / n.w, (r.height || n.h) / n.h);
    this.scale = this.fit; this.tx = 0; this.ty = 0; this.mode = 'fit'; this.apply();
  };
  Viewer.prototype.setActual = function () { this.scale = 1; this.tx = 0; this.ty = 0; this.mode = '100'; this.apply(); };
  Viewer.prototype.toggle = function () { if (this.mode === 'fit') this.setActual(); else this.setFit(); };
  Viewer.prototype.zoomBy = function (f) {
    this.scale = Math.max(0.05, Math.min(16, this.scale * f));
    this.mode = Math.abs(this.scale - 1) < 1e-6 ? '100' : 'custom'; this.apply();
  };
  Viewer.prototype.apply = function () {
    var m = this.media; if (!m) return;
    var n = this.natural();
    m.style.width = (n.w * this.scale) + 'px'; m.style.height = (n.h * this.scale) + 'px';
    m.style.transform = 'translate(' + this.tx + 'px,' + this.ty + 'px)';
    this.stage.dataset.zoom = this.mode;
    this.stage.dataset.scale = this.scale.toFixed(3);
  };
  // key handles the zoom keys (f, +, -); true when it did.
  Viewer.prototype.key = function (k) {
    if (k === 'f') this.toggle();
    else if (k === '+' || k === '=') this.zoomBy(1.25);
    else if (k === '-') this.zoomBy(0.8);
    else return false;
    return true;
  };
  // preload fetches the next media's info and, for an image, its file, so
  // the flip to it shows from the cache at once.
  function preload(id) {
    if (!id) return;
    mediaInfo(id).then(function (info) {
      if (info.type !== 'video') { var im = new Image(); im.decoding = 'async'; im.src = info.stream_url; }
    }).catch(function () {});
  }

  // infoPanel fills el with the prompt, the key parameters and the copy
  // buttons of info.
  function infoPanel(box, info) {
    box.textContent = '';
    box.appendChild(el('h2', 'lb-title', info.title || ('ID ' + info.id)));
    if (info.prompt) box.appendChild(el('p', 'lb-prompt', info.prompt)); else box.appendChild(el('p', 'mute', t('lb.no_prompt')));
    if (info.negative) { var ng = el('p', 'lb-neg'); ng.appendChild(el('strong', null, t('what.negative') + ': ')); ng.appendChild(document.createTextNode(info.negative)); box.appendChild(ng); }
    var dl = el('dl', 'lb-params');
    (info.params || []).forEach(function (kv) { dl.appendChild(el('dt', null, kv[0])); dl.appendChild(el('dd', null, kv[1])); });
    if (info.width) { dl.appendChild(el('dt', null, 'Size')); dl.appendChild(el('dd', null, info.width + '×' + info.height)); }
    box.appendChild(dl);
    var bar = el('p', 'lb-copy');
    [['prompt', 'p'], ['negative', 'n'], ['params', 'g'], ['seed', 's']].forEach(function (c) {
      var b = el('button', null, t('what.' + c[0]) + ' (' + c[1] + ')'); b.type = 'button';
      b.dataset.copy = c[0]; b.dataset.id = info.id; b.title = t('k.copy' + c[1]);
      bar.appendChild(b);
    });
    box.appendChild(bar);
  }

  // quickAction runs a key's media action (/media/action, CSRF, audit) on
  // one media outside a culling pass: k keep, d reject, a 18+, 0–3 rate.
  function quickAction(id, key, adult) {
    var data = {media_id: id};
    if (/^[0-3]$/.test(key)) { data.action = 'rate'; data.rating = key; }
    else if (key === 'k') { data.action = 'checked_toggle'; data.checked_value = '1'; }
    else if (key === 'd') data.action = 'soft_delete';
    else if (key === 'a') { data.action = 'toggle_nsfw'; data.nsfw_value = adult ? '0' : '1'; }
    else return null;
    return SV.post('/media/action', data).then(function (r) {
      SV.toast(r.ok ? (r.message || 'OK') : (r.error || 'error'), !r.ok);
      forget(id);
      return r;
    });
  }

  // ---- the lightbox over the list (or an album, or the detail page) ----
  var grid = document.getElementById('grid'), detail = document.getElementById('detail'), cullPage = document.getElementById('cull');
  var lb = null, viewer = null, infoBox = null, idx = -1, ids = null;
  function cardsOf() { return grid ? Array.prototype.slice.call(grid.querySelectorAll('.card[data-id]')) : []; }
  function itemIds() { return ids || cardsOf().map(function (c) { return c.dataset.id; }); }
  function build() {
    lb = el('div', 'lightbox'); lb.id = 'lightbox'; lb.hidden = true;
    lb.setAttribute('role', 'dialog'); lb.setAttribute('aria-modal', 'true'); lb.tabIndex = -1;
    var stage = el('div', 'lb-stage'); stage.id = 'lb-stage'; lb.appendChild(stage);
    viewer = new Viewer(stage);
    infoBox = el('aside', 'lb-info panel'); infoBox.id = 'lb-info'; infoBox.hidden = true; lb.appendChild(infoBox);
    var bar = el('div', 'lb-bar');
    var btn = function (text, title, fn, id) { var b = el('button', null, text); b.type = 'button'; b.title = title; if (id) b.id = id; b.addEventListener('click', fn); bar.appendChild(b); };
    btn('←', t('k.prevnext'), function () { step(-1); }, 'lb-prev');
    btn('→', t('k.prevnext'), function () { step(1); }, 'lb-next');
    btn('⤢', t('k.zoom'), function () { viewer.toggle(); }, 'lb-zoom');
    btn('i', t('k.info'), function () { toggleInfo(); }, 'lb-info-btn');
    btn('✕', t('k.close'), close, 'lb-close');
    var pos = el('span', 'lb-pos'); pos.id = 'lb-pos'; bar.appendChild(pos);
    lb.appendChild(bar);
    document.body.appendChild(lb);
  }
  function toggleInfo(force) {
    infoBox.hidden = force == null ? !infoBox.hidden : !force;
    try { localStorage.setItem('sv-lb-info', infoBox.hidden ? '0' : '1'); } catch (err) { /* private mode */ }
  }
  function open(i, list) {
    if (!lb) build();
    ids = list || null; idx = i;
    lb.hidden = false; document.body.classList.add('lb-open');
    var keep = '0';
    try { keep = localStorage.getItem('sv-lb-info') || '0'; } catch (err) { /* private mode */ }
    infoBox.hidden = keep !== '1';
    lb.focus();
    render();
  }
  function close() {
    if (!lb || lb.hidden) return;
    lb.hidden = true; document.body.classList.remove('lb-open');
    var v = viewer.media; if (v && v.pause) v.pause();
    // The list's focus follows the lightbox: the card last shown.
    var cs = cardsOf();
    if (!ids && cs[idx]) { cs.forEach(function (c) { c.classList.remove('focus'); }); cs[idx].classList.add('focus'); cs[idx].focus(); }
  }
  function render() {
    var list = itemIds(), id = list[idx];
    if (!id) return;
    lb.dataset.id = id; lb.dataset.index = idx;
    document.getElementById('lb-pos').textContent = (idx + 1) + ' / ' + list.length + (grid && grid.dataset.next && !ids ? '+' : '');
    mediaInfo(id).then(function (info) {
      if (lb.dataset.id !== String(id)) return; // flipped on meanwhile
      viewer.show(info); infoPanel(infoBox, info);
      lb.dataset.adult = info.adult ? '1' : '0';
    }).catch(function (err) { SV.toast(err.message, true); });
    // Preload the next media; near the end of the loaded cards, the next
    // keyset page too (never the whole list).
    if (list[idx + 1]) preload(list[idx + 1]);
    else if (!ids && grid && grid.dataset.next) SV.loadMore().then(function () { var l = itemIds(); if (l[idx + 1]) preload(l[idx + 1]); });
  }
  function step(d) {
    var list = itemIds(), n = idx + d;
    if (n < 0) { SV.toast(t('lb.start')); return; }
    if (n < list.length) { idx = n; render(); return; }
    if (ids || !grid || !grid.dataset.next) { SV.toast(t('lb.end')); return; }
    SV.loadMore().then(function (added) {
      if (added > 0 && n < itemIds().length) { idx = n; render(); } else SV.toast(t('lb.end'));
    });
  }
  function focusedCard() {
    var a = document.activeElement, c = a && a.closest ? a.closest('.card[data-id]') : null;
    return c || (grid ? grid.querySelector('.card.focus[data-id]') : null);
  }
  function openCard(card) {
    var i = cardsOf().indexOf(card);
    if (i >= 0) open(i);
  }
  // Every card gets a button that opens it in the lightbox (also for cards
  // infinite scroll appends).
  function addOpeners(root) {
    (root.querySelectorAll ? root.querySelectorAll('.card[data-id]') : []).forEach(function (c) {
      if (c.querySelector('.lb-open')) return;
      var b = el('button', 'lb-open', '⤢'); b.type = 'button'; b.title = t('k.open') + ' (v)'; b.setAttribute('aria-label', t('k.open'));
      c.appendChild(b);
    });
  }
  if (grid) {
    addOpeners(grid);
    new MutationObserver(function () { addOpeners(grid); }).observe(grid, {childList: true});
    grid.addEventListener('click', function (e) {
      var b = e.target.closest('.lb-open'); if (!b) return;
      e.preventDefault(); openCard(b.closest('.card[data-id]'));
    });
  }
  var preview = detail && detail.querySelector('.preview');
  if (preview) {
    var pb = el('button', 'lb-open-detail', '⤢ ' + t('k.open')); pb.type = 'button'; pb.id = 'lb-open-detail';
    pb.addEventListener('click', function () { open(0, [detail.dataset.id]); });
    preview.insertBefore(pb, preview.firstChild);
  }

  // ---- key help (?) on every page: the keys every script registered,
  // grouped by where they work ----
  var help = null;
  function toggleHelp() {
    if (help && !help.hidden) { help.hidden = true; return; }
    if (!help) {
      help = el('div', 'sv-help'); help.id = 'key-help'; help.setAttribute('role', 'dialog'); help.setAttribute('aria-modal', 'true');
      help.tabIndex = -1;
      help.addEventListener('click', function (e) { if (e.target === help) help.hidden = true; });
      document.body.appendChild(help);
    }
    var box = el('div', 'sv-help-box panel'); box.appendChild(el('h2', null, t('help_title')));
    var groups = {}, order = ['all', 'list', 'detail', 'lightbox', 'cull'];
    SV.keyHelp().forEach(function (k) { (groups[k.scope] = groups[k.scope] || []).push(k); });
    Object.keys(groups).forEach(function (s) { if (order.indexOf(s) < 0) order.push(s); });
    order.forEach(function (s) {
      if (!groups[s]) return;
      var sec = el('section', 'sv-help-scope'); sec.dataset.scope = s; sec.appendChild(el('h3', null, t('scope.' + s)));
      var dl = el('dl');
      groups[s].forEach(function (k) { var dt = el('dt'); dt.appendChild(el('kbd', null, k.keys)); dl.appendChild(dt); dl.appendChild(el('dd', null, k.what)); });
      sec.appendChild(dl); box.appendChild(sec);
    });
    help.textContent = ''; help.appendChild(box); help.hidden = false; help.focus();
  }

  var copyHelp = [['p', t('k.copyp')], ['n', t('k.copyn')], ['g', t('k.copyg')], ['s', t('k.copys')]];
  SV.addKeys('all', [['?', t('k.help')], ['Esc', t('k.close')]]);
  if (grid) SV.addKeys('list', [['Space, v', t('k.open')], ['k', t('k.keep')], ['d, Delete', t('k.reject')], ['a', t('k.adult')]].concat(copyHelp));
  if (detail) SV.addKeys('detail', [['Space, v', t('k.open')]].concat(copyHelp));
  if (grid || detail) {
    SV.addKeys('lightbox', [['← →', t('k.prevnext')], ['f', t('k.zoom')], ['+ -', t('k.zoominout')], ['i', t('k.info')],
      ['0 1 2 3', t('k.rate')], ['k', t('k.keep')], ['d, Delete', t('k.reject')], ['a', t('k.adult')]].concat(copyHelp));
  }

  // One listener ahead of app.js's (capture on window): while the help or
  // the lightbox is open, keys belong to them alone.
  window.addEventListener('keydown', function (e) {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    var k = e.key, stop = function () { e.preventDefault(); e.stopImmediatePropagation(); };
    if (help && !help.hidden) { if (k === 'Escape' || k === '?') help.hidden = true; stop(); return; }
    if (k === '?') { toggleHelp(); stop(); return; }
    if (lb && !lb.hidden) {
      if (k === 'b') return; // reveal an 18+ media: gallery.js, on the lightbox (a dialog)
      stop();
      var id = lb.dataset.id;
      if (k === 'Escape') close();
      else if (k === 'ArrowRight') step(1);
      else if (k === 'ArrowLeft') step(-1);
      else if (k === 'i') toggleInfo();
      else if (viewer.key(k)) { /* zoomed */ }
      else if (copyKeys[k]) copyMedia(id, copyKeys[k]);
      else if (k === 'Delete' || /^[0-3kda]$/.test(k)) {
        var p = quickAction(id, k === 'Delete' ? 'd' : k, lb.dataset.adult === '1');
        // A rejected media leaves the list: show the next one.
        if (p && (k === 'd' || k === 'Delete')) p.then(function (r) { if (r.ok) step(1); });
      }
      return;
    }
    if (cullPage) return; // cull.js has its own keys
    if (detail) {
      var did = detail.dataset.id;
      if (k === ' ' || k === 'v') { stop(); open(0, [did]); } else if (copyKeys[k]) { stop(); copyMedia(did, copyKeys[k]); }
      return;
    }
    var card = focusedCard();
    if (!card) return;
    if (k === ' ' || k === 'v') { stop(); openCard(card); }
    else if (copyKeys[k]) { stop(); copyMedia(card.dataset.id, copyKeys[k]); }
    else if (k === 'k' || k === 'd' || k === 'Delete' || k === 'a') {
      stop();
      var p = quickAction(card.dataset.id, k === 'Delete' ? 'd' : k, card.classList.contains('nsfw'));
      p.then(function (r) {
        if (!r.ok) return;
        if (k === 'a') {
          // The card follows the NSFW display contract (data-adult).
          if (card.classList.toggle('nsfw')) card.dataset.adult = '1'; else delete card.dataset.adult;
        }
        else card.classList.add(k === 'k' ? 'checked' : 'deleted');
      });
    }
  }, true);

  SV.mediaInfo = mediaInfo; SV.forgetInfo = forget; SV.copyMedia = copyMedia; SV.copyText = copyText;
  SV.Viewer = Viewer; SV.preload = preload; SV.infoPanel = infoPanel; SV.copyKeys = copyKeys; SV.copyHelp = copyHelp;
  SV.openLightbox = open;
})();
