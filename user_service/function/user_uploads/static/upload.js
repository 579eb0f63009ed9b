// The upload screen: choose or drop a photo, watch it upload, then see the verdict.
// Plain JavaScript, no build step. Each photo gets its own card, so a second upload can start while
// the first is still being checked.
"use strict";

(() => {
  const VERDICTS = {
    uploading: "Uploading...",
    pending: "Checking...",
    delayed: "Still checking",
    accepted: "Allowed",
    blocked: "Blocked",
    review: "In review",
    failed: "Not checked",
    expired: "Expired",
    refused: "Refused",
  };
  // Reading the entry is what decides how soon a verdict shows (bench/screen.py: with one read every
  // 700 ms the wait for the next read was over half the time from choosing to the verdict). A
  // verdict usually comes within a second of the announcement, so the first seconds are read often,
  // then less, and an overdue one every few seconds.
  const FAST_POLL_MS = 200;
  const FAST_POLL_FOR_MS = 5000;
  const POLL_MS = 700;
  const SLOW_POLL_MS = 3000;
  const TOP_LABELS = 5;

  const drop = document.getElementById("drop");
  const input = document.getElementById("file");
  const list = document.getElementById("uploads");
  const template = document.getElementById("upload-card");

  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      return { ok: false, status: 0, data: { error: "the service cannot be reached: check your connection and try again" } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { error: `unexpected answer (HTTP ${response.status})` };
    }
    return { ok: response.ok, status: response.status, data };
  }

  // A 503 (one of the service's peers briefly unavailable) or no answer at all is asked again, a few
  // times over about 8 s, before the screen gives up: the API says "say done again" for it, and a
  // create that failed stored nothing the user will see (an entry never uploaded expires).
  const RETRY_DELAYS_MS = [500, 1000, 2000, 4000];

  async function persistently(method, path, body) {
    let answer = await api(method, path, body);
    for (const delay of RETRY_DELAYS_MS) {
      if (answer.status !== 503 && answer.status !== 0) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
      answer = await api(method, path, body);
    }
    return answer;
  }

  // The type the photo's first bytes say, as the service will check them (user_uploads/images.py,
  // which stays the judge): a browser types a file by its name, so a JPEG saved as .png, or a photo
  // with no extension, would be refused for a name. Unknown bytes keep the browser's type.
  async function sniffedType(file) {
    const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
    const starts = (...bytes) => bytes.every((byte, i) => head[i] === byte);
    const text = (from, to) => String.fromCharCode(...head.slice(from, to));
    if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
    if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
    if (text(0, 6) === "GIF87a" || text(0, 6) === "GIF89a") return "image/gif";
    if (text(0, 4) === "RIFF" && text(8, 12) === "WEBP") return "image/webp";
    if (text(0, 2) === "BM") return "image/bmp";
    return file.type;
  }

  function newCard(file) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.querySelector(".name").textContent = file.name;
    card.querySelector("img").src = URL.createObjectURL(file);
    list.prepend(card);
    show(card, "uploading", "");
    return card;
  }

  // An upload from an earlier visit (GET /api/uploads after a reload): the photo itself stays in the
  // private bucket, so the card shows when it was sent, its verdict and its labels.
  function savedCard(entry) {
    const card = template.content.firstElementChild.cloneNode(true);
    const sent = entry.created_at ? new Date(entry.created_at).toLocaleString() : "earlier";
    card.querySelector(".name").textContent = `Photo sent ${sent}`;
    card.querySelector(".photo").hidden = true;
    list.append(card);
    return card;
  }

  function show(card, state, message) {
    card.dataset.state = state;
    card.querySelector(".verdict").textContent = VERDICTS[state] || state;
    card.querySelector(".message").textContent = message;
  }

  function refuse(card, message) {
    card.querySelector("progress").hidden = true;
    show(card, "refused", message);
  }

  function fill(items, element, name) {
    element.replaceChildren(
      ...items.slice(0, TOP_LABELS).map((item) => {
        const entry = document.createElement("li");
        entry.textContent = `${item[name]} ${Math.round(item.score * 100)}%`;
        return entry;
      }),
    );
  }

  // Each object the AI-Service localized, framed over the photo: its box is in fractions of the
  // image, so percentages of the photo's frame (which is the image's own size) place it.
  function frame(objects, photo) {
    photo.querySelectorAll(".box").forEach((box) => box.remove());
    for (const item of objects.slice(0, TOP_LABELS)) {
      if (!item.box) continue;
      const box = document.createElement("div");
      box.className = "box";
      box.title = `${item.name} ${Math.round(item.score * 100)}%`;
      box.style.left = `${item.box.x * 100}%`;
      box.style.top = `${item.box.y * 100}%`;
      box.style.width = `${item.box.width * 100}%`;
      box.style.height = `${item.box.height * 100}%`;
      const name = document.createElement("span");
      name.textContent = item.name;
      box.append(name);
      photo.append(box);
    }
  }

  function render(card, entry) {
    card.dataset.id = entry.id;
    show(card, entry.state, entry.message);
    if (entry.state !== "uploading") card.querySelector("progress").hidden = true;
    fill(entry.labels || [], card.querySelector(".labels"), "description");
    fill(entry.objects || [], card.querySelector(".objects"), "name");
    frame(entry.objects || [], card.querySelector(".photo"));
  }

  // The browser sends the photo straight to Cloud Storage with the signed URL: the service never
  // sees its bytes. Every signed header must be sent exactly as signed.
  function put(upload, file, card) {
    const bar = card.querySelector("progress");
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open(upload.method, upload.url);
      for (const [name, value] of Object.entries(upload.headers)) request.setRequestHeader(name, value);
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
      };
      request.onload = () => {
        if (request.status >= 200 && request.status < 300) {
          bar.value = 100;
          resolve();
        } else {
          reject(new Error(`the storage refused the photo (HTTP ${request.status})`));
        }
      };
      request.onerror = () => reject(new Error("the upload did not reach the storage: try again"));
      request.send(file);
    });
  }

  async function poll(card, id, since) {
    const answer = await api("GET", `/api/uploads/${id}`);
    if (answer.ok) {
      render(card, answer.data);
      if (answer.data.final) return;
    }
    const slow = !answer.ok || answer.data.state === "delayed";
    const fast = performance.now() - since < FAST_POLL_FOR_MS;
    setTimeout(() => poll(card, id, since), slow ? SLOW_POLL_MS : fast ? FAST_POLL_MS : POLL_MS);
  }

  async function start(file) {
    const card = newCard(file);
    const type = await sniffedType(file);
    const created = await persistently("POST", "/api/uploads", { content_type: type, size: file.size });
    if (!created.ok) return refuse(card, created.data.error);
    render(card, created.data.entry);
    try {
      await put(created.data.upload, file, card);
    } catch (error) {
      return refuse(card, error.message);
    }
    const done = await persistently("POST", `/api/uploads/${created.data.id}/done`);
    if (!done.ok) return refuse(card, done.data.error);
    render(card, done.data);
    if (!done.data.final) setTimeout(() => poll(card, created.data.id, performance.now()), FAST_POLL_MS);
  }

  // The owner's earlier uploads, newest first, each followed until its verdict.
  async function restore() {
    const answer = await api("GET", "/api/uploads");
    if (!answer.ok) return;
    for (const entry of answer.data.uploads) {
      if (list.querySelector(`[data-id="${entry.id}"]`)) continue; // sent from this page already
      const card = savedCard(entry);
      render(card, entry);
      if (!entry.final) setTimeout(() => poll(card, entry.id, performance.now()), FAST_POLL_MS);
    }
  }

  restore();
  input.addEventListener("change", () => {
    for (const file of input.files) start(file);
    input.value = "";
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    for (const file of event.dataTransfer.files) start(file);
  });
})();
