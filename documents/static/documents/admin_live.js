// The admin's document list and change page follow the documents they show while those are
// queued, processing or waiting for the search index: every 2 s they ask the admin's live
// endpoint (DocumentAdmin.live_view) for the fields of the ones still moving, put them in place,
// and stop asking once none moves. Nothing is asked on a page where nothing moves.
(function () {
  "use strict";

  const INTERVAL_MS = 2000;
  const script = document.currentScript;
  const url = script.dataset.liveUrl;

  // id -> the element holding that document's fields: its row of the list, or the change form.
  function movingDocuments() {
    const found = new Map();
    if (script.dataset.documentId) {
      if (script.dataset.moving === "true") {
        found.set(script.dataset.documentId, document.getElementById("content") || document.body);
      }
      return found;
    }
    for (const box of document.querySelectorAll("#result_list input.action-select")) {
      const row = box.closest("tr");
      if (row.querySelector('[data-moving="true"]')) found.set(box.value, row);
    }
    return found;
  }

  // The server renders each field (escaped) as the admin does: a list cell (td.field-NAME) or a
  // change page's read-only field (.field-NAME .readonly).
  function show(scope, cells) {
    for (const [name, html] of Object.entries(cells)) {
      for (const element of scope.querySelectorAll(`td.field-${name}, .field-${name} .readonly`)) {
        if (element.innerHTML !== html) element.innerHTML = html;
      }
    }
  }

  const following = movingDocuments();

  async function poll() {
    if (document.hidden) return later();  // nobody looks: ask when someone does
    const query = [...following.keys()].map((id) => `id=${encodeURIComponent(id)}`).join("&");
    let reply;
    try {
      const response = await fetch(`${url}?${query}`, {headers: {Accept: "application/json"}});
      if (response.redirected || response.status === 403) return;  // signed out meanwhile
      if (!response.ok) return later();
      reply = await response.json();
    } catch (error) {  // the server restarting, the network gone: try again
      return later();
    }
    for (const [id, scope] of following) {
      const state = reply.documents[id];
      if (state) show(scope, state.cells);
      if (!state || !state.moving) following.delete(id);  // deleted meanwhile, or settled
    }
    if (following.size) later();
  }

  function later() {
    setTimeout(poll, INTERVAL_MS);
  }

  if (following.size) later();
})();
