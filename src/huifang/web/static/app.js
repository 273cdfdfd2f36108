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
