/// The console's style sheet and script, served by Seam (`/console/assets/…`): no CDN, no
/// framework. The script only refreshes the pipeline page's live figures.
enum ConsoleAssets {
    static let css = """
        :root { --ink: #1d2330; --muted: #5c6577; --line: #d8dde6; --bg: #f6f7f9; --ok: #1a7f37; --bad: #c62828; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: var(--bg); }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #20283a; color: #fff; }
        header .brand { font-weight: 700; letter-spacing: .04em; }
        header nav a { color: #cfd6e4; text-decoration: none; margin-right: 18px; }
        header nav a.current, header nav a:hover { color: #fff; border-bottom: 2px solid #7aa2ff; }
        main { padding: 16px 24px 48px; max-width: 1180px; }
        h1 { font-size: 22px; margin: 8px 0 16px; }
        h2 { font-size: 17px; margin: 28px 0 8px; }
        h3 { font-size: 15px; margin: 18px 0 6px; }
        p.note { color: var(--muted); margin: 4px 0 12px; }
        table { border-collapse: collapse; background: #fff; margin: 6px 0 14px; }
        th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; white-space: nowrap; vertical-align: top; }
        th { background: #eef1f5; font-weight: 600; }
        td[data-field], td[data-live], td[data-rate], td.num { text-align: right; font-variant-numeric: tabular-nums; }
        td.wrap { white-space: normal; max-width: 420px; }
        a { color: #2554c7; }
        .flag { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
        .flag.ok { background: #e3f4e8; color: var(--ok); }
        .flag.raised { background: #fde7e7; color: var(--bad); }
        .cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px; }
        .card .label { color: var(--muted); font-size: 12px; }
        .card .value { font-size: 20px; font-weight: 600; }
        .card .value.small { font-size: 13px; }
        svg.chart { background: #fff; border: 1px solid var(--line); width: 100%; max-width: 680px; display: block; margin: 6px 0 14px; }
        svg.chart text { font-size: 11px; }
        svg.chart text:not([fill]) { fill: var(--muted); }
        svg.chart text.axis { font-weight: 600; }
        .lead.win { color: var(--ok); font-weight: 600; }
        .lead.lose { color: var(--bad); font-weight: 600; }
        pre.payload { max-width: 420px; max-height: 120px; overflow: auto; background: #fff; border: 1px solid var(--line); padding: 6px; margin: 0; white-space: pre-wrap; word-break: break-all; text-align: left; }
        form.login { background: #fff; border: 1px solid var(--line); padding: 16px; max-width: 420px; }
        form.login input[type=password] { width: 100%; padding: 6px; margin: 8px 0; }
        """

    static let js = """
        // Seam console: refreshes the pipeline page's live figures every five seconds and shows
        // rates from the difference between two readings. Nothing else needs script.
        "use strict";
        (function () {
          var live = document.getElementById("live");
          if (!live) { return; }
          var previous = null;
          function show(figures) {
            var now = Date.now();
            Object.keys(figures).forEach(function (name) {
              var cell = live.querySelector('[data-live="' + name + '"]');
              if (cell) { cell.textContent = String(figures[name]); }
              var rate = live.querySelector('[data-rate="' + name + '"]');
              if (rate && previous && previous.figures[name] !== undefined) {
                var seconds = (now - previous.at) / 1000;
                rate.textContent = seconds > 0 ? ((figures[name] - previous.figures[name]) / seconds).toFixed(1) + " /s" : "–";
              }
            });
            previous = { at: now, figures: figures };
          }
          function poll() {
            fetch("/console/pipeline/live", { credentials: "same-origin" })
              .then(function (response) { return response.ok ? response.json() : null; })
              .then(function (figures) { if (figures) { show(figures); } })
              .catch(function () {});
          }
          poll();
          setInterval(poll, 5000);
        })();
        """
}
