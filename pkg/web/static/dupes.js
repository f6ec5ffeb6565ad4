// Duplicate review (/dupes, issue #20): keep this (1–9 or its button)
// resolves the group on the server (the kept media receives what the
// others had, they are soft-deleted), keep all (a) and not duplicates
// (n) remember the group, → goes to the next group. Each decision is one
// CSRF POST; the page then loads the next group.
(function () {
  'use strict';
  var root = document.getElementById('dupes');
  var SV = window.SuperVisor;
  if (!root || !SV) return;
  var ds = root.dataset;
  var ids = Array.prototype.map.call(root.querySelectorAll('.dupes-keep'), function (b) { return b.dataset.id; });
  var busy = false;

  function next() { location.href = ds.next || '/dupes'; }
  function send(url, data) {
    if (busy || !ds.group) return;
    busy = true; root.dataset.busy = '1';
    SV.post(url, data).then(function (r) {
      busy = false; root.dataset.busy = '';
      if (!r.ok) { SV.toast(r.error || 'error', true); return; }
      root.dataset.done = '1';
      next();
    });
  }
  function keep(id) {
    send('/dupes/resolve', {keep: id, discard: ids.filter(function (x) { return x !== id; }).join(',')});
  }
  function dismiss(action) { send('/dupes/dismiss', {ids: ids.join(','), action: action}); }

  root.addEventListener('click', function (e) {
    var b = e.target.closest('button'); if (!b) return;
    if (b.classList.contains('dupes-keep')) keep(b.dataset.id);
    else if (b.id === 'dupes-keep-all') dismiss('keep_all');
    else if (b.id === 'dupes-not') dismiss('not_duplicates');
  });
  if (SV.addKeys) {
    SV.addKeys('dupes', [['1–9', ds.keyKeep], ['a', ds.keyAll], ['n', ds.keyNot], ['→', ds.keyNext]]);
  }
  document.addEventListener('keydown', function (e) {
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    var k = e.key;
    if (/^[1-9]$/.test(k) && ids[+k - 1]) keep(ids[+k - 1]);
    else if (k === 'a') dismiss('keep_all');
    else if (k === 'n') dismiss('not_duplicates');
    else if (k === 'ArrowRight') next();
    else return;
    e.preventDefault();
  });
  root.dataset.ready = '1';
})();
