/* pcapline report script: plotly loading, lazy charts, the connection table, copy buttons.
   Vanilla JS, no library but plotly.js (embedded in this file's page). Fetches nothing:
   every piece of data is read from <script type="application/json"> elements. */
(function () {
  "use strict";

  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function gunzip(base64) {
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error(
        "this browser cannot unpack the report's embedded data (no DecompressionStream); " +
        "open the report in a current Chrome, Edge, Firefox or Safari"));
    }
    var bin = atob(base64.trim());
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  // Script data: plain JSON, or gzip+base64 JSON when data-encoding="gzip" (large payloads).
  function readJson(id) {
    var el = document.getElementById(id);
    if (!el) return Promise.resolve(null);
    if (el.dataset.encoding === "gzip") return gunzip(el.textContent).then(JSON.parse);
    try { return Promise.resolve(JSON.parse(el.textContent)); } catch (e) { return Promise.reject(e); }
  }

  // ------------------------------------------------------------ plotly
  // Milliseconds since navigation start at each stage (read by the browser tests).
  var timings = window.pcaplineTimings = { script: performance.now(), drawn: {} };
  var plotlyReady = loadPlotly().then(function (P) { timings.plotly = performance.now(); return P; });

  function loadPlotly() {
    var packed = document.getElementById("plotly-gzip");
    if (!packed) {
      return window.Plotly ? Promise.resolve(window.Plotly) : Promise.reject(new Error("plotly.js missing"));
    }
    return gunzip(packed.textContent).then(function (source) {
      // Indirect eval: run the bundle in global scope, as a <script> would.
      (0, eval)(source);
      return window.Plotly;
    });
  }

  var config = json("plotly-config") || {};
  var template = json("plotly-template");

  function draw(div) {
    if (div.dataset.state) return;
    div.dataset.state = "drawing";
    div.classList.add("loading");
    Promise.all([plotlyReady, readJson("fig-" + div.dataset.fig)]).then(function (loaded) {
      var Plotly = loaded[0], fig = loaded[1];
      var layout = fig.layout || {};
      if (template) layout.template = template;
      return Plotly.newPlot(div, fig.data, layout, config).then(function () {
        div.classList.remove("loading");
        div.dataset.state = "drawn";
        timings.drawn[div.dataset.fig] = performance.now();
        if (div.dataset.fig === "timeline") bindTimelineClicks(div);
      });
    }).catch(function (err) {
      div.classList.remove("loading");
      div.dataset.state = "error";
      div.innerHTML = "";
      var p = document.createElement("p");
      p.className = "plot-error";
      p.textContent = "Chart not drawn: " + err.message;
      div.appendChild(p);
    });
  }

  var plots = document.querySelectorAll(".plot[data-fig]");
  if ("IntersectionObserver" in window) {
    // Charts are drawn when they come near the viewport: 50 sections open as fast as one.
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (e.isIntersecting) { observer.unobserve(e.target); draw(e.target); }
      });
    }, { rootMargin: "400px 0px" });
    plots.forEach(function (d) { observer.observe(d); });
  } else {
    plots.forEach(draw);
  }
  // The capture timeline, the page's overview just below the verdict, is drawn as soon as
  // plotly is loaded and the browser idle, not when scrolled to: on a big capture its draw
  // takes seconds, better spent while the reader reads the verdict than after the scroll.
  var overview = document.querySelector('.plot[data-fig="timeline"]');
  if (overview) {
    plotlyReady.then(function () {
      var go = function () { draw(overview); };
      if ("requestIdleCallback" in window) window.requestIdleCallback(go, { timeout: 1000 });
      else setTimeout(go, 0);
    });
  }
  window.pcaplineDrawAll = function () {
    plots.forEach(draw);
    return plotlyReady;
  };
  // Printing (or saving as PDF) should show every chart, not only those scrolled past.
  window.addEventListener("beforeprint", window.pcaplineDrawAll);

  function bindTimelineClicks(div) {
    div.on("plotly_click", function (ev) {
      var pt = ev.points && ev.points[0];
      if (!pt || pt.customdata === undefined) return;
      // Bars carry their id alone (SVG) or as the first of [id, duration] (WebGL).
      var id = typeof pt.customdata === "number" ? pt.customdata : pt.customdata[0];
      openConnection(Number(id));
    });
  }

  // ------------------------------------------------------------ connection table
  var table = { columns: [], rows: [], colours: {} };
  var col = {};
  var PAGE = 100;
  var state = { key: "id", dir: 1, text: "", fate: "", page: 0, only: null };
  var tbody = document.querySelector("#conn-table tbody");
  var colours = {};

  function isV6(ip) { return ip.indexOf(":") >= 0; }

  // Same string as html.wireshark_filter() in Python (a browser test checks they agree).
  function wsFilter(r) {
    var net = isV6(r[col.client_ip]) ? "ipv6" : "ip";
    function way(a, p, b, q) {
      return "((" + net + ".src eq " + a + " and tcp.srcport eq " + p + ") and (" +
        net + ".dst eq " + b + " and tcp.dstport eq " + q + "))";
    }
    return way(r[col.client_ip], r[col.client_port], r[col.server_ip], r[col.server_port]) + " or " +
      way(r[col.server_ip], r[col.server_port], r[col.client_ip], r[col.client_port]);
  }
  window.pcaplineWiresharkFilter = function (id) {
    var r = table.rows.find(function (row) { return row[col.id] === id; });
    return r ? wsFilter(r) : null;
  };

  function endpoint(ip, port) { return isV6(ip) ? "[" + ip + "]:" + port : ip + ":" + port; }

  function matches(r) {
    if (state.only !== null) return r[col.id] === state.only;
    if (state.fate && r[col.fate] !== state.fate) return false;
    if (!state.text) return true;
    var t = state.text;
    if (t.charAt(0) === "#") return String(r[col.id]) === t.slice(1);
    var hay = (endpoint(r[col.client_ip], r[col.client_port]) + " " +
      endpoint(r[col.server_ip], r[col.server_port]) + " " + r[col.fate] + " " + r[col.who] + " " +
      r[col.app]).toLowerCase();
    return hay.indexOf(t) >= 0;
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function copyButton(text) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "copy";
    b.textContent = "copy";
    b.dataset.copy = text;
    return b;
  }

  function num(n) { return n.toLocaleString("en-US"); }

  // Same text as fmt.duration() in Python (the text report's table): 0s, 42us, 1.5ms, 2.25s,
  // 3m07s, 1h02m05s (a browser test checks they agree).
  function dur(s) {
    if (s < 0) return "-" + dur(-s);
    if (s === 0) return "0s";
    if (s < 0.001) return (s * 1e6).toFixed(0) + "us";
    if (s < 1) return (s * 1000).toFixed(1) + "ms";
    if (s < 60) return s.toFixed(2) + "s";
    var m = Math.floor(pyRound(s) / 60), sec = pyRound(s) % 60;
    var two = (sec < 10 ? "0" : "") + sec;
    if (m < 60) return m + "m" + two + "s";
    var mm = m % 60;
    return Math.floor(m / 60) + "h" + (mm < 10 ? "0" : "") + mm + "m" + two + "s";
  }
  // Python's round(): halves to even.
  function pyRound(x) {
    var r = Math.round(x);
    return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }
  window.pcaplineDuration = dur;

  function render() {
    var rows = table.rows.filter(matches);
    var k = col[state.key], dir = state.dir;
    rows.sort(function (a, b) {
      var x = a[k], y = b[k];
      if (x < y) return -dir;
      if (x > y) return dir;
      return a[col.id] - b[col.id];
    });
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var frag = document.createDocumentFragment();
    rows.slice(state.page * PAGE, (state.page + 1) * PAGE).forEach(function (r) {
      var tr = document.createElement("tr");
      var id = r[col.id];
      tr.dataset.conn = id;
      if (!r[col.section]) tr.className = "no-section";
      var idCell = cell(tr, "", "num");
      if (r[col.section]) {
        var a = document.createElement("a");
        a.href = "#conn-" + id;
        a.textContent = "#" + id;
        idCell.appendChild(a);
      } else {
        idCell.textContent = "#" + id;
        idCell.title = "no detail section: open it in Wireshark with its filter";
      }
      cell(tr, endpoint(r[col.client_ip], r[col.client_port]), "addr");
      cell(tr, endpoint(r[col.server_ip], r[col.server_port]), "addr");
      var f = cell(tr, "");
      var badge = document.createElement("span");
      badge.className = "fate";
      badge.textContent = r[col.fate];
      badge.style.setProperty("--c", colours[r[col.fate]] || "#757575");
      f.appendChild(badge);
      cell(tr, "+" + dur(r[col.start]), "num").title = r[col.start].toFixed(6) + " s";
      cell(tr, dur(r[col.duration]), "num").title = r[col.duration].toFixed(6) + " s";
      cell(tr, num(r[col.packets]), "num");
      cell(tr, num(r[col.bytes_client]), "num");
      cell(tr, num(r[col.bytes_server]), "num");
      cell(tr, r[col.retries] ? num(r[col.retries]) : "", "num");
      cell(tr, r[col.who]);
      cell(tr, r[col.app], "app");
      var ws = cell(tr, "", "ws");
      var code = document.createElement("code");
      code.textContent = "tcp.stream eq " + id;
      ws.appendChild(code);
      ws.appendChild(copyButton("tcp.stream eq " + id));
      var full = copyButton(wsFilter(r));
      full.textContent = "copy address filter";
      full.title = wsFilter(r);
      ws.appendChild(full);
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
    document.getElementById("page-info").textContent = rows.length
      ? "page " + (state.page + 1) + " of " + pages : "";
    document.getElementById("page-prev").disabled = state.page === 0;
    document.getElementById("page-next").disabled = state.page >= pages - 1;
    document.getElementById("table-count").textContent = num(rows.length) + " of " +
      num(table.rows.length) + " connections" + (state.only !== null ? " (showing #" + state.only + "; clear the filter to see all)" : "");
    document.querySelectorAll("#conn-table th[data-key]").forEach(function (th) {
      th.classList.toggle("sorted-asc", th.dataset.key === state.key && state.dir === 1);
      th.classList.toggle("sorted-desc", th.dataset.key === state.key && state.dir === -1);
    });
  }

  document.querySelectorAll("#conn-table th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.dataset.key;
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      render();
    });
  });
  var filterInput = document.getElementById("table-filter");
  var fateSelect = document.getElementById("table-fate");
  filterInput.addEventListener("input", function () {
    state.text = filterInput.value.trim().toLowerCase();
    state.only = null;
    state.page = 0;
    render();
  });
  fateSelect.addEventListener("change", function () {
    state.fate = fateSelect.value;
    state.only = null;
    state.page = 0;
    render();
  });
  document.getElementById("page-prev").addEventListener("click", function () { state.page--; render(); });
  document.getElementById("page-next").addEventListener("click", function () { state.page++; render(); });

  // A row opens its section; clicks on links and copy buttons keep their own meaning.
  tbody.addEventListener("click", function (ev) {
    if (ev.target.closest("a, button")) return;
    var tr = ev.target.closest("tr");
    if (tr && !tr.classList.contains("no-section")) location.hash = "conn-" + tr.dataset.conn;
  });

  function openConnection(id) {
    if (document.getElementById("conn-" + id)) {
      location.hash = "conn-" + id;
      return;
    }
    showInTable(id);
  }

  function showInTable(id) {
    state.only = id;
    state.text = "";
    state.fate = "";
    filterInput.value = "#" + id;
    fateSelect.value = "";
    state.page = 0;
    render();
    document.getElementById("connections").scrollIntoView();
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("a.table-link, a.fate-filter, button.copy");
    if (!t) return;
    if (t.classList.contains("copy")) {
      copyText(t.dataset.copy, t);
    } else if (t.classList.contains("table-link")) {
      ev.preventDefault();
      showInTable(Number(t.dataset.conn));
    } else {
      state.fate = t.dataset.fate;
      fateSelect.value = state.fate;
      state.text = "";
      filterInput.value = "";
      state.only = null;
      state.page = 0;
      render();
    }
  });

  function copyText(text, button) {
    function done() {
      button.classList.add("done");
      setTimeout(function () { button.classList.remove("done"); }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(text); done(); });
    } else {
      legacyCopy(text);
      done();
    }
  }

  function legacyCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try offline */ }
    document.body.removeChild(ta);
  }

  readJson("conn-data").then(function (data) {
    table = data || table;
    table.columns.forEach(function (name, i) { col[name] = i; });
    colours = table.colours || {};
    render();
    document.getElementById("conn-table").dataset.state = "ready";
  }).catch(function (err) {
    document.getElementById("table-count").textContent = "Table not shown: " + err.message;
  });
})();
