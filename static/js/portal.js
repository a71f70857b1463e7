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
    /* after an outerHTML swap the target is detached: use its replacement, found by id */
    if (target.id && !document.contains(target)) { target = document.getElementById(target.id) || target; }
    var focus = target.querySelector("[data-app-focus]") || (target.matches("[data-app-focus]") ? target : null);
    if (focus) {
      if (!focus.hasAttribute("tabindex")) { focus.setAttribute("tabindex", "-1"); }
      focus.focus();
    }
    var live = document.getElementById("app-live");
    var message = target.matches("[data-app-announce]") ? target : target.querySelector("[data-app-announce]");
    if (live && message) {
      live.textContent = "";
      window.setTimeout(function () { live.textContent = message.getAttribute("data-app-announce"); }, 50);
    }
  });

  /* A filter with an invalid value answers 400 with the whole page: the error summary and the field's
     message sit outside the swapped block, and htmx does not swap errors. Load that page instead, as
     without JavaScript (its error summary then takes focus). */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr && detail.xhr.status === 400 && detail.requestConfig && detail.requestConfig.verb === "get") {
      detail.shouldSwap = false;
      window.location.assign(detail.xhr.responseURL || detail.pathInfo.finalRequestPath);
    }
  });

  /* A "copy" button (data-app-copy names the field to copy): copies its text and says so in the live region.
     Without JavaScript the button is hidden (app-js-only) and the field is selectable text. */
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-app-copy]") : null;
    if (!button) { return; }
    var field = document.getElementById(button.getAttribute("data-app-copy"));
    if (!field) { return; }
    var live = document.getElementById("app-live");
    function said() {
      if (live) {
        live.textContent = "";
        window.setTimeout(function () { live.textContent = button.getAttribute("data-app-copied") || ""; }, 50);
      }
    }
    field.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(said, function () { document.execCommand("copy"); said(); });
    } else {
      document.execCommand("copy");
      said();
    }
  });

  /* Idle timeout: poll the status (polling does not extend the session); five minutes before the
     end, open the dialog. "Fortsätt vara inloggad" extends without leaving the page; Esc does too. */
  function sessionWatch() {
    var body = document.body;
    var statusUrl = body.getAttribute("data-app-session-status");
    var dialog = document.getElementById("app-timeout");
    if (!statusUrl || !dialog || typeof dialog.showModal !== "function") { return; }
    var pollMs = parseInt(body.getAttribute("data-app-session-poll"), 10) || 30000;
    var timedOut = body.getAttribute("data-app-timed-out");
    var returnFocus = null;
    var extendForm = dialog.querySelector("form[data-app-extend]");
    var left = dialog.querySelector("[data-app-timeout-left]");

    function close() {
      if (dialog.open) { dialog.close(); }
      if (returnFocus && document.contains(returnFocus)) { returnFocus.focus(); }
      returnFocus = null;
    }

    function extend() {
      var data = new FormData(extendForm);
      return fetch(extendForm.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
      }).then(function (response) {
        if (response.status === 204) { close(); } else { window.location.href = timedOut; }
      }, function () { extendForm.submit(); });
    }

    function poll() {
      fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (!s.logged_in || s.remaining <= 0) { window.location.href = timedOut; return; }
          if (s.warning) {
            var minutes = Math.max(1, Math.ceil(s.remaining / 60));
            if (left) { left.textContent = left.getAttribute("data-text-" + (minutes === 1 ? "one" : "many")).replace("%d", minutes); }
            if (!dialog.open) {
              returnFocus = document.activeElement;
              dialog.showModal();
              var first = dialog.querySelector("button");
              if (first) { first.focus(); }
            }
          } else if (dialog.open) {
            close();
          }
        })
        .catch(function () { /* the next poll tries again */ });
    }

    extendForm.addEventListener("submit", function (event) { event.preventDefault(); extend(); });
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); extend(); });
    window.setInterval(poll, pollMs);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var focus = document.querySelector(".app-error-summary[data-app-focus]");
    if (focus) { focus.focus(); }
    Array.prototype.forEach.call(document.querySelectorAll("[data-app-print]"), function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    var auto = document.querySelector("form[data-app-autosubmit]");
    if (auto) { auto.submit(); }
    sessionWatch();
  });
})();
