// airlock dashboard: live rollout figures. Pages read in full without this script; with it,
// every element with data-live="URL" is refreshed from that URL (an HTML fragment the server
// rendered and escaped) every few seconds, while the tab is visible. When the session has
// ended (the refresh was sent to the sign-in page), the tab goes to sign in, and back here after.
"use strict";
(function () {
  const PERIOD_MS = 2000;
  function refresh(el) {
    if (document.hidden) return;
    fetch(el.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        const to = r.redirected ? new URL(r.url) : null;
        if (to && to.origin === location.origin && to.pathname === "/ui/sign-in") {
          const back = "/ui/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
          location.assign(to.searchParams.get("expired") === "1" ? back + "&expired=1" : back);
        }
        if (r.redirected || !r.ok) { throw new Error("status " + r.status); }
        return r.text();
      })
      .then(function (html) {
        // replace only on change, so keyboard focus inside stays put while nothing moves
        if (el.dataset.last === html) return;
        const focused = document.activeElement && el.contains(document.activeElement)
          ? document.activeElement.textContent : null;
        el.dataset.last = html;
        el.innerHTML = html;
        if (focused) {
          for (const b of el.querySelectorAll("button, a")) {
            if (b.textContent === focused) { b.focus(); break; }
          }
        }
      })
      .catch(function () { /* the page stays as it was; the next tick tries again */ });
  }
  document.addEventListener("DOMContentLoaded", function () {
    for (const el of document.querySelectorAll("[data-live]")) {
      setInterval(function () { refresh(el); }, PERIOD_MS);
    }
  });
})();
