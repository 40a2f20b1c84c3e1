// larder's only script: a Copy button beside each set-up snippet. The page
// works without it; the buttons exist only where they can work.
"use strict";
document.querySelectorAll(".snippet pre").forEach(function (pre) {
  var button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  button.addEventListener("click", function () {
    var text = pre.textContent.trim();
    var done = function (ok) {
      button.textContent = ok ? "Copied" : "Select and copy";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    // The Clipboard API needs a secure context (https or localhost);
    // otherwise fall back on a selection and execCommand.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
    } else {
      done(fallback(text));
    }
  });
  pre.parentNode.insertBefore(button, pre);
});

function fallback(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  var ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  document.body.removeChild(area);
  return ok;
}
