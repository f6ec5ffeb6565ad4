package web

import (
	"net/http"
	"strings"
	"time"
)

// forgeJS enhances the Forge and ComfyUI panels: it polls job progress
// while a job is queued or running (reloading once one finishes, so its
// previews show), and loads the Forge health state and model list without
// blocking the page. It is served from this origin (as /forge.js and
// /comfy.js, whichever panel is wired) because the CSP forbids inline
// scripts; included twice, it runs once.
const forgeJS = `(function () {
  'use strict';
  if (!window.SuperVisor || window.SuperVisor.panelsPolled) return;
  window.SuperVisor.panelsPolled = true;
  var post = window.SuperVisor.post;
  function text(el, s) { if (el) el.textContent = s; }
  var cp = document.getElementById('comfy-panel');
  if (cp) poll(cp, '/comfy.php');
  var panel = document.getElementById('forge-panel');
  if (!panel) return;
  var mediaID = panel.dataset.mediaId;
  poll(panel, '/forge.php');
  var hb = document.getElementById('forge-health-btn');
  if (hb) hb.addEventListener('click', function () {
    var out = document.getElementById('forge-health-text');
    post('/forge.php', {action: 'health', media_id: mediaID}).then(function (r) {
      var h = r.health || {};
      var s = r.ok ? ('Forge: ' + h.state + (h.reason_code ? ' reason_code=' + h.reason_code : '') + (h.http_code ? ' http_code=' + h.http_code : '') + (h.target_url ? ' target_url=' + h.target_url : ''))
        : ('Forge: ' + (r.reason_code || 'error') + (r.missing_keys ? ' missing_keys=' + r.missing_keys.join(',') : '') + (r.config_path ? ' config_path=' + r.config_path : ''));
      text(out, s);
      out.dataset.state = h.state || r.reason_code || 'error';
    });
  });
  var mb = document.getElementById('forge-models-btn');
  if (mb) mb.addEventListener('click', function () {
    var st = document.getElementById('forge-models-status');
    text(st, '…');
    post('/forge.php', {action: 'models', media_id: mediaID}).then(function (r) {
      if (!r.ok) { text(st, r.reason_code || 'error'); return; }
      var dl = document.getElementById('forge-models');
      while (dl.firstChild) dl.removeChild(dl.firstChild);
      (r.models || []).forEach(function (m) { var o = document.createElement('option'); o.value = m; dl.appendChild(o); });
      text(st, (r.models || []).length + ' models (' + (r.source || r.status) + ')' + (r.reason_code ? ' ' + r.reason_code : ''));
    });
  });
  function poll(panel, url) {
  var mediaID = panel.dataset.mediaId;
  var live = function () { return panel.querySelectorAll('.forge-job[data-live="true"]').length > 0; };
  var delay = 2000;
  var tick = function () {
    if (document.hidden) { setTimeout(tick, delay); return; }
    post(url, {action: 'status', media_id: mediaID}).then(function (r) {
      if (!r.ok) { delay = Math.min(delay * 2, 30000); setTimeout(tick, delay); return; }
      var finished = false;
      (r.jobs || []).forEach(function (j) {
        var li = panel.querySelector('.forge-job[data-job-id="' + j.id + '"]');
        var isLive = j.status === 'queued' || j.status === 'running';
        if (!li) { if (isLive) finished = true; return; }
        if (li.dataset.live === 'true' && !isLive) finished = true;
        var p = li.querySelector('progress');
        if (p && j.progress_bits_total > 0) {
          var pct = Math.max(0, Math.min(100, Math.floor(j.progress_bits * 100 / j.progress_bits_total)));
          p.value = pct; text(li.querySelector('.forge-pct'), pct + '%');
        }
      });
      if (finished) { location.reload(); return; }
      setTimeout(tick, delay);
    }).catch(function () { delay = Math.min(delay * 2, 30000); setTimeout(tick, delay); });
  };
  if (live()) setTimeout(tick, delay);
  }
})();
`

func serveForgeJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	// A fixed modification time lets ServeContent answer conditional
	// requests; the script only changes with the binary.
	http.ServeContent(w, r, "forge.js", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), strings.NewReader(forgeJS))
}
