// The console's only script: live alerts (EventSource on /console/stream), and the buttons that call the
// existing JSON APIs (/alerting/api/silences, /actions/api/actions) with the session's CSRF token.
"use strict";
(function () {
  const body = document.body;
  const prefix = body.dataset.prefix || "/console";
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  async function api(method, url, payload) {
    const init = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const resp = await fetch(url, init);
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    if (!resp.ok) throw new Error(data.error || resp.status + " " + resp.statusText);
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function showError(id, err) {
    const box = document.getElementById(id);
    if (box) box.textContent = err.message || String(err);
  }

  // ------------------------------------------------------------------ alerts
  function alertsPage() {
    const table = document.getElementById("live-alerts");
    const tbody = table.querySelector("tbody");
    const badge = document.getElementById("live-state");
    const i18n = document.getElementById("i18n").dataset;
    const rows = new Map();          // fingerprint -> <tr>
    const notes = new Map();         // notification id -> {receiver, fingerprints}
    let refreshTimer = null;

    function row(fp) {
      let tr = rows.get(fp);
      if (!tr) {
        tr = document.createElement("tr");
        tr.dataset.fingerprint = fp;
        tr.className = "live-alert";
        for (const name of ["status", "alert", "labels", "summary", "since", "receiver", "muted", "delivery"]) {
          tr.appendChild(el("td", "", "c-" + name));
        }
        tbody.insertBefore(tr, tbody.firstChild);
        rows.set(fp, tr);
      }
      return tr;
    }

    function onAlert(env) {
      const a = env.data || {};
      const tr = row(a.fingerprint);
      tr.dataset.alertname = (a.labels || {}).alertname || a.rule || "";
      tr.dataset.status = a.status;
      tr.querySelector(".c-status").textContent = a.status;
      tr.querySelector(".c-status").className = "c-status status-" + a.status;
      tr.querySelector(".c-alert").textContent = (a.labels || {}).alertname || a.rule;
      const labels = tr.querySelector(".c-labels");
      labels.textContent = "";
      for (const [k, v] of Object.entries(a.labels || {})) { labels.appendChild(el("code", k + "=" + v)); labels.append(" "); }
      tr.querySelector(".c-summary").textContent = (a.annotations || {}).summary || "";
      tr.querySelector(".c-since").textContent = (a.starts_at || "").replace("T", " ").slice(0, 19);
      tr.classList.remove("fresh"); void tr.offsetWidth; tr.classList.add("fresh");
      scheduleRefresh();
    }

    function onNotification(env) {
      const n = env.data || {};
      const fps = (n.alerts || []).map((a) => a.fingerprint);
      notes.set(env.id, { receiver: n.receiver, fingerprints: fps });  // the envelope id is the notification id
      for (const fp of fps) {
        const tr = rows.get(fp);
        if (tr) setDelivery(tr, n.receiver, "sent");
      }
    }

    function onDelivery(env) {
      const d = env.data || {};
      const n = notes.get(d.notification_id);
      if (!n) return;
      for (const fp of n.fingerprints) {
        const tr = rows.get(fp);
        if (tr) setDelivery(tr, d.receiver, d.status + (d.reason ? " (" + d.reason + ")" : ""));
      }
    }

    function setDelivery(tr, receiver, outcome) {
      const cell = tr.querySelector(".c-delivery");
      let span = Array.from(cell.children).find((c) => c.dataset.receiver === receiver);
      if (!span) { span = el("div"); span.dataset.receiver = receiver; cell.appendChild(span); }
      span.textContent = receiver + ": " + outcome;
      span.className = "delivery-" + outcome.split(" ")[0];
    }

    // the routing decision (receiver, muted by) is the dispatcher's: re-read its groups after live records
    function scheduleRefresh() {
      if (refreshTimer) return;
      refreshTimer = setTimeout(async () => {
        refreshTimer = null;
        await refreshGroups();
        setTimeout(refreshGroups, 1500);
      }, 300);
    }

    async function refreshGroups() {
      try {
        const resp = await fetch(prefix + "/alerts/groups", { credentials: "same-origin" });
        if (!resp.ok) return;
        document.getElementById("groups").innerHTML = await resp.text();
        applyRouting();
      } catch (e) { /* the next record retries */ }
    }

    function applyRouting() {
      const byFp = new Map();
      for (const g of document.querySelectorAll("#groups tr.group-alert")) {
        const list = byFp.get(g.dataset.fingerprint) || [];
        list.push(g.dataset);
        byFp.set(g.dataset.fingerprint, list);
      }
      for (const [fp, tr] of rows) {
        const groups = byFp.get(fp);
        if (!groups) continue;
        tr.querySelector(".c-receiver").textContent = groups.map((g) => g.receiver).join(", ");
        const muted = tr.querySelector(".c-muted");
        muted.textContent = "";
        let isMuted = false;
        for (const g of groups) {
          if (g.silencedBy) { muted.appendChild(el("span", i18n.silenced + ": " + g.silencedBy, "muted-by silenced")); isMuted = true; }
          if (g.inhibitedBy) { muted.appendChild(el("span", i18n.inhibited + ": " + g.inhibitedBy, "muted-by inhibited")); isMuted = true; }
        }
        tr.classList.toggle("muted-row", isMuted);
        tr.dataset.muted = isMuted ? "1" : "";
      }
    }

    const source = new EventSource(prefix + "/stream?since=" + encodeURIComponent(table.dataset.since));
    source.onopen = () => { badge.textContent = badge.dataset.live; badge.className = "badge live"; };
    source.onerror = () => { badge.textContent = badge.dataset.off; badge.className = "badge off"; };
    const handle = (fn) => (ev) => { try { fn(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
    source.addEventListener("alert", handle(onAlert));
    source.addEventListener("notification", handle(onNotification));
    source.addEventListener("delivery", handle(onDelivery));
    applyRouting();
  }

  // ------------------------------------------------------------------ silences
  function silencesPage() {
    const form = document.getElementById("silence-form");
    const matchers = () => document.getElementById("silence-matchers").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (form) {
      document.getElementById("silence-preview").addEventListener("click", async () => {
        const out = document.getElementById("preview-result");
        try {
          const res = await api("POST", prefix + "/silences/preview",
                                { matchers: matchers(), duration: document.getElementById("silence-duration").value });
          out.textContent = "";
          out.appendChild(el("b", res.count, "preview-count"));
          out.append(" " + out.dataset.label);
          const ul = el("ul");
          for (const a of res.alerts) ul.appendChild(el("li", Object.entries(a.labels).map(([k, v]) => k + "=" + v).join(" ")));
          out.appendChild(ul);
          showError("silence-error", "");
        } catch (e) { showError("silence-error", e); }
      });
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await api("POST", "/alerting/api/silences", {
            matchers: matchers(), duration: document.getElementById("silence-duration").value,
            comment: document.getElementById("silence-comment").value });
          location.reload();
        } catch (e) { showError("silence-error", e); }
      });
    }
    for (const b of document.querySelectorAll("button.silence-expire")) {
      b.addEventListener("click", async () => {
        try { await api("DELETE", "/alerting/api/silences/" + encodeURIComponent(b.dataset.id)); location.reload(); }
        catch (e) { showError("silence-error", e); }
      });
    }
  }

  // ------------------------------------------------------------------ actions
  function actionsPage() {
    const reasonNear = (b) => { const r = b.parentElement.querySelector(".action-reason"); return r ? r.value : ""; };
    const bind = (cls, verb, withReason) => {
      for (const b of document.querySelectorAll("button." + cls)) {
        b.addEventListener("click", async () => {
          b.disabled = true;
          try {
            await api("POST", "/actions/api/actions/" + encodeURIComponent(b.dataset.id) + "/" + verb,
                      withReason ? { reason: reasonNear(b) } : {});
            location.reload();
          } catch (e) { b.disabled = false; showError("action-error", e); }
        });
      }
    };
    bind("action-approve", "approve", false);
    bind("action-reject", "reject", true);
    bind("action-undo", "undo", true);
  }

  // ------------------------------------------------------------------ audit
  function auditPage() {
    for (const tr of document.querySelectorAll("tr.audit-row")) {
      const toggle = () => {
        const doc = document.querySelector('tr.audit-doc[data-doc-for="' + tr.dataset.id + '"]');
        if (doc) doc.hidden = !doc.hidden;
      };
      tr.addEventListener("click", toggle);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") toggle(); });
    }
  }

  const pages = { alerts: alertsPage, silences: silencesPage, actions: actionsPage, audit: auditPage };
  const start = pages[body.dataset.page];
  if (start) start();
})();
