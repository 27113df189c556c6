// Transition buttons on billing pages: a button whose transition needs a confirmation or a form
// opens its <dialog> (modal: focus moves inside, Escape closes it, focus returns to the button).
// Without this script the same button opens the confirmation on a page of its own.
(function () {
  "use strict";

  function dialogFor(form) {
    var id = form.getAttribute("data-opens-dialog");
    var dialog = id && document.getElementById(id);
    return dialog && typeof dialog.showModal === "function" ? dialog : null;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-opens-dialog")) return;
    var dialog = dialogFor(form);
    if (!dialog) return;
    event.preventDefault();
    if (!dialog.open) dialog.showModal();
  });

  // After a refused attempt the page comes back with that dialog's form and its errors: reopen it.
  function reopen() {
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
      if (dialog.open || typeof dialog.showModal !== "function") return;
      dialog.showModal();
      var invalid = dialog.querySelector(".field-invalid input, .field-invalid select");
      if (invalid) invalid.focus();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reopen);
  } else {
    reopen();
  }
})();
