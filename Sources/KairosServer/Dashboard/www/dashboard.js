// Kairos dashboard: watch, steer and replay simulations through the ordinary /v1 API.
// Every value from the server is inserted as text (textContent, text nodes, Option text),
// never as HTML. The API key lives in sessionStorage and travels only in the X-Api-Key header.
"use strict";

(function () {
  const { Series, Markers, TickChart, MARKERS } = window.KairosChart;

  const KEY_STORAGE = "kairos.dashboard.apiKey";
  const LARGE_STORAGE = "kairos.dashboard.largeType";
  const COMPARE_STORAGE = "kairos.dashboard.compare";
  /** Resuming after this index of a tick group means "after every event of that group". */
  const WHOLE_GROUP = 1000000000;
  /** The newest entries kept in the event log's list (all are counted). */
  const LOG_SHOWN = 400;

  // ENGINE.md (the same on every engine version): phase bands and thresholds of stability.
  const BANDS = [
    { from: 0.6, to: Infinity, label: "stable", color: "rgba(46,125,50,0.10)" },
    { from: 0.35, to: 0.6, label: "strained", color: "rgba(184,134,11,0.13)" },
    { from: 0.15, to: 0.35, label: "critical", color: "rgba(210,105,30,0.15)" },
    { from: -Infinity, to: 0.15, label: "collapsed", color: "rgba(179,38,30,0.17)" },
  ];
  const THRESHOLDS = [
    { y: 0.5, label: "caution warning 0.5", color: "#8a6508", dash: [6, 4] },
    { y: 0.3, label: "danger warning 0.3", color: "#a34d12", dash: [6, 4] },
    { y: 0.15, label: "collapse 0.15 (basin loss)", color: "#b3261e" },
  ];
  const AGENT_COLORS = ["#2a4fb5", "#c2185b", "#2e7d32", "#ef6c00", "#6a3d9a", "#00838f", "#6d4c41", "#455a64"];
  // A fork's comparison with its origin (Okabe–Ito colours, told apart by dash and label too).
  const ORIGIN_COLOR = "#0072b2";
  const ORIGIN_STYLE = { dash: [9, 5], width: 2, alpha: 0.8 };
  const FORK_MARK = { color: "#3d4654", dash: [2, 4], width: 1.5 };
  const PART_MARK = { color: "#d55e00", width: 2 };
  const MAGNITUDE_KINDS = new Set(["capability_jump", "alignment_breakthrough", "guardrail_failure", "guardrail_upgrade", "shock", "reinforce"]);

  const $ = id => document.getElementById(id);

  /** An element with text children only (strings become text nodes). */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (name === "className") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(typeof child === "string" ? document.createTextNode(child) : child);
    return node;
  }

  function formatNumber(v, digits) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 1 });
    return v.toFixed(digits == null ? 3 : digits);
  }

  /** A difference: three decimals, or two significant digits when that would show 0.000. */
  function formatGap(v) {
    return v !== 0 && Math.abs(v) < 0.0005 ? Math.abs(v).toPrecision(2) : formatNumber(Math.abs(v));
  }

  const state = {
    key: null,
    health: null,
    catalog: [],
    openapi: null,
    decreeKinds: [],
    simulations: [],
    listTimer: null,
    view: null,
    jsonTouched: false,
    compare: true,
  };

  // MARK: API

  class ApiError extends Error {
    constructor(status, envelope, retryAfter) {
      const error = envelope && envelope.error;
      super(error ? error.message : "HTTP " + status);
      this.status = status;
      this.code = error ? error.code : null;
      this.details = error ? error.details : null;
      this.requestId = error ? error.requestId : null;
      this.issues = (this.details && Array.isArray(this.details.issues)) ? this.details.issues : [];
      this.retryAfter = retryAfter;
    }
  }

  async function errorOf(response) {
    let envelope = null;
    try { envelope = await response.json(); } catch (e) { /* not JSON */ }
    const retry = Number(response.headers.get("Retry-After"));
    return new ApiError(response.status, envelope, isFinite(retry) && retry > 0 ? retry : null);
  }

  /** A request to the API with the key; `raw` sends text as it is, `body` as JSON. */
  async function api(method, path, options) {
    const { body, raw, accept, signal, publicRoute } = options || {};
    const headers = {};
    if (!publicRoute) headers["X-Api-Key"] = state.key;
    if (accept) headers.Accept = accept;
    let payload;
    if (raw !== undefined) payload = raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: payload, cache: "no-store", credentials: "omit", signal });
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function apiJSON(method, path, options) {
    return (await api(method, path, options)).json();
  }

  const simulationPath = (id, rest) => "/v1/simulations/" + encodeURIComponent(id) + (rest || "");

  /** Shows an API error: each issue next to its field (`fieldFor(path)` names the element), the rest in `fallback`. */
  function showErrors(error, fallback, fieldFor) {
    const general = [];
    if (error instanceof ApiError && error.issues.length) {
      for (const issue of error.issues) {
        const where = issue.line != null ? ` (line ${issue.line}, column ${issue.column})` : "";
        const target = fieldFor ? fieldFor(issue.path) : null;
        const text = (issue.path ? issue.path + ": " : "") + issue.message + where;
        if (target) target.textContent = target.textContent ? target.textContent + "; " + text : text;
        else general.push(text);
      }
      if (general.length === 0) return;
    }
    const message = error instanceof ApiError
      ? `${error.code || "HTTP " + error.status}: ${error.message}` + (general.length ? " — " + general.join("; ") : "")
      : String(error.message || error);
    if (fallback.tagName === "UL") {
      fallback.replaceChildren(el("li", null, message));
    } else {
      fallback.textContent = message;
    }
  }

  function clearErrors(container) {
    for (const node of container.querySelectorAll(".field-error")) node.replaceChildren();
  }

  let toastTimer = null;
  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.textContent = ""; }, 5000);
  }

  const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

  // MARK: Charts

  const markers = new Markers();
  const stabilityChart = new TickChart($("stability-chart"), {
    yMin: 0, yMax: 1, bands: BANDS, lines: THRESHOLDS, markers, measureName: "kairos-stability-draw",
  });
  const agentChart = new TickChart($("agent-chart"), { yMin: 0, yMax: 1, measureName: "kairos-agent-draw" });

  let renderPending = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(render);
  }

  function render() {
    renderPending = false;
    const view = state.view;
    if (!view) return;
    if (view.comparison) view.comparison.refresh();
    if (view.factsDirty) view.renderFacts();
    if (view.logDirty) view.renderLog();
    stabilityChart.drawIfDirty();
    agentChart.drawIfDirty();
    const figure = $("stability-chart").parentElement;
    figure.dataset.points = String(view.stability.length);
    figure.dataset.drawn = String(stabilityChart.drawn);
    for (const m of MARKERS) figure.dataset[m.kind + "Markers"] = String(markers.count(m.kind));
    figure.dataset.pendingDecrees = String(markers.pending.length);
    const c = view.comparison;
    figure.dataset.compare = c ? (state.compare ? "on" : "off") : "";
    figure.dataset.originPoints = c ? String(c.series.length) : "";
    figure.dataset.originDrawn = c && state.compare ? String(stabilityChart.drawnBySeries[1] || 0) : "0";
    figure.dataset.originState = c ? c.state : "";
    figure.dataset.forkTick = c ? String(c.forkTick) : "";
    figure.dataset.comparedTicks = c ? String(c.compared) : "";
    figure.dataset.divergenceTick = c && c.state === "loaded" ? (c.divergence === null ? "none" : String(c.divergence)) : "";
    figure.dataset.maxGapTick = c && c.maxGapTick !== null ? String(c.maxGapTick) : "";
    document.body.dataset.duplicatesDropped = String(view.duplicates);
    document.body.dataset.gaps = String(view.gaps);
    document.body.dataset.connects = String(view.connects);
  }

  function renderLegends() {
    const legend = $("stability-legend");
    legend.replaceChildren();
    const swatch = color => { const s = el("span", { className: "swatch" }); s.style.background = color; return s; };
    legend.append(el("span", null, swatch("#1b2230"), el("span", { id: "legend-stability-name" }, "stability")));
    for (const band of BANDS) legend.append(el("span", null, swatch(band.color), band.label));
    for (const m of MARKERS) legend.append(el("span", null, swatch(m.color), m.label + " (marker row)"));
    // The comparison's entries, shown while a fork is compared with its origin.
    const line = (className, color) => { const s = el("span", { className: "swatch line " + className }); s.style.borderColor = color; return s; };
    legend.append(
      el("span", { className: "compare-legend", id: "legend-origin" }, line("dashed", ORIGIN_COLOR), el("span", { id: "legend-origin-name" }, "origin")),
      el("span", { className: "compare-legend" }, line("dotted", FORK_MARK.color), "fork tick (dotted line)"),
      el("span", { className: "compare-legend" }, line("solid", PART_MARK.color), "branches part (line), largest gap (bar)"));
  }

  /**
   * A fork beside the simulation it was forked from: the origin's stability (read once from
   * its trace, as it was when the fork was opened — following it live would take a second
   * event stream, which a community key does not have), and where the two part.
   *
   * "Part" is the language's `diff` on the two stability lists: the first tick whose values
   * differ (`!==`, as Swift's `!=` on Double: bit for bit for any number JSON carries but
   * 0 and -0), and the largest absolute difference with its first tick, over the ticks both
   * hold. A fork running past the origin's last tick read is not a divergence.
   */
  class Comparison {
    constructor(view, forkedFrom) {
      this.view = view;
      this.originId = String(forkedFrom.simulationId);
      this.forkTick = forkedFrom.tick;
      this.series = new Series("origin", ORIGIN_COLOR, ORIGIN_STYLE);
      this.state = "loading";
      this.error = null;
      this.originRecord = null;
      this.compared = 0;
      this.divergence = null;
      this.maxGap = 0;
      this.maxGapTick = null;
      this.marked = null;
    }

    async load() {
      const signal = this.view.controller.signal;
      try {
        this.originRecord = await apiJSON("GET", simulationPath(this.originId), { signal });
        if (this.originRecord.tick > 0) {
          await readTrace(this.originId, signal, step => this.series.push(step.state.stability), () => {
            this.view.factsDirty = true;
            stabilityChart.invalidate();
            scheduleRender();
          });
        }
        if (this.view.closed) return;
        this.state = "loaded";
      } catch (e) {
        if (this.view.closed) return;
        this.state = "unavailable";
        this.error = e instanceof ApiError ? `${e.code || "HTTP " + e.status}: ${e.message}` : String(e.message || e);
      }
      this.view.factsDirty = true;
      stabilityChart.invalidate();
      scheduleRender();
    }

    /** Compares the ticks both now hold that were not compared yet (both only grow). */
    refresh() {
      const a = this.series, b = this.view.stability;
      const common = Math.min(a.length, b.length);
      if (common <= this.compared) return;
      const x = a.data, y = b.data;
      for (let i = this.compared; i < common; i++) {
        if (this.divergence === null && x[i] !== y[i]) this.divergence = i;
        const gap = Math.abs(y[i] - x[i]);
        if (gap > this.maxGap) { this.maxGap = gap; this.maxGapTick = i; }
      }
      this.compared = common;
      this.view.factsDirty = true;
      const key = `${this.divergence}/${this.maxGapTick}`;
      if (key !== this.marked) {
        this.marked = key;
        if (state.compare) stabilityChart.setAnnotations(this.annotations());
      }
    }

    annotations() {
      const list = [{ tick: this.forkTick, label: `fork at tick ${this.forkTick}`, row: 0, ...FORK_MARK }];
      if (this.divergence !== null) list.push({ tick: this.divergence, label: `branches part at tick ${this.divergence}`, row: 1, ...PART_MARK });
      if (this.maxGapTick !== null) {
        list.push({ tick: this.maxGapTick, label: `largest gap ${formatGap(this.maxGap)} at tick ${this.maxGapTick}`, row: 2,
          from: this.series.data[this.maxGapTick], to: this.view.stability.data[this.maxGapTick], color: PART_MARK.color, width: 3 });
      }
      return list;
    }

    /** The facts panel's two lines. */
    describe() {
      const origin = this.originId.slice(0, 8);
      if (this.state === "unavailable") return { parts: `origin ${origin} unavailable (${this.error})`, gap: "–" };
      const read = this.series.length;
      const liveNote = this.originRecord && this.originRecord.status !== "completed" && this.view.nextTick > read
        ? `; the origin's ${read} ticks as read when this fork was opened (reopen to read more)` : "";
      let parts;
      if (this.state === "loading") parts = `reading the origin's trace… ${read} ticks`;
      else if (this.divergence === null) parts = "no divergence yet";
      else {
        const i = this.divergence;
        const by = this.view.stability.data[i] - this.series.data[i];
        parts = `branches part at tick ${i} (origin ${formatNumber(this.series.data[i])}, fork ${formatNumber(this.view.stability.data[i])}, ${by >= 0 ? "+" : "−"}${formatGap(by)})`;
      }
      const gap = this.maxGapTick === null
        ? `0 over ${this.compared} common ticks${liveNote}`
        : `${formatGap(this.maxGap)} at tick ${this.maxGapTick} (over ${this.compared} common ticks${liveNote})`;
      return { parts, gap };
    }
  }

  /** Shows or hides the open fork's comparison (the toggle), on the chart, legend and facts. */
  function applyComparison() {
    const view = state.view;
    const c = view ? view.comparison : null;
    const on = Boolean(c) && state.compare;
    $("compare-toggle-label").hidden = !c;
    $("compare-toggle").checked = state.compare;
    for (const node of document.querySelectorAll(".compare-legend, .compare-fact")) node.hidden = !on;
    if (c) $("legend-origin-name").textContent = `origin ${c.originId.slice(0, 8)} (dashed)`;
    $("legend-stability-name").textContent = on ? "this fork's stability (solid)" : "stability";
    stabilityChart.setSeries(view ? (on ? [view.stability, c.series] : [view.stability]) : []);
    stabilityChart.setAnnotations(on ? c.annotations() : []);
    if (view) view.factsDirty = true;
    scheduleRender();
  }

  new ResizeObserver(() => { stabilityChart.invalidate(); agentChart.invalidate(); scheduleRender(); })
    .observe($("stability-chart"));

  // MARK: One simulation

  function compareIds(a, b) { return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]; }
  function parseId(text) {
    const m = /^(\d+)-(\d+)$/.exec(text || "");
    return m ? [Number(m[1]), Number(m[2])] : null;
  }

  function scenarioLabel(sim) {
    const origin = sim.forkedFrom ? ` (fork of ${String(sim.forkedFrom.simulationId).slice(0, 8)} at tick ${sim.forkedFrom.tick})` : "";
    if (sim.scenarioId) return sim.scenarioId + origin;
    const agents = (sim.state && sim.state.agents || []).map(a => a.id);
    return "custom scenario" + (agents.length ? ": " + agents.join(", ") : "") + origin;
  }

  class SimulationView {
    constructor(id) {
      this.id = id;
      this.closed = false;
      this.nextTick = 0;
      this.lastEventId = null;
      this.lastEventKey = [-1, -1];
      this.stability = new Series("stability", "#1b2230");
      this.agents = new Map();
      this.latest = null;
      this.record = null;
      this.status = null;
      this.log = [];
      this.logShown = 0;
      this.duplicates = 0;
      this.gaps = 0;
      this.connects = 0;
      this.resyncRequested = false;
      this.historyLoaded = false;
      this.traceTicks = 0;
      this.queue = null;
      this.controller = new AbortController();
      this.stream = null;
      this.factsDirty = true;
      this.logDirty = true;
      this.comparison = null;
      markers.clear();
      stabilityChart.setSeries([this.stability]);
      stabilityChart.setAnnotations([]);
      agentChart.setSeries([]);
      $("event-log").replaceChildren();
      $("digest").textContent = "–";
    }

    close() {
      this.closed = true;
      this.controller.abort();
      if (this.stream) this.stream.abort();
    }

    setRecord(sim) {
      this.record = sim;
      this.setStatus(sim.status);
      $("sim-scenario").textContent = scenarioLabel(sim);
      $("sim-id").textContent = sim.id;
      $("sim-engine").textContent = sim.engineVersion;
      $("sim-origin").textContent = sim.forkedFrom ? `${sim.forkedFrom.simulationId} at tick ${sim.forkedFrom.tick}` : "–";
      this.snapshot = sim.state;
      this.ensureAgents(sim.state.agents);
      if (sim.forkedFrom && !this.comparison) {
        this.comparison = new Comparison(this, sim.forkedFrom);
        this.comparison.load();
      }
      applyComparison();
      this.factsDirty = true;
      scheduleRender();
    }

    setStatus(status) {
      this.status = status;
      const node = $("sim-status");
      node.textContent = status;
      $("play").disabled = status === "playing" || status === "completed";
      $("pause").disabled = status !== "playing";
      $("step").disabled = status === "completed";
      $("advance").disabled = status === "completed";
      for (const form of [$("decree-form"), $("policy-form")]) {
        for (const control of form.elements) control.disabled = status === "completed";
      }
      renderRow(this.id, { status });
    }

    /** Series and form options for the agents (in the scenario's order). */
    ensureAgents(agents) {
      let changed = false;
      agents.forEach((agent, i) => {
        if (this.agents.has(agent.id)) return;
        const color = AGENT_COLORS[i % AGENT_COLORS.length];
        this.agents.set(agent.id, {
          color,
          capability: new Series(agent.id, color),
          alignment: new Series(agent.id, color),
          guardrail: new Series(agent.id, color),
        });
        changed = true;
      });
      if (!changed) return;
      const rows = $("agent-rows");
      rows.replaceChildren();
      const target = $("decree-target"), policyAgent = $("policy-agent");
      target.replaceChildren(new Option("every agent", ""));
      policyAgent.replaceChildren();
      for (const [id, series] of this.agents) {
        const swatch = el("span", { className: "swatch" });
        swatch.style.background = series.color;
        const cells = ["capability", "alignment", "guardrail", "pressure", "lambda", "gamma"]
          .map(name => el("td", { className: "num", dataset: { field: name } }, "–"));
        rows.append(el("tr", { dataset: { agent: id } }, el("th", { scope: "row" }, swatch, id), ...cells));
        target.append(new Option(id, id));
        policyAgent.append(new Option(id, id));
      }
      fillPolicy();
      selectAgentMetric();
    }

    /** One computed tick (a trace line, or a tick event turned into one). */
    appendStep(step, fromTrace) {
      const tick = step.tick;
      this.stability.push(step.state.stability);
      this.ensureAgents(step.agents);
      for (const agent of step.agents) {
        const series = this.agents.get(agent.id);
        series.capability.push(agent.state.capability);
        series.alignment.push(agent.state.alignment);
        series.guardrail.push(agent.state.guardrail);
      }
      this.latest = step;
      this.nextTick = tick + 1;
      if (step.move && step.move !== "idle") {
        markers.add("decree", tick, step.move);
        markers.pending = markers.pending.filter(p => p.tick > tick);
        this.addLog(tick, "applied", `decree ${step.move} applied`);
      }
      if (fromTrace) {
        if (step.warning) this.warning(tick, step.warning);
        if (step.loss) this.loss(tick, step.loss);
        if (step.prophecy) this.prophecy(tick, step.prophecy);
        if (step.paradox) this.paradox(tick, step.paradox);
      }
      stabilityChart.invalidate();
      agentChart.invalidate();
      this.factsDirty = true;
      scheduleRender();
    }

    warning(tick, w) {
      markers.add("warning", tick, w.level);
      this.addLog(tick, "warning", `${w.level}: stability ${formatNumber(w.stability)} below ${w.threshold}`);
    }
    loss(tick, l) {
      markers.add("loss", tick, "loss");
      this.addLog(tick, "loss", `basin loss ${l.basin != null ? "#" + l.basin : ""} magnitude ${formatNumber(l.magnitude)}` +
        (l.agent ? ` (largest pressure: ${l.agent})` : ""));
    }
    prophecy(tick, p) {
      markers.add("prophecy", tick, "prophecy");
      this.addLog(tick, "prophecy", `prophecy #${p.id}: stability ${formatNumber(p.predictedStability)} in ${p.horizon} ticks` +
        (p.predictedLoss != null ? `, loss predicted at tick ${p.predictedLoss}` : ", no loss predicted"));
    }
    paradox(tick, p) {
      markers.add("paradox", tick, p.kind);
      this.addLog(tick, "paradox", `paradox ${p.kind} (prophecy #${p.prophecy})`);
    }

    addLog(tick, kind, text) {
      this.log.push({ tick, kind, text });
      this.logDirty = true;
    }

    renderLog() {
      this.logDirty = false;
      const list = $("event-log");
      const fresh = this.log.length - this.logShown;
      if (fresh <= 0) return;
      const from = fresh > LOG_SHOWN ? this.log.length - LOG_SHOWN : this.logShown;
      if (fresh > LOG_SHOWN) list.replaceChildren();
      for (let i = from; i < this.log.length; i++) {
        const entry = this.log[i];
        const item = el("li", { dataset: { kind: entry.kind, tick: String(entry.tick) } },
          el("span", { className: "t" }, "tick " + entry.tick),
          el("span", { className: "k k-" + entry.kind }, entry.kind),
          el("span", null, entry.text));
        list.prepend(item);
      }
      while (list.childElementCount > LOG_SHOWN) list.lastElementChild.remove();
      this.logShown = this.log.length;
    }

    renderFacts() {
      this.factsDirty = false;
      $("tick").textContent = String(this.nextTick);
      renderRow(this.id, { tick: this.nextTick });
      const st = this.latest ? this.latest.state : this.snapshot;
      if (!st) return;
      $("sim-stability").textContent = formatNumber(st.stability);
      const phase = $("sim-phase");
      phase.textContent = st.phase;
      phase.className = "phase-" + st.phase;
      $("sim-basin").textContent = String(st.basin);
      const agents = this.latest ? this.latest.agents : st.agents;
      const rows = $("agent-rows");
      for (const agent of agents) {
        const row = rows.querySelector(`tr[data-agent="${CSS.escape(agent.id)}"]`);
        if (!row) continue;
        const values = { ...agent.state, lambda: agent.policy.lambda, gamma: agent.policy.gamma };
        for (const cell of row.querySelectorAll("td")) {
          const field = cell.dataset.field;
          cell.textContent = formatNumber(values[field], field === "capability" || field === "pressure" ? 2 : 3);
        }
      }
      const c = this.comparison;
      let compared = "";
      if (c) {
        const { parts, gap } = c.describe();
        if ($("sim-divergence").textContent !== parts) $("sim-divergence").textContent = parts;
        $("sim-gap").textContent = gap;
        if (state.compare) compared = `; the origin's stability dashed, ${parts}`;
      }
      const canvas = $("stability-chart");
      if (!this.labelled || performance.now() - this.labelled > 1000) {
        this.labelled = performance.now();
        canvas.setAttribute("aria-label", `Stability over ${this.nextTick} ticks; now ${formatNumber(st.stability)} (${st.phase})${compared}`);
      }
    }

    setDigest(digest, ticks) {
      $("digest").textContent = digest ? `${digest} (ticks 0–${ticks - 1})` : "–";
    }

    // Loading the history: the trace (NDJSON, read line by line as it arrives).
    async loadTrace() {
      setFeedState("loading the trace…");
      const read = await readTrace(this.id, this.controller.signal, step => this.traceLine(step), lines => {
        if (this.closed) return false;
        setFeedState(`loading the trace… ${lines} ticks`);
        scheduleRender();
        return true;
      });
      if (read) this.setDigest(read.digest, read.lines);
    }

    traceLine(step) {
      if (step.tick < this.nextTick) { this.duplicates++; return; }
      if (step.tick > this.nextTick) throw new Error(`the trace skipped from tick ${this.nextTick} to ${step.tick}`);
      this.appendStep(step, true);
    }

    // The live feed: fetch + a stream reader (EventSource cannot send the key header).
    //
    // The first connection sends no Last-Event-ID (a new stream starts with what happens
    // next, which costs the server nothing); its events wait in a queue while the trace is
    // read, then those the trace already holds are dropped. Resuming after an id instead
    // would make the server re-derive the record from tick 0 (seconds at 100 000 ticks).
    // Reconnects send the last id seen, so nothing is lost or shown twice at the seam.
    async follow() {
      let delay = 500;
      while (!this.closed) {
        if (this.resyncRequested) {
          this.resyncRequested = false;
          // A gap before any event id was seen: read the history again (from tick 0 only).
          if (this.lastEventId == null && this.nextTick === 0) this.historyLoaded = false;
        }
        if (this.historyLoaded && this.lastEventId == null && this.nextTick > 0) {
          // Nothing seen since the trace: resume after its last tick group.
          this.lastEventId = `${this.nextTick - 1}-${WHOLE_GROUP}`;
          this.lastEventKey = [this.nextTick - 1, WHOLE_GROUP];
        }
        const stream = new AbortController();
        this.stream = stream;
        const headers = { "X-Api-Key": state.key, Accept: "text/event-stream" };
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        let wait = delay;
        try {
          const response = await fetch(simulationPath(this.id, "/events"), { headers, signal: stream.signal, cache: "no-store", credentials: "omit" });
          if (!response.ok) {
            const error = await errorOf(response);
            if (error.status === 429) {
              wait = (error.retryAfter || 5) * 1000;
              setFeedState(`waiting for a stream slot (${error.message})`);
            } else if (error.status >= 400 && error.status < 500) {
              setFeedState(`refused: ${error.message}`);
              return;
            } else {
              setFeedState(`server error: ${error.message}`);
            }
          } else {
            this.connects++;
            delay = 500;
            if (!this.historyLoaded) {
              this.queue = [];
              const reading = this.read(response.body, stream);
              reading.catch(() => { /* awaited below */ });
              try {
                await this.loadHistory();
              } catch (e) {
                stream.abort();
                throw e;
              }
              this.historyLoaded = true;
              const queued = this.queue;
              this.queue = null;
              for (const block of queued) {
                this.dispatch(block);
                if (this.closed || this.resyncRequested || this.status === "completed") { stream.abort(); break; }
              }
              setFeedState("live");
              await reading;
            } else {
              setFeedState("live");
              await this.read(response.body, stream);
            }
            if (this.closed) return;
            if (this.status === "completed" && !this.resyncRequested) { setFeedState("completed"); return; }
            if (this.resyncRequested) continue;
            setFeedState("reconnecting…");
          }
        } catch (e) {
          if (this.closed) return;
          if (this.resyncRequested) continue;
          if (this.status === "completed") { setFeedState("completed"); return; }
          setFeedState("reconnecting…");
        }
        await sleep(wait);
        delay = Math.min(delay * 2, 10000);
      }
    }

    /** The trace so far: none when the record was at tick 0, unless a tick went missing since. */
    async loadHistory() {
      this.historyReads = (this.historyReads || 0) + 1;
      if (this.record.tick > 0 || this.historyReads > 1) {
        try {
          await this.loadTrace();
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 404)) throw e;
        }
      }
      this.traceTicks = this.nextTick;
    }

    async read(body, stream) {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value.indexOf("\r") >= 0 ? value.replace(/\r\n?/g, "\n") : value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (this.queue) { this.queue.push(block); continue; }
          this.dispatch(block);
          if (this.closed || this.resyncRequested || this.status === "completed") {
            stream.abort();
            return;
          }
        }
      }
    }

    dispatch(block) {
      let event = "message", data = [], id = null;
      for (const line of block.split("\n")) {
        if (line === "" || line[0] === ":") continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value[0] === " ") value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = value;
      }
      if (event === "heartbeat") { this.heardAt = Date.now(); return; }
      const key = parseId(id);
      if (key && compareIds(key, this.lastEventKey) <= 0) { this.duplicates++; return; }
      const payload = data.length && data.join("") !== "" ? JSON.parse(data.join("\n")) : null;
      const tick = key ? key[0] : (payload && payload.tick != null ? payload.tick : this.nextTick);
      if (key && tick < this.traceTicks && event !== "tick" && event !== "simulation:status") {
        // Already in the trace (a queued event of a tick group the trace holds).
        this.duplicates++;
        this.lastEventId = id;
        this.lastEventKey = key;
        return;
      }
      switch (event) {
        case "tick":
          if (payload.t < this.nextTick) { this.duplicates++; break; }
          if (payload.t > this.nextTick) {
            // A tick went missing: reconnect after the last event shown (the server replays from there).
            this.gaps++;
            this.resyncRequested = true;
            return;
          }
          this.appendStep({ tick: payload.t, move: payload.lastMove, state: payload.state, agents: payload.agents }, false);
          break;
        case "warning": this.warning(tick, payload); break;
        case "loss": this.loss(tick, payload); break;
        case "prophecy": this.prophecy(tick, payload); break;
        case "paradox": this.paradox(tick, payload); break;
        case "decree": {
          const d = payload.decree || {};
          const details = Object.entries(d).filter(([k]) => k !== "kind").map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`);
          this.addLog(payload.tick, "decree", `${d.kind} submitted${details.length ? " (" + details.join(", ") + ")" : ""}, applies at tick ${payload.tick}`);
          if (payload.tick >= this.nextTick) markers.pending.push({ tick: payload.tick, label: d.kind });
          stabilityChart.invalidate();
          break;
        }
        case "simulation:status":
          this.setStatus(payload.status);
          if (payload.speed != null) $("speed").value = String(payload.speed);
          this.addLog(payload.tick, "status", payload.status + (payload.speed != null ? ` at speed ${payload.speed}` : ""));
          break;
        case "error":
          this.addLog(payload.tick, "error", `${payload.code}: ${payload.message}`);
          toast(`Simulation stopped: ${payload.message}`);
          break;
        default:
          break;
      }
      if (key) { this.lastEventId = id; this.lastEventKey = key; }
      this.factsDirty = true;
      scheduleRender();
    }
  }

  /**
   * `GET …/trace` as NDJSON, each step handed to `onStep` as its line arrives; `progress(lines)`
   * after each chunk (false stops reading). The digest and line count, or null when stopped.
   */
  async function readTrace(id, signal, onStep, progress) {
    const response = await api("GET", simulationPath(id, "/trace"), { accept: "application/x-ndjson", signal });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "", lines = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let start = 0, newline;
      while ((newline = buffer.indexOf("\n", start)) >= 0) {
        const line = buffer.slice(start, newline);
        start = newline + 1;
        if (line) { onStep(JSON.parse(line)); lines++; }
      }
      buffer = buffer.slice(start);
      if (progress(lines) === false) { reader.cancel().catch(() => {}); return null; }
    }
    if (buffer.trim()) { onStep(JSON.parse(buffer)); lines++; }
    return { digest: response.headers.get("X-Trace-Digest"), lines };
  }

  function setFeedState(text) { $("feed-state").textContent = text; }

  async function openSimulation(id) {
    if (state.view) state.view.close();
    const view = new SimulationView(id);
    state.view = view;
    clearErrors($("sim-panel")); // the last view's refusals are not this one's
    applyComparison();
    history.replaceState(null, "", "#simulation=" + encodeURIComponent(id));
    $("sim-panel").hidden = false;
    for (const row of $("sim-rows").children) row.classList.toggle("current", row.dataset.id === id);
    $("tick").textContent = "0";
    setFeedState("opening…");
    try {
      const sim = await apiJSON("GET", simulationPath(id), { signal: view.controller.signal });
      if (view.closed) return;
      view.setRecord(sim);
      if (view.status === "completed") {
        await view.loadTrace();
        if (view.closed) return;
        setFeedState("completed (drawn from its trace)");
      } else {
        view.follow();
      }
    } catch (e) {
      if (view.closed) return;
      setFeedState("not loaded");
      toast(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e.message || e));
    }
  }

  // MARK: Controls

  async function timeControl(action) {
    const view = state.view;
    if (!view) return;
    $("control-error").textContent = "";
    const body = { action };
    if (action === "play") body.speed = Number($("speed").value);
    try {
      const ack = await apiJSON("PUT", simulationPath(view.id, "/time-control"), { body });
      if (state.view === view) view.setStatus(ack.status);
    } catch (e) {
      showErrors(e, $("control-error"));
    }
  }

  async function advance() {
    const view = state.view;
    if (!view) return;
    $("control-error").textContent = "";
    try {
      await apiJSON("POST", simulationPath(view.id, "/step"), { body: { ticks: Number($("step-count").value) } });
    } catch (e) {
      showErrors(e, $("control-error"));
    }
  }

  /** `POST …/fork`: a new simulation with this one's first `tick` steps, opened at once. */
  async function fork() {
    const view = state.view;
    if (!view) return;
    $("fork-error").textContent = "";
    const text = $("fork-tick").value.trim();
    try {
      const sim = await apiJSON("POST", simulationPath(view.id, "/fork"), { body: { tick: text === "" ? undefined : Number(text) } });
      await refreshList();
      await openSimulation(sim.id);
    } catch (e) {
      showErrors(e, $("fork-error"));
    }
  }

  function decreeFields() {
    const kind = $("decree-kind").value;
    $("decree-magnitude-field").hidden = !(MAGNITUDE_KINDS.has(kind) || !["moratorium", "policy"].includes(kind));
    $("decree-ticks-field").hidden = kind !== "moratorium";
    $("decree-policy-fields").hidden = kind !== "policy";
  }

  async function submitDecree(event) {
    event.preventDefault();
    const view = state.view;
    if (!view) return;
    const form = $("decree-form");
    clearErrors(form);
    const kind = $("decree-kind").value;
    const body = { kind };
    const target = $("decree-target").value;
    if (target) body.target = target;
    const number = id => { const text = $(id).value.trim(); return text === "" ? undefined : Number(text); };
    if (!$("decree-magnitude-field").hidden) body.magnitude = number("decree-magnitude");
    if (!$("decree-ticks-field").hidden) body.ticks = number("decree-ticks");
    if (!$("decree-policy-fields").hidden) { body.lambda = number("decree-lambda"); body.gamma = number("decree-gamma"); }
    try {
      const record = await apiJSON("POST", simulationPath(view.id, "/decrees"), { body });
      toast(`Decree ${record.decree.kind} accepted: applies at tick ${record.tick}.`);
    } catch (e) {
      showErrors(e, $("decree-error"), path => $(`decree-${path}-error`));
    }
  }

  function fillPolicy() {
    const view = state.view;
    if (!view) return;
    const id = $("policy-agent").value;
    const agents = view.latest ? view.latest.agents : (view.snapshot ? view.snapshot.agents : []);
    const agent = agents.find(a => a.id === id);
    if (agent) {
      $("policy-lambda").value = String(agent.policy.lambda);
      $("policy-gamma").value = String(agent.policy.gamma);
    }
  }

  async function submitPolicy(event) {
    event.preventDefault();
    const view = state.view;
    if (!view) return;
    const form = $("policy-form");
    clearErrors(form);
    const number = id => { const text = $(id).value.trim(); return text === "" ? undefined : Number(text); };
    const body = { agentId: $("policy-agent").value, policy: { lambda: number("policy-lambda"), gamma: number("policy-gamma") } };
    try {
      const ack = await apiJSON("PUT", simulationPath(view.id, "/agent-policy"), { body });
      toast(`Policy of ${body.agentId} changes from tick ${ack.tick}.`);
    } catch (e) {
      showErrors(e, $("policy-error"), path => $("policy-" + String(path).split(".").pop() + "-error"));
    }
  }

  async function downloadTrace() {
    const view = state.view;
    if (!view) return;
    $("control-error").textContent = "";
    try {
      const response = await api("GET", simulationPath(view.id, "/trace"), { accept: "application/x-ndjson" });
      const blob = await response.blob();
      const text = await blob.slice(Math.max(0, blob.size - 200000)).text();
      const lines = text.trimEnd().split("\n");
      const last = JSON.parse(lines[lines.length - 1]);
      view.setDigest(response.headers.get("X-Trace-Digest"), last.tick + 1);
      const url = URL.createObjectURL(blob);
      const link = el("a", { href: url, download: `kairos-${view.id}-${last.tick + 1}-ticks.ndjson` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (e) {
      showErrors(e, $("control-error"));
    }
  }

  function selectAgentMetric() {
    const view = state.view;
    if (!view) return;
    const metric = $("agent-metric").value;
    agentChart.options.yMin = 0;
    agentChart.options.yMax = metric === "capability" ? null : 1;
    agentChart.options.formatY = metric === "capability" ? (v => formatNumber(v, 0)) : null;
    agentChart.setSeries([...view.agents.values()].map(a => a[metric]));
    const legend = $("agent-legend");
    legend.replaceChildren();
    for (const [id, a] of view.agents) {
      const swatch = el("span", { className: "swatch" });
      swatch.style.background = a.color;
      legend.append(el("span", null, swatch, id));
    }
    scheduleRender();
  }

  // MARK: The list and creating

  function renderRow(id, changes) {
    const sim = state.simulations.find(s => s.id === id);
    if (sim) Object.assign(sim, changes);
    const row = $("sim-rows").querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (row && changes.status) row.querySelector("[data-field=status]").textContent = changes.status;
    if (row && changes.tick != null) row.querySelector("[data-field=tick]").textContent = String(changes.tick);
  }

  function renderList() {
    const rows = $("sim-rows");
    const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("tr") : null;
    const focusedId = focused && rows.contains(focused) ? focused.dataset.id : null;
    rows.replaceChildren();
    for (const sim of state.simulations) {
      const open = el("button", { type: "button", className: "link" }, scenarioLabel(sim));
      open.setAttribute("aria-label", `Open simulation ${scenarioLabel(sim)} (${sim.id})`);
      open.addEventListener("click", () => openSimulation(sim.id));
      const row = el("tr", { dataset: { id: sim.id } },
        el("td", null, open),
        el("td", { className: "mono", title: sim.id }, sim.id.slice(0, 8)),
        el("td", { dataset: { field: "status" } }, sim.status),
        el("td", { className: "num", dataset: { field: "tick" } }, String(sim.tick)),
        el("td", null, sim.engineVersion),
        el("td", null, new Date(sim.createdAt).toLocaleString()));
      if (state.view && state.view.id === sim.id) row.classList.add("current");
      rows.append(row);
      if (sim.id === focusedId) open.focus();
    }
    $("list-status").textContent = state.simulations.length
      ? `${state.simulations.length} of ${state.total} simulations` : "No simulations yet: create one above.";
  }

  async function refreshList() {
    const page = await apiJSON("GET", "/v1/simulations?limit=100");
    state.simulations = page.data.slice().sort((a, b) => a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0);
    state.total = page.pagination.total;
    // The organization, from its simulations (GET /v1/organization needs org:read, which
    // the usual simulation:read,simulation:write key lacks).
    const orgs = [...new Set(state.simulations.map(s => s.organizationId))];
    $("org-name").textContent = orgs.length ? "— " + orgs.join(", ") : "";
    renderList();
  }

  function pollList() {
    clearTimeout(state.listTimer);
    state.listTimer = setTimeout(async () => {
      if (!state.key) return;
      if (document.visibilityState === "visible") {
        try { await refreshList(); } catch (e) { /* shown on the next action */ }
      }
      pollList();
    }, 5000);
  }

  async function createFromCatalog(event) {
    event.preventDefault();
    $("catalog-error").textContent = "";
    const body = { scenarioId: $("catalog").value };
    if ($("engine-version").value) body.engineVersion = $("engine-version").value;
    try {
      const sim = await apiJSON("POST", "/v1/simulations", { body });
      await refreshList();
      await openSimulation(sim.id);
    } catch (e) {
      showErrors(e, $("catalog-error"));
    }
  }

  async function createFromJSON(event) {
    event.preventDefault();
    const errors = $("json-errors");
    errors.replaceChildren();
    const kind = document.querySelector("input[name=json-kind]:checked").value;
    const path = kind === "domain" ? "/v1/simulations/from-domain" : "/v1/simulations";
    try {
      const sim = await apiJSON("POST", path, { raw: $("json-body").value });
      await refreshList();
      await openSimulation(sim.id);
    } catch (e) {
      if (e instanceof ApiError && e.issues.length) {
        errors.replaceChildren(...e.issues.map(issue => el("li", null,
          (issue.path ? issue.path : "(body)") + ": " + issue.message +
          (issue.line != null ? ` (line ${issue.line}, column ${issue.column})` : ""))));
        if (e.details && e.details.moreIssues) errors.append(el("li", null, `… and ${e.details.moreIssues} more`));
      } else {
        showErrors(e, errors);
      }
    }
  }

  function jsonExample() {
    const kind = document.querySelector("input[name=json-kind]:checked").value;
    if (kind === "domain") {
      const op = state.openapi && state.openapi.paths["/v1/simulations/from-domain"];
      const example = op && op.post && op.post.requestBody && op.post.requestBody.content["application/json"].example;
      return example || { domain: "ai-safety", input: { models: [] } };
    }
    const first = state.catalog[0];
    return first ? { scenario: first.scenario } : { scenarioId: "capability-divergence" };
  }

  function fillJSONExample() {
    if (!state.jsonTouched) $("json-body").value = JSON.stringify(jsonExample(), null, 2);
  }

  // MARK: Key and start

  async function useKey(key) {
    state.key = key;
    try {
      await refreshList();
    } catch (e) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORAGE);
      showErrors(e, $("key-error"));
      $("key-panel").hidden = false;
      $("main").hidden = true;
      $("api-key").focus();
      return false;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-panel").hidden = true;
    $("main").hidden = false;
    $("forget-key").hidden = false;
    pollList();
    const match = /^#simulation=(.+)$/.exec(location.hash);
    if (match) openSimulation(decodeURIComponent(match[1]));
    return true;
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    if (state.view) state.view.close();
    state.view = null;
    clearTimeout(state.listTimer);
    $("main").hidden = true;
    $("sim-panel").hidden = true;
    $("key-panel").hidden = false;
    $("forget-key").hidden = true;
    history.replaceState(null, "", location.pathname);
    $("api-key").focus();
  }

  async function loadPublic() {
    const [health, scenarios, openapi] = await Promise.all([
      apiJSON("GET", "/v1/health", { publicRoute: true }),
      apiJSON("GET", "/v1/scenarios", { publicRoute: true }),
      apiJSON("GET", "/v1/openapi.json", { publicRoute: true }),
    ]);
    state.health = health;
    state.catalog = scenarios.data;
    state.openapi = openapi;
    $("server-info").textContent = `server ${health.version}, storage ${health.storage}`;
    const catalog = $("catalog");
    catalog.replaceChildren(...scenarios.data.map(s => {
      const option = new Option(`${s.title} (${s.id})`, s.id);
      option.title = s.description;
      return option;
    }));
    const engines = $("engine-version");
    engines.replaceChildren(...health.engineVersions.map(v => new Option(v + (v === health.defaultEngineVersion ? " (default)" : ""), v)));
    engines.value = health.defaultEngineVersion;
    const decree = openapi.components.schemas.Decree;
    state.decreeKinds = decree.properties.kind.enum;
    $("decree-kind").replaceChildren(...state.decreeKinds.map(k => new Option(k, k)));
    $("decree-kind").value = state.decreeKinds.includes("guardrail_upgrade") ? "guardrail_upgrade" : state.decreeKinds[0];
    decreeFields();
    fillJSONExample();
  }

  function start() {
    const large = localStorage.getItem(LARGE_STORAGE) === "1";
    $("large-type").checked = large;
    document.documentElement.classList.toggle("large", large);
    $("large-type").addEventListener("change", () => {
      const on = $("large-type").checked;
      document.documentElement.classList.toggle("large", on);
      localStorage.setItem(LARGE_STORAGE, on ? "1" : "0");
      stabilityChart.invalidate();
      agentChart.invalidate();
      scheduleRender();
    });
    renderLegends();
    state.compare = localStorage.getItem(COMPARE_STORAGE) !== "0";
    $("compare-toggle").addEventListener("change", () => {
      state.compare = $("compare-toggle").checked;
      localStorage.setItem(COMPARE_STORAGE, state.compare ? "1" : "0");
      applyComparison();
    });
    applyComparison();
    $("key-form").addEventListener("submit", event => {
      event.preventDefault();
      $("key-error").textContent = "";
      const key = $("api-key").value.trim();
      if (!key) { $("key-error").textContent = "Paste an API key (krs_…)."; return; }
      $("api-key").value = "";
      useKey(key);
    });
    $("forget-key").addEventListener("click", forgetKey);
    $("create-catalog").addEventListener("submit", createFromCatalog);
    $("create-json").addEventListener("submit", createFromJSON);
    $("json-body").addEventListener("input", () => { state.jsonTouched = true; });
    for (const radio of document.querySelectorAll("input[name=json-kind]")) radio.addEventListener("change", fillJSONExample);
    $("play").addEventListener("click", () => timeControl("play"));
    $("pause").addEventListener("click", () => timeControl("pause"));
    $("step").addEventListener("click", () => timeControl("step"));
    $("advance").addEventListener("click", advance);
    $("fork").addEventListener("click", fork);
    $("speed").addEventListener("change", () => { if (state.view && state.view.status === "playing") timeControl("play"); });
    $("window").addEventListener("change", () => {
      const ticks = Number($("window").value);
      stabilityChart.setWindow(ticks);
      agentChart.setWindow(ticks);
      scheduleRender();
    });
    $("agent-metric").addEventListener("change", selectAgentMetric);
    $("decree-kind").addEventListener("change", decreeFields);
    $("decree-form").addEventListener("submit", submitDecree);
    $("policy-agent").addEventListener("change", fillPolicy);
    $("policy-form").addEventListener("submit", submitPolicy);
    $("download").addEventListener("click", downloadTrace);
    window.addEventListener("hashchange", () => {
      const match = /^#simulation=(.+)$/.exec(location.hash);
      const id = match ? decodeURIComponent(match[1]) : null;
      if (state.key && id && (!state.view || state.view.id !== id)) openSimulation(id);
    });
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") scheduleRender(); });

    loadPublic().catch(e => toast(`Could not read the server's catalog: ${e.message}`)).finally(() => {
      const saved = sessionStorage.getItem(KEY_STORAGE);
      if (saved) useKey(saved); else $("api-key").focus();
      document.body.dataset.ready = "1";
    });
  }

  start();
})();
