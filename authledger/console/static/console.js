// authledger console: the one script. Copy buttons and confirmations; the pages work without it.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button");
  if (!button) return;
  var source = button.getAttribute("data-copy");
  if (source) {
    var text = document.getElementById(source).textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
    }, function () {
      var range = document.createRange();
      range.selectNodeContents(document.getElementById(source));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    });
    return;
  }
  var question = button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
