// Charts: any element with data-chart holds its ECharts option as JSON (no inline scripts,
// so the Content-Security-Policy can forbid them).
function huifangCharts(root) {
  if (typeof echarts === "undefined") return;
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    if (el.dataset.ready) return;
    el.dataset.ready = "1";
    var chart = echarts.init(el);
    chart.setOption(JSON.parse(el.dataset.chart));
    window.addEventListener("resize", function () { chart.resize(); });
  });
}
document.addEventListener("DOMContentLoaded", function () { huifangCharts(document); });
document.addEventListener("htmx:afterSwap", function (e) { huifangCharts(e.target); });

// Policy and script editor: clicking a problem selects its line in the textarea.
document.addEventListener("click", function (e) {
  var item = e.target.closest ? e.target.closest(".config-problem[data-line]") : null;
  if (!item || !item.dataset.line) return;
  var area = document.getElementById("config-content");
  if (!area) return;
  var lines = area.value.split("\n");
  var line = parseInt(item.dataset.line, 10) - 1;
  var start = 0;
  for (var i = 0; i < line && i < lines.length; i++) start += lines[i].length + 1;
  area.focus();
  area.setSelectionRange(start, start + (lines[line] || "").length);
  var height = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, line * height - area.clientHeight / 3);
});
