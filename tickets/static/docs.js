// The API reference, drawn from /openapi.json (served locally: the machines have no internet).
"use strict";
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(spec.paths)) for (const [method, op] of Object.entries(item)) {
    const body = op.requestBody ? Object.values(op.requestBody.content)[0].schema.$ref?.split("/").pop() : "";
    const tr = document.createElement("tr");
    tr.innerHTML = `<td class="m ${esc(method)}">${esc(method.toUpperCase())}</td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}<br><small>${esc(op.description)}</small></td><td>${esc(body)}</td>`;
    ops.appendChild(tr);
  }
  document.getElementById("schemas").textContent = JSON.stringify(spec.components.schemas, null, 2);
});
