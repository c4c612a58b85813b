// peerwiki web: the list's filter as you type, and live updates. Served
// as a file of the binary: the Content-Security-Policy allows no inline
// script, so nothing a page's text holds can run.
"use strict";

(function () {
  // Filter the list as you type (the form still works without script).
  const filter = document.getElementById("filter");
  const table = document.getElementById("pages");
  if (filter && table) {
    filter.addEventListener("input", function () {
      const q = filter.value.toLowerCase();
      for (const row of table.tBodies[0].rows) {
        const t = (row.dataset.title || "").toLowerCase();
        row.hidden = q !== "" && !t.includes(q);
      }
    });
  }

  // Live updates: the server sends "change" when the wiki's store moves
  // (an edit here, another command, a peer's edit arriving).
  if (!window.EventSource) return;
  const live = document.body.dataset.live === "1";
  const notice = document.getElementById("live-notice");
  let busy = false, again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const res = await fetch(location.href, { headers: { "Accept": "text/html" }, cache: "no-store" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.getElementById("main");
      const main = document.getElementById("main");
      if (fresh && main) {
        const active = document.activeElement && document.activeElement.id;
        const q = filter ? filter.value : null;
        main.replaceWith(document.adoptNode(fresh));
        document.title = doc.title;
        document.body.dataset.updated = String(Date.now());
        // The list's filter keeps what was typed.
        const f = document.getElementById("filter");
        if (f && q !== null) {
          f.value = q;
          f.dispatchEvent(new Event("input"));
          if (active === "filter") f.focus();
        }
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  const events = new EventSource("/events");
  events.addEventListener("change", function (e) {
    const main = document.getElementById("main");
    if (main && Number(e.data) <= Number(main.dataset.commits)) return; // shown already
    if (live) {
      refresh();
    } else if (notice) {
      // A form being filled in is never replaced; it says so instead.
      notice.hidden = false;
    }
  });
  // Replicas connecting or leaving, editors opening or closing a page.
  events.addEventListener("network", function () {
    if (live) refresh();
  });
  const reload = document.getElementById("live-reload");
  if (reload) reload.addEventListener("click", function (e) { e.preventDefault(); location.reload(); });
})();
