// The Live tab: the browser's camera -> /api/live/frame, one JPEG at a time -> the swapped, labelled frame shown.
// A frame is sent only when the last one has come back, so a swap slower than the camera skips frames, never queues.
// Uses app.js's helpers ($, call, post, say, optionInput, optionValues).
"use strict";
const LIVE = {session: null, stream: null, shown: [], latencies: [], swapping: true, source: ""};
const IMAGE = /\.(jpe?g|png|webp|bmp|tiff?)$/i;

function liveBuild(fields) {
  const page = $("#page-live");
  page.innerHTML = `<h2>Live</h2>
    <p>Your camera, swapped in real time by the same engine as <code>kaokae live</code>: source photos of the
      workspace (the classic swap) or a trained model. Every frame comes back with kaokae's invisible watermark, and
      with the visible "synthetic" badge unless you turn it off.</p>
    <div class="files-row"><label for="live-sources">source photos</label><select id="live-sources" multiple></select>
      <label for="live-model">or model</label><select id="live-model"></select></div>
    <div id="live-options" class="options"></div>
    <button id="live-start">Start camera</button> <button id="live-stop" disabled>Stop</button>
    <button id="live-swap" disabled>Swap on/off</button> <button id="live-next" disabled>Next source photo</button>
    <div class="error" id="live-error"></div>
    <div class="status" id="live-fps"></div>
    <div class="status" id="live-label"></div>
    <div class="figures">
      <figure><img id="live-output" alt="swapped camera"><figcaption>swapped and labelled</figcaption></figure>
      <figure><video id="live-camera" muted playsinline width="240"></video><figcaption>camera</figcaption></figure>
    </div>
    <canvas id="live-canvas" hidden></canvas>`;
  const groups = {};
  for (const f of fields) {
    const group = f.group || "options";
    if (!groups[group]) {
      groups[group] = document.createElement("fieldset");
      groups[group].append(Object.assign(document.createElement("legend"), {textContent: group}));
      $("#live-options").append(groups[group]);
    }
    groups[group].append(optionInput("live", f));
  }
  $("#live-start").onclick = liveStart;
  $("#live-stop").onclick = () => liveStop();
  $("#live-swap").onclick = () => liveCommand("swap");
  $("#live-next").onclick = () => liveCommand("source");
  $("#nav").addEventListener("click", e => { if (e.target.id === "tab-live") liveFiles(); });
  window.addEventListener("pagehide", () => {
    if (LIVE.session) fetch("/api/live/stop", {method: "POST", keepalive: true, headers: {"Content-Type":
      "application/json"}, body: JSON.stringify({session: LIVE.session})});
  });
}

async function liveFiles() {
  const files = await call("/api/files");
  const fill = (select, names, blank) => {
    const chosen = new Set([...select.selectedOptions].map(o => o.value));
    select.replaceChildren(...(blank ? [new Option(blank, "")] : []),
                           ...names.map(n => new Option(n, n, false, chosen.has(n))));
  };
  fill($("#live-sources"), files.media.filter(n => IMAGE.test(n)));
  fill($("#live-model"), files.model, "(none: the classic swap)");
}

function liveButtons(running) {
  $("#live-start").disabled = running;
  for (const id of ["live-stop", "live-swap", "live-next"]) $(`#${id}`).disabled = !running;
}

function liveRelease() {
  if (LIVE.stream) for (const track of LIVE.stream.getTracks()) track.stop();
  LIVE.stream = null;
  $("#live-camera").srcObject = null;
}

async function liveStart() {
  say("live-error", "");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("live-error", "kaokae: error: the browser gives a camera only to https pages and to localhost: open the " +
        "UI at http://127.0.0.1:PORT/ (through an SSH tunnel for another machine)");
    return;
  }
  const options = optionValues($("#live-options"));
  const size = /^\s*(\d+)\s*[xX]\s*(\d+)\s*$/.exec(options.size || "");
  try {
    LIVE.stream = await navigator.mediaDevices.getUserMedia({audio: false, video: size ?
      {width: {ideal: Number(size[1])}, height: {ideal: Number(size[2])}} : true});
  } catch (e) {
    say("live-error", `kaokae: error: no camera: ${e.message}`);
    return;
  }
  const video = $("#live-camera");
  video.srcObject = LIVE.stream;
  await video.play();
  const rate = LIVE.stream.getVideoTracks()[0].getSettings().frameRate;
  let r;
  try {
    r = await post("/api/live/start", {sources: [...$("#live-sources").selectedOptions].map(o => o.value),
                                       model: $("#live-model").value || null, options, width: video.videoWidth,
                                       height: video.videoHeight, fps: rate || 30});
  } catch (e) {
    liveRelease();
    say("live-error", e.message);
    return;
  }
  Object.assign(LIVE, {session: r.session, shown: [], latencies: [], swapping: true, source: ""});
  Object.assign($("#live-canvas"), {width: r.width, height: r.height});
  const by = r.engine === "classic" ? `photo ${r.sources.join(", ")}` : `model ${r.model}`;
  say("live-label", `${r.width}x${r.height}, ${r.engine} swap from ${by}. Label: ${r.watermark ? "invisible " +
      `watermark (kaokae live, model ${String(r.model_id).slice(0, 10)}) on every frame` : "no watermark"}; ` +
      (r.badge ? `visible "synthetic" badge in the bottom-right corner` : "badge off"));
  say("live-fps", "starting...");
  liveButtons(true);
  liveLoop(r.session);
}

// Resolves at once when the camera has shown a frame since the last one taken, else at its next frame.
function cameraFrames(video, session) {
  const state = {seen: 0, taken: 0, wake: null};
  const tick = () => {
    state.seen += 1;
    if (state.wake) { state.wake(); state.wake = null; }
    if (LIVE.session !== session) return;
    video.requestVideoFrameCallback ? video.requestVideoFrameCallback(tick) : requestAnimationFrame(tick);
  };
  tick();
  return async () => {
    if (state.seen === state.taken) await new Promise(resolve => { state.wake = resolve; });
    state.taken = state.seen;
  };
}

async function liveLoop(session) {
  const video = $("#live-camera"), canvas = $("#live-canvas"), img = $("#live-output");
  const context = canvas.getContext("2d");
  const nextCameraFrame = cameraFrames(video, session);
  while (LIVE.session === session) {
    await nextCameraFrame();
    if (LIVE.session !== session) break;
    const captured = performance.now();
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const jpeg = await (await new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", 0.9))).arrayBuffer();
    let response;
    try {
      response = await fetch(`/api/live/frame?session=${session}`, {method: "POST", body: jpeg,
                                                                    headers: {"Content-Type": "image/jpeg"}});
      if (!response.ok) throw new Error((await response.json()).error);
    } catch (e) {
      if (LIVE.session === session) { say("live-error", e.message); liveStop(); }
      break;
    }
    const returned = await response.blob();
    if (LIVE.session !== session) break;  // stopped while this frame was out
    LIVE.last = {sent: jpeg, returned, swap: response.headers.get("X-Kaokae-Swap")};  // what was shown, from what
    const url = URL.createObjectURL(returned);
    const old = img.src;
    img.src = url;
    await img.decode().catch(() => {});
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    liveShown(performance.now(), performance.now() - captured, response.headers);
  }
}

function liveShown(now, latency, headers) {
  LIVE.shown.push(now);
  LIVE.latencies.push(latency);
  while (LIVE.shown.length > 2 && now - LIVE.shown[0] > 2000) { LIVE.shown.shift(); LIVE.latencies.shift(); }
  LIVE.swapping = headers.get("X-Kaokae-Swap") === "on";
  LIVE.source = headers.get("X-Kaokae-Source") || LIVE.source;
  const img = $("#live-output");
  img.dataset.frames = Number(img.dataset.frames || 0) + 1;
  img.dataset.swap = LIVE.swapping ? "on" : "off";
  if (LIVE.shown.length < 2) return;
  const fps = (LIVE.shown.length - 1) / ((now - LIVE.shown[0]) / 1000);
  const sorted = [...LIVE.latencies].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  say("live-fps", `${fps.toFixed(1)} fps · latency ${median.toFixed(0)} ms (camera -> swapped frame shown) · ` +
      `swap ${LIVE.swapping ? "on" : "off"} · server ${Number(headers.get("X-Kaokae-Swap-Ms")).toFixed(0)} ms` +
      (LIVE.source ? ` · source ${LIVE.source}` : ""));
}

async function liveCommand(command) {
  try { await post("/api/live/command", {session: LIVE.session, command}); } catch (e) { say("live-error", e.message); }
}

async function liveStop() {
  const session = LIVE.session;
  LIVE.session = null;
  liveRelease();
  liveButtons(false);
  say("live-fps", "stopped");
  if (session) {
    try { await post("/api/live/stop", {session}); } catch (e) { say("live-error", e.message); }
  }
}

(async () => {
  const spec = await call("/api/live/form");
  liveBuild(spec.options);
  await liveFiles();
  $("#page-live").dataset.ready = "1";
})();
