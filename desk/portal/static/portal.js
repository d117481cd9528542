// ATUM Desk portal: enhancements only. Every page works without this script; with it,
// open pages follow the server's live events, SLA clocks tick, and keys move around.
"use strict";

(function () {
  const body = document.body;

  // --- SLA clocks: the rules of desk/portal/sla_display.py, repeated to tick ------------

  function span(seconds) {
    const whole = Math.floor(Math.abs(seconds));
    const sign = seconds < 0 && whole ? "-" : "";
    const d = Math.floor(whole / 86400);
    const h = Math.floor((whole % 86400) / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const s = whole % 60;
    let parts;
    if (d) parts = [d + "d", h ? h + "h" : ""];
    else if (h) parts = [h + "h", m ? m + "m" : ""];
    else if (m) parts = [m + "m"];
    else parts = [s + "s"];
    return sign + parts.filter(Boolean).join(" ");
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-tick]").forEach(function (item) {
      const due = Date.parse(item.dataset.due);
      if (isNaN(due)) return;
      const text = item.querySelector(".sla-text");
      let tone = item.dataset.tone;
      if (tone === "breached") {
        text.textContent = span(-(now - due) / 1000);
        return;
      }
      const left = (due - now) / 1000;
      const warn = item.dataset.warn ? Date.parse(item.dataset.warn) : NaN;
      // Never negative nor red before the server says it breached.
      text.textContent = span(Math.max(left, 0));
      tone = left <= 0 || (!isNaN(warn) && now >= warn) ? "warning" : "ok";
      item.classList.toggle("sla-ok", tone === "ok");
      item.classList.toggle("sla-warning", tone === "warning");
    });
  }

  // A customer's one word moves on as its clock runs: at risk, then overdue.
  function tickWords() {
    const now = Date.now();
    document.querySelectorAll("[data-word-due]").forEach(function (word) {
      const due = Date.parse(word.dataset.wordDue);
      const warn = word.dataset.wordWarn ? Date.parse(word.dataset.wordWarn) : NaN;
      let text = null;
      if (now >= due) text = "Overdue";
      else if (!isNaN(warn) && now >= warn) text = "At risk";
      if (!text || word.textContent === text) return;
      word.textContent = text;
      word.className = "sla-word sla-word-" + text.toLowerCase().replace(" ", "-");
    });
  }

  // The exact instant on hover, in the viewer's own time zone.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      const at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      const label = el.dataset.label ? el.dataset.label + " due " : "";
      el.title = label + at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "long" });
    });
  }

  // --- live updates --------------------------------------------------------------------

  let refreshing = null;
  let again = false;

  function changed(field) {
    if (field.type === "hidden") return false;
    if (field.tagName === "SELECT") {
      return Array.from(field.options).some(function (o) { return o.selected !== o.defaultSelected; });
    }
    if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
    if (field.type === "file") return field.files && field.files.length > 0;
    return field.value !== field.defaultValue;
  }

  function keeps(part) {
    // Never replace what the person is typing in or has chosen but not yet sent.
    const active = document.activeElement;
    if (active && part.contains(active) && active.matches("textarea, input, select")) return true;
    return Array.from(part.querySelectorAll("input, select, textarea")).some(changed);
  }

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = (async function () {
      try {
        const response = await fetch(location.href, { headers: { "X-Live-Refresh": "1" }, credentials: "same-origin" });
        if (response.redirected || !response.ok) { if (response.status === 401 || response.redirected) location.reload(); return; }
        const doc = new DOMParser().parseFromString(await response.text(), "text/html");
        document.querySelectorAll("[data-live-part][id]").forEach(function (part) {
          if (keeps(part)) return;
          const fresh = doc.getElementById(part.id);
          if (fresh) part.replaceWith(document.importNode(fresh, true));
          else part.remove();
        });
        doc.querySelectorAll("[data-live-part][id]").forEach(function (fresh) {
          if (!document.getElementById(fresh.id)) {
            const before = fresh.previousElementSibling && document.getElementById(fresh.previousElementSibling.id);
            if (before) before.after(document.importNode(fresh, true));
          }
        });
        localTimes(document);
        tick();
        tickWords();
        rows();
      } catch (e) {
        // The next event or the stream's reconnection brings the page up to date.
      }
    })();
    await refreshing;
    refreshing = null;
    if (again) { again = false; refresh(); }
  }

  let timer = null;
  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 100);
  }

  function listen() {
    if (!("liveTicket" in body.dataset || "liveList" in body.dataset || "liveNotifications" in body.dataset || "live" in body.dataset)) return;
    if (!window.EventSource) return;
    const state = document.getElementById("live-state");
    // From the moment the page was rendered: nothing committed since is missed.
    const after = body.dataset.liveAfter;
    const source = new EventSource("/events" + (after ? "?after=" + after : ""));
    const ticket = body.dataset.liveTicket;
    function onTicket(event) {
      const data = JSON.parse(event.data || "{}");
      if ("liveList" in body.dataset || (ticket && data.ticket_id === ticket)) soon();
    }
    source.addEventListener("ticket", onTicket);
    source.addEventListener("attachment", onTicket);
    source.addEventListener("notification", function () { soon(); });
    // The stream cannot resume where this page left off (it was away too long).
    source.addEventListener("reset", function () { location.reload(); });
    source.addEventListener("open", function () { if (state) state.textContent = "live"; });
    source.addEventListener("error", function () {
      if (state) state.textContent = "reconnecting…";
      // Refused for good (signed out, session over): the reload shows the sign-in page.
      if (source.readyState === EventSource.CLOSED) setTimeout(function () { location.reload(); }, 3000);
    });
  }

  // --- keyboard ------------------------------------------------------------------------

  function ticketRows() { return Array.from(document.querySelectorAll("[data-ticket-row]")); }

  function rows() {
    const list = ticketRows();
    if (list.length) {
      sessionStorage.setItem("desk.list", JSON.stringify(list.map(function (r) { return r.dataset.href; })));
    }
  }

  let selected = -1;
  function select(index) {
    const list = ticketRows();
    if (!list.length) return false;
    selected = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (r, i) { r.classList.toggle("selected", i === selected); });
    list[selected].querySelector("a").focus();
    return true;
  }

  function neighbour(step) {
    // On a ticket page: the next or previous ticket of the list it was opened from.
    let list = [];
    try { list = JSON.parse(sessionStorage.getItem("desk.list") || "[]"); } catch (e) { list = []; }
    const i = list.indexOf(location.pathname);
    if (i >= 0 && list[i + step]) location.href = list[i + step];
  }

  let pendingG = false;
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.matches && target.matches("input, textarea, select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const dialog = document.getElementById("shortcuts");
    const key = event.key;
    if (pendingG) {
      pendingG = false;
      const go = { q: "/queue", i: "/inbox", t: "/tickets" }[key];
      if (go) { location.href = go; event.preventDefault(); }
      return;
    }
    if (key === "?") { if (dialog) { dialog.open ? dialog.close() : dialog.showModal(); } event.preventDefault(); return; }
    if (key === "g") { pendingG = true; return; }
    if (key === "j" || key === "k") {
      const step = key === "j" ? 1 : -1;
      if (!select(selected + step) && "liveTicket" in body.dataset) neighbour(step);
      event.preventDefault();
      return;
    }
    if ((key === "Enter" || key === "o") && selected >= 0) {
      const row = ticketRows()[selected];
      if (row) { location.href = row.dataset.href; event.preventDefault(); }
      return;
    }
    if (key === "/") {
      const search = document.getElementById("q");
      if (search) { search.focus(); event.preventDefault(); } else { location.href = "/tickets"; }
      return;
    }
    if (key === "r" || key === "n") {
      const reply = document.getElementById("reply");
      if (!reply) return;
      const internal = document.getElementById("internal");
      if (internal) internal.checked = key === "n";
      reply.focus();
      event.preventDefault();
    }
  });

  localTimes(document);
  tick();
  tickWords();
  setInterval(function () { tick(); tickWords(); }, 1000);
  rows();
  listen();
})();
