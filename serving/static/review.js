// Keyboard shortcuts of the review pages: c confirms, n opens the next complaint, / focuses the comment.
// The targets are the elements marked data-key="c" | "n" | "/"; keys are ignored while typing in a field.
document.addEventListener("keydown", function (event) {
  var target = event.target, tag = target && target.tagName;
  if (event.ctrlKey || event.metaKey || event.altKey || tag === "INPUT" || tag === "TEXTAREA" ||
      tag === "SELECT" || (target && target.isContentEditable)) return;
  var key = {"c": "c", "n": "n", "/": "/"}[event.key];
  var element = key && document.querySelector('[data-key="' + key + '"]');
  if (!element) return;
  event.preventDefault();
  if (key === "/") element.focus(); else element.click();
});
