/* Intygsportalen: the one script. Everything works without it; it only enhances.
   - htmx configuration compatible with the strict CSP (no eval, no injected styles)
   - the CSRF token on every htmx request
   - focus after swaps: to an error summary, a dialog, or the new page heading */
(function () {
  "use strict";
  document.documentElement.classList.remove("app-no-js");
  document.documentElement.classList.add("app-js");

  if (window.htmx) {
    htmx.config.allowEval = false;
    htmx.config.allowScriptTags = false;
    htmx.config.includeIndicatorStyles = false;
    htmx.config.selfRequestsOnly = true;
    htmx.config.historyCacheSize = 0;
    htmx.config.refreshOnHistoryMiss = true;
    htmx.config.scrollIntoViewOnBoost = false;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = csrfToken();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var focus = target.querySelector("[data-app-focus]") || (target.matches("[data-app-focus]") ? target : null);
    if (focus) {
      if (!focus.hasAttribute("tabindex")) { focus.setAttribute("tabindex", "-1"); }
      focus.focus();
    }
    var live = document.getElementById("app-live");
    var message = target.querySelector("[data-app-announce]");
    if (live && message) {
      live.textContent = "";
      window.setTimeout(function () { live.textContent = message.getAttribute("data-app-announce"); }, 50);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var focus = document.querySelector(".app-error-summary[data-app-focus]");
    if (focus) { focus.focus(); }
  });
})();
