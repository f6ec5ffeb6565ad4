// Compare: the list's "Compare" button (enabled for 2–4 selected cards) and
// the compare page's synced zoom and pan. Plain JavaScript, no build step.
(function () {
  'use strict';
  var MIN = 2, MAX = 4;

  // ---- list: the selection bar's Compare button ----
  var btn = document.getElementById('bulk-compare');
  if (btn) {
    var picked = function () {
      return Array.prototype.map.call(document.querySelectorAll('input.sel:checked'), function (i) { return i.value; });
    };
    var update = function () { var n = picked().length; btn.disabled = n < MIN || n > MAX; };
    // Selections change by click, by key (x) and by scripts that set
    // .checked without an event: the count the selection bar shows is the
    // one signal all of them update.
    document.addEventListener('change', update);
    var count = document.getElementById('bulk-count');
    if (count && 'MutationObserver' in window) new MutationObserver(update).observe(count, {childList: true, characterData: true, subtree: true});
    btn.addEventListener('click', function () {
      var ids = picked(); if (ids.length < MIN || ids.length > MAX) return;
      location.href = '/compare?ids=' + ids.join(',');
    });
    update();
  }

  // ---- compare page: one zoom and pan for every pane ----
  var page = document.getElementById('compare');
  if (!page) return;
  var panes = Array.prototype.slice.call(page.querySelectorAll('.cmp-pane'));
  // z: magnification relative to "fit" (1 = each media fits its pane);
  // cx, cy: the media point at the pane's centre, as fractions of its
  // width and height. The same state in every pane shows the same part of
  // media of different resolutions (an upscale beside its source).
  var st = {z: 1, cx: 0.5, cy: 0.5}, active = panes[0];
  var ZMIN = 0.1, ZMAX = 64;

  function geo(p) {
    var view = p.querySelector('.cmp-view'), m = p.querySelector('.cmp-media');
    var nw = m.naturalWidth || m.videoWidth || 0, nh = m.naturalHeight || m.videoHeight || 0;
    var w = view.clientWidth, h = view.clientHeight;
    if (!nw || !nh || !w || !h) return null;
    var fit = Math.min(w / nw, h / nh);
    var s = fit * st.z;
    return {view: view, m: m, nw: nw, nh: nh, w: w, h: h, fit: fit, s: s,
      left: w / 2 - st.cx * nw * s, top: h / 2 - st.cy * nh * s};
  }
  function apply() {
    panes.forEach(function (p) {
      var g = geo(p); if (!g) return;
      g.m.style.width = g.nw + 'px'; g.m.style.height = g.nh + 'px';
      g.m.style.transform = 'translate(' + g.left + 'px,' + g.top + 'px) scale(' + g.s + ')';
      p.dataset.scale = g.s.toFixed(4);
      // Zoomed in past 100 %: show the pixels, not a blur.
      g.view.classList.toggle('pixels', st.z > 1 && g.s > 1);
    });
    page.dataset.zoom = st.z.toFixed(4);
    var out = document.getElementById('cmp-zoom'), g0 = geo(active || panes[0]);
    if (out) out.textContent = st.z === 1 ? document.getElementById('cmp-fit').textContent : (g0 ? Math.round(g0.s * 100) + ' %' : '');
  }
  // zoomAt changes z by factor keeping the media point under (px, py) of
  // pane p where it is.
  function zoomAt(p, factor, px, py) {
    var g = geo(p); if (!g) return;
    var z = Math.min(ZMAX, Math.max(ZMIN, st.z * factor));
    if (px == null) { px = g.w / 2; py = g.h / 2; }
    var u = (px - g.left) / (g.nw * g.s), v = (py - g.top) / (g.nh * g.s);
    var s2 = g.fit * z;
    st.z = z;
    st.cx = (g.w / 2 - px) / (g.nw * s2) + u;
    st.cy = (g.h / 2 - py) / (g.nh * s2) + v;
    apply();
  }
  function fit() { st = {z: 1, cx: 0.5, cy: 0.5}; apply(); }
  // actual: 100 % of the pane last used (its pixels one to one); the
  // others show the same part at the same magnification relative to fit.
  function actual() { var g = geo(active); if (g) { st.z = 1 / g.fit; apply(); } }
  function toggle() { if (Math.abs(st.z - 1) < 1e-6) actual(); else fit(); }

  panes.forEach(function (p) {
    var view = p.querySelector('.cmp-view'), m = p.querySelector('.cmp-media');
    m.addEventListener('load', apply);
    m.addEventListener('loadedmetadata', apply);
    view.addEventListener('wheel', function (e) {
      e.preventDefault(); active = p;
      var r = view.getBoundingClientRect();
      // Firefox reports lines (deltaMode 1) or pages (2), Chromium pixels.
      var dy = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? view.clientHeight : 1);
      zoomAt(p, Math.pow(1.0015, -dy), e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    view.addEventListener('dblclick', function () { active = p; toggle(); });
    var drag = null;
    view.addEventListener('pointerdown', function (e) {
      // A video's own controls keep their clicks.
      if (e.button !== 0 || (m.tagName === 'VIDEO' && e.offsetY > view.clientHeight - 40)) return;
      active = p; drag = {x: e.clientX, y: e.clientY}; view.setPointerCapture(e.pointerId); view.classList.add('dragging');
    });
    view.addEventListener('pointermove', function (e) {
      if (!drag) return;
      var g = geo(p); if (!g) return;
      st.cx -= (e.clientX - drag.x) / (g.nw * g.s); st.cy -= (e.clientY - drag.y) / (g.nh * g.s);
      drag = {x: e.clientX, y: e.clientY}; apply();
    });
    var end = function () { drag = null; view.classList.remove('dragging'); };
    view.addEventListener('pointerup', end); view.addEventListener('pointercancel', end);
    view.addEventListener('focus', function () { active = p; });
  });
  document.getElementById('cmp-fit').addEventListener('click', fit);
  document.getElementById('cmp-100').addEventListener('click', actual);
  document.getElementById('cmp-in').addEventListener('click', function () { zoomAt(active, 1.25); });
  document.getElementById('cmp-out').addEventListener('click', function () { zoomAt(active, 0.8); });
  window.addEventListener('resize', apply);

  // Keys as everywhere (f fit/100 %, + and - zoom); arrows pan the focused
  // view by a tenth of it.
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey) return;
    var g = geo(active), step = 0.1 / st.z;
    switch (e.key) {
      case 'f': toggle(); break;
      case '+': case '=': zoomAt(active, 1.25); break;
      case '-': zoomAt(active, 0.8); break;
      case 'ArrowLeft': if (!g || e.target.closest('.cmp-view') === null) return; st.cx -= step; apply(); break;
      case 'ArrowRight': if (!g || e.target.closest('.cmp-view') === null) return; st.cx += step; apply(); break;
      case 'ArrowUp': if (!g || e.target.closest('.cmp-view') === null) return; st.cy -= step; apply(); break;
      case 'ArrowDown': if (!g || e.target.closest('.cmp-view') === null) return; st.cy += step; apply(); break;
      default: return;
    }
    e.preventDefault();
  });
  if (window.SuperVisor && window.SuperVisor.addKeys) {
    window.SuperVisor.addKeys('compare', [['f', page.dataset.keyFit], ['+ / -', page.dataset.keyZoom], ['← ↑ → ↓', page.dataset.keyPan]]);
  }
  apply();
})();
