/* Relance: the little behaviour htmx does not cover. Loaded deferred, after htmx (and SortableJS).
 *
 * - `n` opens the automation builder from any page, for editors (the script tag carries its URL
 *   in data-new-automation-url only for them), unless focus is in a field or a modifier is held.
 * - Priority drag and drop: each `.sortable` tbody becomes a SortableJS list; dropping a row in a
 *   new place fires a `reorder` event that its hx-post listens to. In the builder, the automation
 *   being built is dragged among its trigger's others (`#placement`, a `placed` event).
 * - Dialogs: a <dialog data-modal> swapped in by htmx opens as a modal (focus moves into it,
 *   Escape closes it); `data-opens-dialog="id"` on a button opens that dialog instead of submitting;
 *   a successful htmx request from inside a dialog closes it; focus goes back where it belongs.
 * - `data-focus` on a swapped-in element receives the focus (after moving a row, toggling it).
 * - 4xx answers of elements marked `data-swap-errors` are swapped in (they carry the message).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var newAutomationUrl = script ? script.getAttribute("data-new-automation-url") : null;

  function isTyping(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
  }

  document.addEventListener("keydown", function (event) {
    if (!newAutomationUrl || event.defaultPrevented || event.repeat) return;
    if (event.key !== "n" || event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    if (event.isComposing || isTyping(event.target) || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    window.location.assign(newAutomationUrl);
  });

  function each(root, selector, fn) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  // Rows dragged by their handle; `moved(event)` runs when one lands somewhere else.
  function makeSortable(list, rows, moved) {
    if (typeof window.Sortable === "undefined" || window.Sortable.get(list)) return;
    window.Sortable.create(list, {
      handle: ".drag-handle",
      draggable: rows,
      animation: 150,
      ghostClass: "sortable-ghost",
      onEnd: function (event) {
        if (event.oldIndex !== event.newIndex) moved(event);
      },
    });
  }

  function initSortable(list) {
    makeSortable(list, "tr", function () {
      htmx.trigger(list, "reorder");
    });
  }

  // The builder's placement list: only the automation being built has a handle; dropping it
  // records the automation now below it in the form's place_before and redraws the builder
  // (the server says again which automations are never reached).
  function initPlacement(list) {
    makeSortable(list, ".place-row", function () {
      var input = document.getElementById("place_before");
      var draft = list.querySelector("[data-draft]");
      if (!input || !draft) return;
      var below = draft.nextElementSibling;
      input.value = (below && below.getAttribute("data-automation")) || "";
      htmx.trigger(input, "placed");
    });
  }

  function openDialog(dialog) {
    if (dialog.open) return;
    dialog._relanceReturnFocus = document.activeElement;
    dialog.showModal();
  }

  function initDialog(dialog) {
    if (dialog._relanceReady) return;
    dialog._relanceReady = true;
    dialog.addEventListener("close", function () {
      var selector = dialog.getAttribute("data-return-focus");
      var target = (selector && document.querySelector(selector)) || dialog._relanceReturnFocus;
      if (dialog.hasAttribute("data-remove-on-close")) dialog.remove();
      if (target && target.isConnected && target.focus) target.focus();
    });
    if (dialog.hasAttribute("data-modal")) openDialog(dialog);
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-opens-dialog]");
    if (!opener) return;
    var dialog = document.getElementById(opener.getAttribute("data-opens-dialog"));
    if (!dialog || !dialog.showModal) return; // no dialog support: the form goes to the confirm page
    event.preventDefault();
    initDialog(dialog);
    openDialog(dialog);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var dialog = elt && elt.closest && elt.closest("dialog");
    if (dialog && dialog.open && event.detail.successful) dialog.close();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (status >= 400 && status < 500 && elt && elt.hasAttribute && elt.hasAttribute("data-swap-errors")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Any other refused request says why in the page's live region rather than failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    if (!flash) return;
    var xhr = event.detail.xhr;
    var type = xhr.getResponseHeader("Content-Type") || "";
    var text = type.indexOf("text/plain") === 0 && xhr.responseText.length < 300 ? xhr.responseText : "";
    var message = document.createElement("p");
    message.className = "message message-error";
    message.textContent = text || "That did not work (error " + xhr.status + "). Reload the page and try again.";
    flash.replaceChildren(message);
  });

  htmx.onLoad(function (root) {
    each(root, ".sortable", initSortable);
    each(root, "#placement", initPlacement);
    each(root, "dialog", initDialog);
    each(root, "[data-focus]", function (element) {
      element.removeAttribute("data-focus");
      element.focus();
    });
  });
})();
