// Behaviours every page shares, kept out of the HTML so that the Content-Security-Policy
// can forbid inline script. Each is opt-in by a data- attribute and does nothing without it.
(function () {
  "use strict";

  // <textarea data-counter="id-of-output" maxlength="N">: "n/N" as the person types.
  function counters() {
    document.querySelectorAll("[data-counter]").forEach(function (field) {
      var output = document.getElementById(field.getAttribute("data-counter"));
      if (!output) { return; }
      var max = field.getAttribute("maxlength");
      var update = function () {
        output.textContent = field.value.length + (max ? "/" + max : "");
      };
      field.addEventListener("input", update);
      update();
    });
  }

  // <form data-confirm="…">: ask before sending (closing, merging, refusing).
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  // A form is sent once: its submit buttons are disabled while the page is being left.
  function sendOnce() {
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (event.defaultPrevented) { return; }
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          window.setTimeout(function () { button.disabled = true; }, 0);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    counters();
    confirmations();
    sendOnce();
  });
})();
