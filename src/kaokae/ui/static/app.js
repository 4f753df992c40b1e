// kaokae's page: forms built from /api/forms (the commands' typed options), jobs polled from /api/jobs.
"use strict";
const $ = (s, root = document) => root.querySelector(s);
const $$ = (s, root = document) => [...root.querySelectorAll(s)];
const PAGES = ["media", "extract", "train", "convert", "swap", "live", "evaluate", "verify", "jobs"];
let FORMS = {}, FILES = {media: [], faceset: [], model: [], output: [], image: []};
let JOBS = [];
const seen = {};  // job id -> last state, to act once when a job ends

async function call(url, options = {}) {
  const response = await fetch(url, options);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(data.error || `kaokae: error: ${response.status}`);
  return data;
}
const post = (url, data) => call(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify(data)});
const fileUrl = (name, stamp) => `/file/${name.split("/").map(encodeURIComponent).join("/")}` +
  (stamp ? `?t=${stamp}` : "");
function say(id, message) { const e = document.getElementById(id); if (e) e.textContent = message || ""; }

// ---- pages

function show(page) {
  for (const p of PAGES) {
    $(`#page-${p}`).classList.toggle("active", p === page);
    $(`#tab-${p}`).classList.toggle("active", p === page);
  }
  history.replaceState(null, "", `#${page}`);
}

function buildNav() {
  for (const p of PAGES) {
    const b = document.createElement("button");
    b.id = `tab-${p}`;
    b.textContent = {swap: "Classic swap"}[p] || p[0].toUpperCase() + p.slice(1);
    b.onclick = () => show(p);
    $("#nav").append(b);
  }
}

// ---- forms from the option types

function optionInput(command, f) {
  const wrap = document.createElement("div");
  wrap.className = "field";
  const id = `${command.replace(" ", "-")}-opt-${f.name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = f.label;
  let input;
  if (f.kind === "bool") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = !!f.default;
  } else if (f.choices) {
    input = document.createElement("select");
    if (f.optional) input.append(new Option("(default)", ""));
    for (const c of f.choices) input.append(new Option(c, c));
    input.value = f.default ?? "";
  } else if ((f.kind === "int" || f.kind === "float") && f.min !== null && f.max !== null && !f.optional) {
    input = document.createElement("input");
    input.type = "range";
    input.min = f.min; input.max = f.max;
    input.step = f.kind === "int" ? 1 : (f.max - f.min) / 100;
    input.value = f.default;
    const out = document.createElement("output");
    out.textContent = f.default;
    input.addEventListener("input", () => { out.textContent = input.value; });
    label.append(" ", out);
  } else {
    input = document.createElement("input");
    input.type = (f.kind === "int" || f.kind === "float") ? "number" : "text";
    if (input.type === "number") {
      input.step = f.kind === "int" ? 1 : "any";
      if (f.min !== null) input.min = f.min;
      if (f.max !== null) input.max = f.max;
    }
    const d = f.default;
    input.value = d === null ? "" : Array.isArray(d) ? d.join(" ") : d;
    if (f.optional) input.placeholder = "default";
  }
  input.id = id;
  input.name = f.name;
  input.dataset.kind = f.kind;
  const help = document.createElement("small");
  help.textContent = f.help;
  if (f.fixed) help.classList.add("fixed");
  wrap.append(label, input, help);
  return wrap;
}

function optionValues(root) {
  const values = {};
  for (const input of $$("[data-kind]", root)) {
    if (!input.name || input.classList.contains("pick")) continue;
    const kind = input.dataset.kind;
    if (kind === "bool") values[input.name] = input.checked;
    else if (kind === "int" || kind === "float") values[input.name] = input.value === "" ? null : Number(input.value);
    else if (kind === "paths") values[input.name] = input.value.split(/\s+/).filter(Boolean);
    else values[input.name] = input.value;
  }
  return values;
}

function filePicker(command, [name, flag, kind, several]) {
  const row = document.createElement("div");
  row.className = "files-row";
  const label = document.createElement("label");
  label.textContent = name.replace("_", " ");
  const id = `${command.replace(" ", "-")}-file-${name}`;
  let input;
  if (kind.startsWith("new ") || (kind === "model" && command === "train")) {
    input = document.createElement("input");
    input.type = "text";
    input.placeholder = kind === "model" ? "new or existing model name" : `name of the ${kind.slice(4)}`;
    if (kind === "model") input.setAttribute("list", "model-names");
  } else {
    input = document.createElement("select");
    input.multiple = several;
    input.dataset.pickKind = kind;
    input.classList.add("file-choice");
  }
  input.id = id;
  input.dataset.file = name;
  label.htmlFor = id;
  row.append(label, input);
  return row;
}

function buildForms() {
  const models = document.createElement("datalist");
  models.id = "model-names";
  document.body.append(models);
  for (const holder of $$(".job-form")) {
    const command = holder.dataset.command;
    const spec = FORMS[command];
    const key = command.replace(" ", "-");
    const files = document.createElement("div");
    for (const f of spec.files) files.append(filePicker(command, f));
    const groups = {};
    const options = document.createElement("div");
    options.className = "options";
    for (const f of spec.options) {
      const group = f.group || "options";
      if (!groups[group]) {
        groups[group] = document.createElement("fieldset");
        const legend = document.createElement("legend");
        legend.textContent = group;
        groups[group].append(legend);
        options.append(groups[group]);
      }
      groups[group].append(optionInput(command, f));
    }
    const run = document.createElement("button");
    run.id = `${key}-run`;
    run.textContent = {train: "Start training", convert: "Render", swap: "Render"}[command] || `Run ${command}`;
    run.onclick = () => submit(command, holder);
    const error = document.createElement("div");
    error.className = "error";
    error.id = `${key}-error`;
    const title = document.createElement("h3");
    title.textContent = `kaokae ${command}`;
    holder.append(title, files, options, run, error);
    if (command === "train") {
      const stop = document.createElement("button");
      stop.id = "train-stop";
      stop.textContent = "Stop";
      stop.onclick = () => { const j = JOBS.find(j => j.kind === "train" && j.state === "running"); if (j) cancel(j.id); };
      run.after(" ", stop);
    }
    if (holder.dataset.preview) {
      const kind = holder.dataset.preview;
      previewBlock(kind, holder);
      holder.addEventListener("input", () => schedulePreview(kind));
      holder.addEventListener("change", () => { loadPeople(kind); schedulePreview(kind); });
      $(`#${kind}-frame`).addEventListener("input", () => {
        say(`${kind}-frame-number`, $(`#${kind}-frame`).value);
        schedulePreview(kind);
      });
    }
  }
}

function previewBlock(kind, holder) {
  // one block (people, frame slider, preview, result video) for each page with a preview; ids get the page's name
  const block = $("#preview-block").content.cloneNode(true);
  for (const e of $$("[data-id]", block)) { e.id = `${kind}-${e.dataset.id}`; e.removeAttribute("data-id"); }
  holder.after(block);
  $(`#${kind}-preview`).alt = holder.dataset.shows;
  say(`${kind}-preview-caption`, holder.dataset.shows);
  say(`${kind}-people-what`, holder.dataset.target);
  $(`#${kind}-people-find`).onclick = () => findPeople(kind);
  $(`#${kind}-people-list`).addEventListener("change", () => schedulePreview(kind));
}

function chosenFiles(holder) {
  const files = {};
  for (const input of $$("[data-file]", holder)) {
    files[input.dataset.file] = input.multiple ? [...input.selectedOptions].map(o => o.value) : input.value;
  }
  return files;
}

// what the page sends for a command: with a model or photo chosen per person, the map replaces the one for all
function request(command, holder) {
  const files = chosenFiles(holder), options = optionValues($(".options", holder));
  const mapped = holder.dataset.preview ? personMap(command) : [];
  if (mapped.length) {
    options.map = [...(options.map || []), ...mapped];
    if (command === "convert") delete files.model; else files.source = [];
  }
  return {command, files, options};
}

async function submit(command, holder) {
  const key = command.replace(" ", "-");
  say(`${key}-error`, "");
  try {
    const job = await post("/api/jobs", request(command, holder));
    seen[job.id] = job.state;
    holder.dataset.lastJob = job.id;  // what the job was when made: queued when one of its kind runs
    holder.dataset.lastState = job.state;
    await refreshJobs();
  } catch (e) { say(`${key}-error`, e.message); }
}

// ---- files

function fillPickers() {
  const lists = {media: FILES.media, faceset: FILES.faceset, model: FILES.model, image: FILES.image,
                 any: [...FILES.output, ...FILES.media]};
  for (const select of $$("select.file-choice, select.pick")) {
    const kind = select.dataset.pickKind || select.dataset.kind;
    const names = kind === "media" ? [...FILES.media, ...FILES.output] : lists[kind] || [];
    const chosen = new Set([...select.selectedOptions].map(o => o.value));
    const current = [...select.options].map(o => o.value).join("\n");
    if (current === names.join("\n")) continue;
    select.replaceChildren(...names.map(n => new Option(n, n, false, chosen.has(n))));
    select.dispatchEvent(new Event("change", {bubbles: true}));
  }
  $("#model-names").replaceChildren(...FILES.model.map(n => new Option(n, n)));
  for (const kind of Object.keys(PEOPLE)) drawPeople(kind);
  $("#media-list").replaceChildren(...[...FILES.media, ...FILES.output].map(n => {
    const li = document.createElement("li");
    li.textContent = n;
    li.onclick = () => mediaInfo(n);
    return li;
  }));
}

async function refreshFiles() {
  FILES = await call("/api/files");
  fillPickers();
}

async function mediaInfo(name) {
  try {
    const info = await call(`/api/info?path=${encodeURIComponent(name)}`);
    $("#media-info").textContent = Object.entries(info).map(([k, v]) => `${k}: ${v}`).join("\n");
    say("media-error", "");
    return info;
  } catch (e) { say("media-error", e.message); }
}

async function upload(files, status = "upload-status") {
  const names = [];
  for (const file of files) {
    say(status, `uploading ${file.name}...`);
    try {
      const r = await call(`/api/upload?name=${encodeURIComponent(file.name)}`, {method: "POST", body: file});
      names.push(r.path);
      say(status, `uploaded ${r.path}`);
    } catch (e) { say("media-error", e.message); say(status, ""); }
  }
  await refreshFiles();
  return names;
}

// ---- extract: the faceset view

async function showFaceset(name) {
  if (!name) return;
  try {
    const f = await call(`/api/faceset?path=${encodeURIComponent(name)}`);
    const stamp = Date.now();
    $("#faceset-view").hidden = false;
    $("#faceset-lines").textContent = f.lines.join("\n");
    if (f.contact_sheet) $("#extract-sheet").src = fileUrl(f.contact_sheet, stamp);
    $("#extract-coverage").src = fileUrl(f.coverage, stamp);
    say("rejected-count", String(f.rejected_count));
    $("#extract-rejected").replaceChildren(...f.rejected.map(r => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = r.split("/").pop();
      const img = document.createElement("img");
      img.src = fileUrl(r);
      img.title = r;
      label.append(box, img);
      return label;
    }));
    $("#faceset-view").dataset.faceset = name;
    say("faceset-error", "");
  } catch (e) { say("faceset-error", e.message); }
}

async function restoreFaces(all) {
  const name = $("#faceset-view").dataset.faceset;
  const names = $$("#extract-rejected input:checked").map(b => b.value);
  try {
    const r = await post("/api/faceset/restore", all ? {path: name, all: true} : {path: name, names});
    say("restore-status", `restored ${r.restored} faces: ${r.faces} faces, ${r.rejected} rejected`);
    await showFaceset(name);
  } catch (e) { say("faceset-error", e.message); }
}

// ---- train: the model view

async function showModel(name) {
  if (!name) return;
  try {
    const m = await call(`/api/model?path=${encodeURIComponent(name)}`);
    const job = JOBS.find(j => j.kind === "train" && j.state === "running" && j.outputs.includes(name));
    const p = job ? job.progress : {};
    const parts = [`iteration ${m.iteration}`];
    if (p.rate) parts.push(`${p.rate} ${p.unit || "it/s"}`);
    if (p.left) parts.push(`time left ${p.left}`);
    if (m.last && m.last.faces_per_s) parts.push(`${m.last.faces_per_s} faces/s`);
    say("model-stats", parts.join(" · "));
    if (m.preview && $("#train-preview").dataset.mtime !== String(m.preview_mtime)) {
      $("#train-preview").dataset.mtime = m.preview_mtime;
      $("#train-preview").src = fileUrl(m.preview, m.preview_mtime);
    }
    if (m.loss_plot && $("#train-loss").dataset.mtime !== String(m.loss_plot_mtime)) {
      $("#train-loss").dataset.mtime = m.loss_plot_mtime;
      $("#train-loss").src = fileUrl(m.loss_plot, m.loss_plot_mtime);
    }
    say("model-error", "");
  } catch (e) { say("model-error", e.message); }
}

// ---- convert and swap: the live preview

const previewTimers = {}, previewBusy = {}, previewAgain = {}, frameCounts = {};
function schedulePreview(kind) {
  clearTimeout(previewTimers[kind]);
  previewTimers[kind] = setTimeout(() => preview(kind), 120);
}

async function preview(kind) {
  if (previewBusy[kind]) { previewAgain[kind] = true; return; }
  const holder = $(`.job-form[data-command="${kind}"]`);
  const {files, options} = request(kind, holder);
  const video = kind === "convert" ? files.input : files.target;
  const mapped = options.map && options.map.length;
  if (!video || (!mapped && ((kind === "convert" && !files.model) || (kind === "swap" && !files.source.length)))) return;
  previewBusy[kind] = true;
  try {
    if (frameCounts[`${kind}:${video}`] === undefined) {
      const info = await call(`/api/info?path=${encodeURIComponent(video)}`);
      frameCounts[`${kind}:${video}`] = info.frame_count;
      $(`#${kind}-frame`).max = Math.max(0, info.frame_count - 1);
    }
    const asked = {frame: Number($(`#${kind}-frame`).value), options, ...files};
    const r = await post(`/api/preview/${kind}`, asked);
    const img = $(`#${kind}-preview`);
    img.src = fileUrl(r.image, Date.now());
    img.dataset.frame = asked.frame;
    img.dataset.map = (options.map || []).join(" ");
    img.dataset.seconds = r.seconds;
    say(`${kind}-preview-time`, `preview in ${r.seconds.toFixed(2)} s`);
    say(`${kind}-preview-error`, "");
  } catch (e) { say(`${kind}-preview-error`, e.message); }
  previewBusy[kind] = false;
  if (previewAgain[kind]) { previewAgain[kind] = false; preview(kind); }
}

// ---- convert and swap: the people of the chosen video (`kaokae people`, run as a job), a model or photo each

const PEOPLE = {};  // page -> what /api/people said for its video
const videoOf = kind => chosenFiles($(`.job-form[data-command="${kind}"]`))[kind === "convert" ? "input" : "target"];

async function loadPeople(kind, again = false) {
  const video = videoOf(kind);
  if (!video || (!again && PEOPLE[kind] && PEOPLE[kind].input === video)) return;
  try {
    const found = await call(`/api/people?input=${encodeURIComponent(video)}`);
    if (videoOf(kind) !== video) return;  // another video was chosen meanwhile
    PEOPLE[kind] = found;
    drawPeople(kind);
    schedulePreview(kind);
  } catch (e) { say(`${kind}-people-status`, e.message); }
}

function drawPeople(kind) {
  const p = PEOPLE[kind];
  if (!p) return;
  const job = JOBS.find(j => j.kind === "people" && j.outputs.includes(p.folder));
  const busy = job && ["queued", "running"].includes(job.state);
  say(`${kind}-people-status`, busy ? `finding the people (job ${job.id})...` : p.found ? `${p.people.length} found`
    : job && job.error ? job.error : "");
  $(`#${kind}-people-find`).hidden = p.found || busy;
  const chosen = Object.fromEntries($$(`#${kind}-people-list select`).map(s => [s.dataset.photo, s.value]));
  const targets = kind === "convert" ? FILES.model : FILES.image;
  $(`#${kind}-people-list`).replaceChildren(...p.people.map(person => {
    const figure = document.createElement("figure");
    figure.className = "person";
    const img = document.createElement("img");
    img.src = fileUrl(person.photo);
    img.alt = person.name;
    const caption = document.createElement("figcaption");
    caption.textContent = person.name;
    const select = document.createElement("select");
    select.id = `${kind}-map-${person.name}`;
    select.dataset.photo = person.photo;
    select.append(new Option("(leave as is)", ""), ...targets.map(t => new Option(t, t)));
    select.value = targets.includes(chosen[person.photo]) ? chosen[person.photo] : "";
    figure.append(img, caption, select);
    return figure;
  }));
}

function personMap(kind) {
  return $$(`#${kind}-people-list select`).filter(s => s.value).map(s => `${s.dataset.photo}=${s.value}`);
}

async function findPeople(kind) {
  const p = PEOPLE[kind];
  try {
    const job = await post("/api/jobs", {command: "people", files: {input: p.input, output: p.folder},
                                         options: {overwrite: true}});
    seen[job.id] = job.state;
    await refreshJobs();
    drawPeople(kind);
  } catch (e) { say(`${kind}-people-status`, e.message); }
}

// ---- verify

async function verify(name) {
  try {
    const r = await post("/api/verify", {path: name});
    $("#verify-report").textContent = r.report;
    say("verify-error", r.labelled ? "" : "kaokae: no synthetic-media label found");
  } catch (e) { say("verify-error", e.message); }
}

// ---- jobs

function jobRow(job) {
  const tr = document.createElement("tr");
  tr.dataset.job = job.id;
  tr.dataset.kind = job.kind;
  tr.dataset.state = job.state;
  const p = job.progress || {};
  const progress = p.total ? `${p.desc}: ${p.n}/${p.total} (${p.percent}%)${p.left ? `, ${p.left} left` : ""}`
    : p.n ? `${p.desc}: ${p.n}${p.rate ? ` at ${p.rate} ${p.unit}` : ""}` : "";
  const cells = [job.id, job.kind, job.state, progress, job.error || (job.log_tail || []).slice(-1)[0] || ""];
  for (const [i, text] of cells.entries()) {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === 2) td.className = `state state-${job.state}`;
    if (i === 4) td.className = "message";
    tr.append(td);
  }
  const td = document.createElement("td");
  const log = document.createElement("button");
  log.textContent = "log";
  log.onclick = async () => { $("#job-log").textContent = await call(`/api/jobs/${job.id}/log`); };
  td.append(log);
  if (job.state === "queued" || job.state === "running") {
    const b = document.createElement("button");
    b.textContent = "cancel";
    b.className = "cancel";
    b.onclick = () => cancel(job.id);
    td.append(" ", b);
  }
  tr.append(td);
  return tr;
}

async function cancel(id) {
  try { await post(`/api/jobs/${id}/cancel`, {}); } catch (e) { alert(e.message); }
  await refreshJobs();
}

async function jobEnded(job) {
  await refreshFiles();
  if (job.kind === "people") for (const kind of Object.keys(PEOPLE)) {
    if (job.outputs.includes(PEOPLE[kind].folder)) { drawPeople(kind); loadPeople(kind, true); }
  }
  if (job.kind.startsWith("faceset ") && !$("#faceset-view").hidden) showFaceset($("#faceset-view").dataset.faceset);
  if (job.state !== "done") return;
  const out = job.outputs[0];
  if (job.kind === "extract") { $("#faceset-pick").value = out; showFaceset(out); }
  if (job.kind === "train") { $("#model-pick").value = out; showModel(out); }
  if (job.kind === "convert" || job.kind === "swap") {
    const still = /\.(png|jpe?g|webp|bmp|tiff?)$/i.test(out);  // an image in, an image out
    const v = $(`#${job.kind}-${still ? "result" : "video"}`);
    v.src = fileUrl(out, Date.now());
    v.dataset.output = out;
    v.hidden = false;
  }
  if (job.kind === "evaluate") {
    $("#evaluate-table").textContent = (await call(`/api/jobs/${job.id}/log`)).replace(/\r[^\n]*/g, "");
    const png = job.outputs.find(o => o.endsWith(".png"));
    if (png) { $("#evaluate-figure").src = fileUrl(png, Date.now()); $("#evaluate-figure").hidden = false; }
  }
}

async function refreshJobs() {
  try {
    JOBS = (await call("/api/jobs")).jobs;
  } catch (e) { return; }
  $("#jobs tbody").replaceChildren(...JOBS.map(jobRow));
  for (const job of JOBS) {
    const was = seen[job.id];
    seen[job.id] = job.state;
    if (was !== undefined && was !== job.state && !["queued", "running"].includes(job.state)) jobEnded(job);
  }
  const training = JOBS.find(j => j.kind === "train" && j.state === "running");
  if (training) {
    const pick = $("#model-pick");
    if (!FILES.model.includes(training.outputs[0])) await refreshFiles();
    if (pick.value !== training.outputs[0] && FILES.model.includes(training.outputs[0])) pick.value = training.outputs[0];
    showModel(pick.value || training.outputs[0]);
  }
}

// ---- start

async function start() {
  buildNav();
  FORMS = await call("/api/forms");
  buildForms();
  await refreshFiles();
  JOBS = (await call("/api/jobs")).jobs;
  for (const job of JOBS) seen[job.id] = job.state;
  $("#jobs tbody").replaceChildren(...JOBS.map(jobRow));
  $("#upload").onchange = () => upload($("#upload").files);
  $("#faceset-show").onclick = () => showFaceset($("#faceset-pick").value);
  $("#restore-chosen").onclick = () => restoreFaces(false);
  $("#restore-all").onclick = () => restoreFaces(true);
  $("#model-show").onclick = () => showModel($("#model-pick").value);
  $("#verify-run").onclick = () => verify($("#verify-pick").value);
  const drop = $("#verify-drop");
  drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = async e => {
    e.preventDefault();
    drop.classList.remove("over");
    const names = await upload(e.dataTransfer.files, "verify-error");
    if (names.length) { $("#verify-pick").value = names[0]; verify(names[0]); }
  };
  show(PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "media");
  setInterval(refreshJobs, 1000);
  document.body.dataset.ready = "1";
}
start();
