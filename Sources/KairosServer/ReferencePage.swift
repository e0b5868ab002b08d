/// The interactive reference at `/v1/docs`: one self-contained page (no CDN, no fonts, no
/// network but this server) that reads `/v1/openapi.json` and renders every operation with
/// its parameters, schemas, responses, a curl example and a try-it form with an API key field.
enum ReferencePage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Kairos API reference</title>
    <style>
    :root { --fg:#1d232b; --muted:#5b6675; --line:#dde2e8; --bg:#f7f8fa; --accent:#3451b2; }
    * { box-sizing: border-box; }
    body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--fg); display:flex; min-height:100vh; }
    nav { width:290px; flex:none; border-right:1px solid var(--line); background:var(--bg); padding:16px; position:sticky; top:0; height:100vh; overflow:auto; }
    nav h1 { font-size:18px; margin:0 0 4px; } nav .tag { margin:14px 0 4px; font-weight:600; font-size:13px; text-transform:uppercase; color:var(--muted); }
    nav a { display:block; padding:2px 0; color:var(--fg); text-decoration:none; font-size:13px; } nav a:hover { color:var(--accent); }
    main { flex:1; padding:24px 40px; max-width:1100px; }
    .op { border:1px solid var(--line); border-radius:8px; margin:0 0 28px; padding:16px 20px; }
    .m { display:inline-block; min-width:58px; text-align:center; font:600 12px monospace; padding:2px 6px; border-radius:4px; color:#fff; margin-right:8px; }
    .GET{background:#2f7d32}.POST{background:#3451b2}.PUT{background:#a0610a}.DELETE{background:#b3261e}
    code, pre, textarea, input, select { font-family: ui-monospace,Menlo,Consolas,monospace; font-size:13px; }
    pre { background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:10px; overflow:auto; max-height:420px; }
    table { border-collapse:collapse; width:100%; margin:6px 0 12px; } td, th { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; font-size:13px; }
    .muted { color:var(--muted); } .badge { font-size:11px; padding:1px 6px; border-radius:10px; background:#eef; color:#334; margin-left:6px; }
    details { margin:6px 0; } summary { cursor:pointer; font-weight:600; }
    .try { background:var(--bg); border-radius:6px; padding:10px; margin-top:10px; }
    .try label { display:block; font-size:12px; color:var(--muted); margin-top:6px; }
    .try input, .try textarea, .try select { width:100%; padding:5px; border:1px solid var(--line); border-radius:4px; }
    button { margin-top:8px; padding:6px 14px; border:0; border-radius:4px; background:var(--accent); color:#fff; cursor:pointer; }
    #auth { margin-top:10px; } #auth input { width:100%; padding:5px; }
    </style>
    </head>
    <body>
    <nav>
      <h1>Kairos API</h1>
      <div class="muted" id="version"></div>
      <div id="auth"><label class="muted" for="apikey">API key (X-Api-Key), kept in this browser</label>
        <input id="apikey" placeholder="krs_…" autocomplete="off"></div>
      <div id="toc"></div>
    </nav>
    <main id="main"><p>Loading the OpenAPI document…</p></main>
    <script>
    "use strict";
    // Request examples come from the document itself (requestBody…example).
    const examples = {};
    const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
    const keyInput = document.getElementById("apikey");
    keyInput.value = localStorage.getItem("kairos.apiKey") || "";
    keyInput.addEventListener("input", () => localStorage.setItem("kairos.apiKey", keyInput.value));
    let doc;
    function resolve(node) {
      while (node && node.$ref) { node = node.$ref.slice(2).split("/").reduce((o, k) => o[k], doc); }
      return node;
    }
    function refName(node) { return node && node.$ref ? node.$ref.split("/").pop() : null; }
    function schemaHTML(schema, depth) {
      depth = depth || 0;
      const name = refName(schema);
      const s = resolve(schema) || {};
      if (depth > 6) return name ? `<code>${esc(name)}</code>` : "…";
      const label = name ? `<code>${esc(name)}</code> ` : "";
      if (s.oneOf) return label + s.oneOf.map(x => schemaHTML(x, depth + 1)).join(" | ");
      if (s.allOf) return label + s.allOf.map(x => schemaHTML(x, depth + 1)).join(" & ");
      if (s.type === "array") return label + "array of " + schemaHTML(s.items || {}, depth + 1);
      if (s.type === "object" && s.properties) {
        const req = new Set(s.required || []);
        const rows = Object.entries(s.properties).map(([k, v]) => {
          const r = resolve(v) || {};
          const facts = [r.enum ? "one of " + r.enum.map(esc).join(", ") : "", r.minimum !== undefined ? "min " + r.minimum : "",
            r.maximum !== undefined ? "max " + r.maximum : "", r.pattern ? "pattern " + esc(r.pattern) : ""].filter(Boolean).join("; ");
          return `<tr><td><code>${esc(k)}</code>${req.has(k) ? ' <span class="badge">required</span>' : ""}</td>` +
            `<td>${schemaHTML(v, depth + 1)}${facts ? `<div class="muted">${facts}</div>` : ""}` +
            `${r.description ? `<div class="muted">${esc(r.description)}</div>` : ""}</td></tr>`;
        }).join("");
        return `${label}<details ${depth < 1 ? "open" : ""}><summary>object</summary>` +
          `${s.description ? `<div class="muted">${esc(s.description)}</div>` : ""}<table>${rows}</table></details>`;
      }
      const t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || "any");
      return label + `<code>${esc(t)}</code>`;
    }
    function curl(method, path, op) {
      const lines = [`curl -X ${method.toUpperCase()} "${location.origin}${path}"`];
      if (op.security && op.security.some(x => Object.keys(x).length)) lines.push(`  -H "X-Api-Key: krs_..."`);
      if (examples[op.operationId]) {
        lines.push(`  -H "Content-Type: application/json"`);
        lines.push(`  -d '${JSON.stringify(examples[op.operationId])}'`);
      }
      return lines.join(" \\\n");
    }
    async function send(form, method, path, op) {
      const out = form.querySelector(".out");
      let url = path.replace(/\{(\w+)\}/g, (_, n) => encodeURIComponent(form.elements["p_" + n].value));
      if (form.elements.query && form.elements.query.value) url += "?" + form.elements.query.value;
      const headers = {};
      const key = keyInput.value.trim();
      if (key && op.security && op.security.some(x => Object.keys(x).length)) headers["X-Api-Key"] = key;
      if (form.elements.accept) headers["Accept"] = form.elements.accept.value;
      const init = {method: method.toUpperCase(), headers};
      if (form.elements.body) { headers["Content-Type"] = "application/json"; init.body = form.elements.body.value; }
      out.textContent = "…";
      try {
        const started = performance.now();
        const r = await fetch(url, init);
        const text = await r.text();
        let shown = text;
        try { if ((r.headers.get("content-type") || "").includes("json") && !text.includes("\n")) shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) {}
        if (shown.length > 200000) shown = shown.slice(0, 200000) + "\n… (truncated)";
        const hs = ["x-request-id", "x-simulation-id", "x-trace-digest"].filter(h => r.headers.get(h)).map(h => `${h}: ${r.headers.get(h)}`).join("\n");
        out.textContent = `HTTP ${r.status} · ${Math.round(performance.now() - started)} ms\n${hs}\n\n${shown}`;
      } catch (e) { out.textContent = "request failed: " + e; }
    }
    function render() {
      for (const item of Object.values(doc.paths)) for (const [m, op] of Object.entries(item)) {
        const media = m !== "parameters" && op.requestBody && op.requestBody.content["application/json"];
        if (media && media.example) examples[op.operationId] = media.example;
      }
      document.getElementById("version").textContent = `${doc.info.title} ${doc.info.version} · OpenAPI ${doc.openapi}`;
      const toc = document.getElementById("toc"), main = document.getElementById("main");
      const byTag = {};
      for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
        if (method === "parameters") continue;
        (byTag[op.tags[0]] = byTag[op.tags[0]] || []).push({path, method, op, shared: item.parameters || []});
      }
      let navHTML = "", mainHTML = `<h1>${esc(doc.info.title)}</h1><p>${esc(doc.info.description)}</p>`;
      for (const tag of doc.tags) {
        const ops = byTag[tag.name] || [];
        navHTML += `<div class="tag">${esc(tag.name)}</div>` + ops.map(o => `<a href="#${o.op.operationId}"><span class="m ${o.method.toUpperCase()}">${o.method.toUpperCase()}</span>${esc(o.path.replace("/v1", ""))}</a>`).join("");
        mainHTML += `<h2>${esc(tag.name)}</h2><p class="muted">${esc(tag.description)}</p>`;
        for (const {path, method, op, shared} of ops) {
          const params = shared.concat(op.parameters || []).map(resolve);
          const pathParams = params.filter(p => p.in === "path");
          const others = params.filter(p => p.in !== "path");
          const body = op.requestBody ? op.requestBody.content["application/json"].schema : null;
          const ndjson = others.some(p => p.name === "Accept");
          const part2 = op["x-kairos-part"] === 2 ? '<span class="badge">part 2</span>' : "";
          mainHTML += `<section class="op" id="${op.operationId}"><h3><span class="m ${method.toUpperCase()}">${method.toUpperCase()}</span><code>${esc(path)}</code>${part2}</h3>` +
            `<p><b>${esc(op.summary)}</b></p>${op.description ? `<p>${esc(op.description)}</p>` : ""}` +
            (params.length ? `<table><tr><th>parameter</th><th>in</th><th>description</th></tr>${params.map(p => `<tr><td><code>${esc(p.name)}</code></td><td>${p.in}</td><td>${esc(p.description || "")}</td></tr>`).join("")}</table>` : "") +
            (body ? `<details open><summary>Request body</summary>${schemaHTML(body)}</details>` : "") +
            `<details><summary>Responses</summary><table>${Object.entries(op.responses).map(([code, r]) => {
              const rr = resolve(r);
              const content = rr.content ? Object.entries(rr.content).map(([ct, c]) => `<div><code>${esc(ct)}</code> ${schemaHTML(c.schema, 1)}</div>`).join("") : "";
              return `<tr><td><code>${code}</code></td><td>${esc(rr.description || "")}${content}</td></tr>`;
            }).join("")}</table></details>` +
            `<details><summary>Example</summary><pre>${esc(curl(method, path, op))}</pre></details>` +
            `<form class="try" onsubmit="return false"><b>Try it</b>` +
            pathParams.map(p => `<label>${esc(p.name)}</label><input name="p_${esc(p.name)}" value="${p.name === "scenarioId" ? "capability-divergence" : ""}">`).join("") +
            (others.some(p => p.in === "query") ? `<label>query string</label><input name="query" placeholder="limit=10&offset=0">` : "") +
            (ndjson ? `<label>Accept</label><select name="accept"><option>application/json</option><option>application/x-ndjson</option></select>` : "") +
            (body ? `<label>body</label><textarea name="body" rows="5">${esc(JSON.stringify(examples[op.operationId] || {}, null, 2))}</textarea>` : "") +
            `<button type="button">Send</button><pre class="out muted">No request sent yet.</pre></form></section>`;
        }
      }
      toc.innerHTML = navHTML;
      main.innerHTML = mainHTML;
      for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
        if (method === "parameters") continue;
        const form = document.querySelector(`#${op.operationId} form`);
        form.querySelector("button").addEventListener("click", () => send(form, method, path, op));
      }
    }
    fetch("openapi.json").then(r => r.json()).then(d => { doc = d; render(); })
      .catch(e => { document.getElementById("main").textContent = "Could not load openapi.json: " + e; });
    </script>
    </body>
    </html>
    """#
}
