// Kairos dashboard: a small canvas chart of values over ticks (no library).
// Every value is kept (typed arrays that grow by doubling); what is drawn is decimated to
// at most four vertices per pixel column (first, min, max, last of the ticks the column
// covers), so a frame costs O(ticks in view) reads and O(width) canvas operations however
// long the simulation runs. A series may be drawn as an overlay (dashed, thinner, translucent:
// `style`), and annotations (vertical lines and gap bars, each labelled) mark ticks on the plot.
"use strict";

(function () {
  /** Values indexed by tick (tick i at index i), growing as ticks arrive. */
  class Series {
    /** style (optional): { dash: [on, off], width, alpha } for an overlay line. */
    constructor(name, color, style) {
      this.name = name;
      this.color = color;
      this.style = style || null;
      this.data = new Float64Array(1024);
      this.length = 0;
    }
    push(value) {
      if (this.length === this.data.length) {
        const bigger = new Float64Array(this.data.length * 2);
        bigger.set(this.data);
        this.data = bigger;
      }
      this.data[this.length++] = value;
    }
    clear() { this.length = 0; }
  }

  /** Marker kinds in lane order (top to bottom), with how they are drawn. */
  const MARKERS = [
    { kind: "decree", label: "decree", color: "#2a4fb5", shape: "square" },
    { kind: "warning", label: "warning", color: "#b8860b", shape: "triangle" },
    { kind: "loss", label: "basin loss", color: "#b3261e", shape: "cross" },
    { kind: "prophecy", label: "prophecy", color: "#6a3d9a", shape: "circle" },
    { kind: "paradox", label: "paradox", color: "#c2185b", shape: "diamond" },
  ];

  /** Markers by kind, each list in tick order; `pending` decrees are drawn hollow. */
  class Markers {
    constructor() { this.clear(); }
    clear() {
      this.byKind = {};
      for (const m of MARKERS) this.byKind[m.kind] = [];
      this.pending = [];
    }
    add(kind, tick, label) {
      const list = this.byKind[kind];
      if (!list) return;
      list.push({ tick, label });
    }
    count(kind) { return this.byKind[kind] ? this.byKind[kind].length : 0; }
  }

  function niceStep(range, target) {
    const raw = range / Math.max(1, target);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / power;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * power;
  }

  function formatTick(v) {
    if (v >= 1e6) return (v / 1e6) + "M";
    if (v >= 1e4) return (v / 1e3) + "k";
    return String(v);
  }

  class TickChart {
    /**
     * options: yMin, yMax (null: from the data), bands [{from, to, color, label}],
     * lines [{y, color, label, dash}], markers (a Markers, optional), formatY(v).
     */
    constructor(canvas, options) {
      this.canvas = canvas;
      this.ctx = canvas.getContext("2d");
      this.options = options;
      this.series = [];
      this.annotations = [];
      this.drawnBySeries = [];
      this.markers = options.markers || null;
      this.windowTicks = 0;
      this.dirty = true;
      this.drawn = 0;
      this.frames = 0;
      this.lastDrawMs = 0;
      this.measureName = options.measureName || "kairos-chart-draw";
    }

    setSeries(list) { this.series = list; this.dirty = true; }
    /**
     * Ticks to mark: [{tick, color, label, dash, width, from, to}]. With `from` and `to`
     * (values), a bar between them at `tick`; without, a line across the plot. Labels go on
     * the plot's top edge, each in its own row (`row`, 0 first).
     */
    setAnnotations(list) { this.annotations = list; this.dirty = true; }
    setWindow(ticks) { this.windowTicks = ticks; this.dirty = true; }
    invalidate() { this.dirty = true; }

    /** Ticks stored (the longest series). */
    get points() {
      let n = 0;
      for (const s of this.series) n = Math.max(n, s.length);
      return n;
    }

    drawIfDirty() {
      if (!this.dirty) return false;
      this.dirty = false;
      this.draw();
      return true;
    }

    draw() {
      const started = performance.now();
      const canvas = this.canvas;
      const ratio = window.devicePixelRatio || 1;
      const cssWidth = canvas.clientWidth, cssHeight = canvas.clientHeight;
      if (cssWidth === 0 || cssHeight === 0) return;
      const width = Math.round(cssWidth * ratio), height = Math.round(cssHeight * ratio);
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      const ctx = this.ctx;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, cssWidth, cssHeight);
      const fontSize = parseFloat(getComputedStyle(document.documentElement).fontSize) || 15;
      const small = Math.round(fontSize * 0.8);
      ctx.font = small + "px system-ui, sans-serif";
      const lanes = this.markers ? MARKERS.length : 0;
      const laneHeight = Math.round(small * 1.2);
      const plot = {
        left: Math.round(small * (this.markers ? 5.2 : 4.2)), right: cssWidth - Math.round(small * 0.8),
        top: Math.round(small * 0.6) + lanes * laneHeight + (lanes ? Math.round(small * 0.5) : 0), bottom: cssHeight - Math.round(small * 2),
      };
      plot.width = Math.max(1, plot.right - plot.left);
      plot.height = Math.max(1, plot.bottom - plot.top);

      // All ticks: as far as the longest series reaches. A window: the last ticks of the first
      // series (the live one), whatever an overlay holds beyond it.
      const n = this.points;
      const live = this.series.length ? this.series[0].length : 0;
      const start = this.windowTicks > 0 ? Math.max(0, live - this.windowTicks) : 0;
      const end = this.windowTicks > 0 ? Math.max(live, start + 1) : Math.max(n, start + 1);
      const span = Math.max(1, end - start - 1);

      // Vertical range.
      let yMin = this.options.yMin, yMax = this.options.yMax;
      if (yMin == null || yMax == null) {
        let lo = Infinity, hi = -Infinity;
        for (const s of this.series) {
          for (let i = start; i < s.length; i++) {
            const v = s.data[i];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
        }
        if (!isFinite(lo)) { lo = 0; hi = 1; }
        if (yMin == null) yMin = Math.min(0, lo);
        if (yMax == null) yMax = hi > yMin ? hi + (hi - yMin) * 0.05 : yMin + 1;
      }
      if (this.options.yMaxAtLeast != null) yMax = Math.max(yMax, this.options.yMaxAtLeast);
      const y = v => plot.bottom - (v - yMin) / (yMax - yMin) * plot.height;
      const x = t => plot.left + (t - start) / span * plot.width;

      // Phase bands and their names.
      for (const band of this.options.bands || []) {
        const top = y(Math.min(band.to, yMax)), bottom = y(Math.max(band.from, yMin));
        if (bottom <= top) continue;
        ctx.fillStyle = band.color;
        ctx.fillRect(plot.left, top, plot.width, bottom - top);
        ctx.fillStyle = "rgba(27,34,48,0.55)";
        ctx.textAlign = "right";
        ctx.textBaseline = "top";
        if (bottom - top > small) ctx.fillText(band.label, plot.right - 4, top + 2);
      }

      // Axes and grid.
      ctx.strokeStyle = "#c5ccd6";
      ctx.lineWidth = 1;
      ctx.fillStyle = "#566173";
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      const yStep = niceStep(yMax - yMin, plot.height / (small * 3));
      const formatY = this.options.formatY || (v => String(Math.round(v * 1000) / 1000));
      for (let v = Math.ceil(yMin / yStep) * yStep; v <= yMax + 1e-9; v += yStep) {
        const py = Math.round(y(v)) + 0.5;
        ctx.beginPath(); ctx.moveTo(plot.left - 4, py); ctx.lineTo(plot.left, py); ctx.stroke();
        ctx.fillText(formatY(v), plot.left - 6, py);
      }
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      const xStep = Math.max(1, niceStep(span, plot.width / (small * 7)));
      for (let t = Math.ceil(start / xStep) * xStep; t <= end - 1; t += xStep) {
        const px = Math.round(x(t)) + 0.5;
        ctx.beginPath(); ctx.moveTo(px, plot.bottom); ctx.lineTo(px, plot.bottom + 4); ctx.stroke();
        ctx.fillText(formatTick(t), px, plot.bottom + 5);
      }
      ctx.strokeRect(plot.left + 0.5, plot.top + 0.5, plot.width, plot.height);

      // Threshold lines.
      for (const line of this.options.lines || []) {
        if (line.y < yMin || line.y > yMax) continue;
        const py = Math.round(y(line.y)) + 0.5;
        ctx.strokeStyle = line.color;
        ctx.lineWidth = 1.5;
        ctx.setLineDash(line.dash || []);
        ctx.beginPath(); ctx.moveTo(plot.left, py); ctx.lineTo(plot.right, py); ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = line.color;
        ctx.textAlign = "left";
        ctx.textBaseline = "bottom";
        ctx.fillText(line.label, plot.left + 4, py - 1);
      }

      // Series, decimated to the pixel columns.
      ctx.save();
      ctx.beginPath();
      ctx.rect(plot.left, plot.top, plot.width, plot.height);
      ctx.clip();
      let drawn = 0;
      const columns = Math.max(1, Math.floor(plot.width * ratio));
      // Overlays first, so the live line is drawn over them.
      const order = this.series.map((s, i) => i).sort((a, b) => (this.series[a].style ? 0 : 1) - (this.series[b].style ? 0 : 1) || a - b);
      this.drawnBySeries = this.series.map(() => 0);
      for (const index of order) {
        const s = this.series[index];
        const before = drawn;
        const count = Math.min(s.length, end);
        if (count - start < 1) continue;
        const style = s.style || {};
        ctx.globalAlpha = style.alpha != null ? style.alpha : 1;
        ctx.setLineDash(style.dash || []);
        ctx.strokeStyle = s.color;
        ctx.lineWidth = style.width || 1.6;
        ctx.beginPath();
        const d = s.data;
        if (count - start === 1) {
          ctx.fillStyle = s.color;
          ctx.arc(x(start), y(d[start]), 3, 0, Math.PI * 2);
          ctx.fill();
          drawn += 1;
          this.drawnBySeries[index] = 1;
          continue;
        }
        if (count - start <= columns * 2) {
          ctx.moveTo(x(start), y(d[start]));
          for (let i = start + 1; i < count; i++) ctx.lineTo(x(i), y(d[i]));
          drawn += count - start;
        } else {
          const perColumn = (end - start) / columns;
          let first = true;
          for (let c = 0; c < columns; c++) {
            const from = start + Math.floor(c * perColumn);
            const to = Math.min(count, start + Math.floor((c + 1) * perColumn));
            if (from >= to) break;
            let lo = d[from], hi = d[from];
            for (let i = from + 1; i < to; i++) {
              const v = d[i];
              if (v < lo) lo = v; else if (v > hi) hi = v;
            }
            const px = plot.left + (c + 0.5) / columns * plot.width;
            if (first) { ctx.moveTo(px, y(d[from])); first = false; } else ctx.lineTo(px, y(d[from]));
            ctx.lineTo(px, y(lo));
            ctx.lineTo(px, y(hi));
            ctx.lineTo(px, y(d[to - 1]));
            drawn += 4;
          }
        }
        ctx.stroke();
        this.drawnBySeries[index] = drawn - before;
      }
      ctx.globalAlpha = 1;
      ctx.setLineDash([]);
      ctx.restore();

      // Annotations: lines across the plot or bars between two values, labelled on top.
      for (const a of this.annotations) {
        if (a.tick < start || a.tick > end - 1 + 1e-9) continue;
        const px = Math.round(x(a.tick)) + 0.5;
        ctx.strokeStyle = a.color;
        ctx.fillStyle = a.color;
        ctx.lineWidth = a.width || 1.5;
        ctx.setLineDash(a.dash || []);
        ctx.beginPath();
        if (a.from != null && a.to != null) {
          const y1 = y(a.from), y2 = y(a.to), cap = Math.round(small * 0.35);
          ctx.moveTo(px, y1); ctx.lineTo(px, y2);
          ctx.moveTo(px - cap, y1); ctx.lineTo(px + cap, y1);
          ctx.moveTo(px - cap, y2); ctx.lineTo(px + cap, y2);
        } else {
          ctx.moveTo(px, plot.top); ctx.lineTo(px, plot.bottom);
        }
        ctx.stroke();
        ctx.setLineDash([]);
        if (a.label) {
          const ly = plot.top + 2 + (a.row || 0) * Math.round(small * 1.25);
          const width = ctx.measureText(a.label).width;
          const left = px + 4 + width <= plot.right ? px + 4 : px - 4 - width;
          ctx.fillStyle = "rgba(255,255,255,0.85)";
          ctx.fillRect(left - 2, ly - 1, width + 4, small + 3);
          ctx.fillStyle = a.color;
          ctx.textAlign = "left";
          ctx.textBaseline = "top";
          ctx.fillText(a.label, left, ly);
        }
      }

      // Marker lanes above the plot.
      if (this.markers) {
        MARKERS.forEach((m, lane) => {
          const cy = Math.round(small * 0.6) + lane * laneHeight + laneHeight / 2;
          const r = laneHeight * 0.32;
          ctx.fillStyle = "#566173";
          ctx.textAlign = "right";
          ctx.textBaseline = "middle";
          ctx.font = Math.round(small * 0.85) + "px system-ui, sans-serif";
          ctx.fillText(m.kind, plot.left - 6, cy);
          ctx.fillStyle = m.color;
          ctx.strokeStyle = m.color;
          ctx.lineWidth = 1.5;
          let lastX = -Infinity;
          const draw = (tick, hollow) => {
            if (tick < start || tick > end) return;
            const px = x(tick);
            if (!hollow && px - lastX < 1.5) return;
            lastX = px;
            TickChart.glyph(ctx, m.shape, px, cy, r, hollow);
            if (m.kind === "loss" || m.kind === "decree") {
              ctx.save();
              ctx.globalAlpha = 0.35;
              ctx.setLineDash([2, 3]);
              ctx.beginPath(); ctx.moveTo(px, plot.top); ctx.lineTo(px, plot.bottom); ctx.stroke();
              ctx.restore();
            }
          };
          for (const marker of this.markers.byKind[m.kind]) draw(marker.tick, false);
          if (m.kind === "decree") for (const p of this.markers.pending) draw(p.tick, true);
        });
      }
      this.drawn = drawn;
      this.frames++;
      const finished = performance.now();
      this.lastDrawMs = finished - started;
      try {
        performance.measure(this.measureName, { start: started, end: finished });
        if (this.frames % 4000 === 0) performance.clearMeasures(this.measureName);
      } catch (e) { /* User Timing level 3 missing: no measure */ }
    }

    static glyph(ctx, shape, px, cy, r, hollow) {
      ctx.beginPath();
      switch (shape) {
        case "square": ctx.rect(px - r, cy - r, 2 * r, 2 * r); break;
        case "triangle": ctx.moveTo(px - r, cy - r); ctx.lineTo(px + r, cy - r); ctx.lineTo(px, cy + r); ctx.closePath(); break;
        case "circle": ctx.arc(px, cy, r, 0, Math.PI * 2); break;
        case "diamond": ctx.moveTo(px, cy - r); ctx.lineTo(px + r, cy); ctx.lineTo(px, cy + r); ctx.lineTo(px - r, cy); ctx.closePath(); break;
        case "cross":
          ctx.moveTo(px - r, cy - r); ctx.lineTo(px + r, cy + r); ctx.moveTo(px + r, cy - r); ctx.lineTo(px - r, cy + r);
          ctx.stroke();
          return;
      }
      if (hollow) ctx.stroke(); else ctx.fill();
    }
  }

  window.KairosChart = { Series, Markers, TickChart, MARKERS };
})();
