// Gallery list and 18+ display (#23 items 7 and 9): plain JavaScript, no
// build step. The justified grid and the blur are CSS (gallery.css); this
// script only sets the density, reveals a blurred 18+ media on a click or
// the b key, and applies the 18+ menu choice at once.
(function () {
  'use strict';
  var body = document.body, SV = window.SuperVisor || {};

  // ---- density S/M/L: per browser (localStorage), default M ----
  var densities = ['s', 'm', 'l'];
  function setDensity(d, keep) {
    if (densities.indexOf(d) < 0) d = 'm';
    body.dataset.density = d;
    document.querySelectorAll('[data-density]').forEach(function (b) {
      if (b !== body) b.setAttribute('aria-pressed', String(b.dataset.density === d));
    });
    if (keep) { try { localStorage.setItem('sv-density', d); } catch (err) { /* private mode */ } }
  }
  var saved = 'm';
  try { saved = localStorage.getItem('sv-density') || 'm'; } catch (err) { /* no storage */ }
  setDensity(saved, false);
  var dens = document.getElementById('density');
  if (dens) {
    dens.hidden = false; // the switch needs this script
    dens.addEventListener('click', function (e) {
      var b = e.target.closest('button[data-density]');
      if (b) setDensity(b.dataset.density, true);
    });
  }

  // ---- 18+ menu: a choice applies at once (the Apply button without JS) ----
  var nsfwSel = document.getElementById('nsfw-select');
  if (nsfwSel) nsfwSel.addEventListener('change', function () { nsfwSel.form.requestSubmit(); });

  // ---- reveal: the first click on a blurred 18+ media shows it instead
  // of following its link; b shows or blurs again the focused one ----
  function blurred(elm) {
    return body.dataset.nsfw === 'blur' && elm && elm.dataset.adult === '1' && !elm.classList.contains('revealed');
  }
  document.querySelectorAll('[data-adult="1"]').forEach(function (a) { if (body.dataset.reveal) a.title = body.dataset.reveal; });
  document.addEventListener('click', function (e) {
    var a = e.target.closest('[data-adult="1"]');
    if (!blurred(a) || e.target.closest('input, label, button, select')) return;
    e.preventDefault(); e.stopPropagation();
    a.classList.add('revealed');
  }, true);
  // The media the b key acts on: the focused card, else the one media of
  // the page or overlay (detail preview, lightbox).
  function target() {
    var f = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-adult]');
    if (f) return f;
    var all = document.querySelectorAll('.preview[data-adult], [role=dialog]:not([hidden]) [data-adult], dialog[open] [data-adult]');
    return all.length ? all[all.length - 1] : null;
  }
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (e.key !== 'b' || tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = target();
    if (!t || t.dataset.adult !== '1' || body.dataset.nsfw !== 'blur') return;
    t.classList.toggle('revealed');
    e.preventDefault();
  });
  if (SV.addKeys && body.dataset.keyReveal) SV.addKeys('all', [['b', body.dataset.keyReveal]]);
})();
