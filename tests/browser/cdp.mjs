// Drives headless Chromium over the DevTools protocol for tests/browser.rs.
//
// Why a Node script on --remote-debugging-pipe: the DevTools protocol is plain JSON
// messages; with --remote-debugging-pipe Chromium reads them from fd 3 and writes
// answers and events to fd 4, each terminated by a NUL byte. Node's child_process can
// hand a child extra pipes, so this needs nothing beyond Node's standard library: no
// WebSocket client (which --remote-debugging-port would need, and Node 20 has none
// built in), no puppeteer/playwright download, no npm install on a closed network,
// no port to race for. Doing the same from Rust would mean a CDP client and an async
// fd-3/fd-4 dance in the test binary; a 300-line script is easier to read and to
// change than that.
//
// Usage: node cdp.mjs SPEC.json
// SPEC: { chromium, gateways: [base URL...], timeout_ms,
//         cases: [{ name, page, gateway, script }] }
//   page:    the page URL to open (one of the test's two page origins);
//   gateway: base URL the snippet talks to, bound to `gw` in the snippet;
//   script:  body of an async function run in the page; its return value (JSON) is
//            the case's `page` result. Helpers `probe(url, init, read)` and
//            `noCors(url)` are in scope (see PRELUDE).
// Every case runs in a fresh browser context (own HTTP cache, preflight cache and
// cookies), so cases never see each other's cache entries; a case that tests caching
// does all its fetches inside one snippet.
//
// Output: one JSON line per case on stdout:
//   { name, page, network: [request...], error }
// request: { url, method, resourceType, initiator, requestHeaders, preflight, status,
//            headers, fromCache, failed, errorText, corsError, corsErrorParameter }
// plus a final { done: true } line. Chromium's own stderr goes to our stderr only when
// something goes wrong (it is noisy).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const TIMEOUT = spec.timeout_ms ?? 15000;

// Runs in the page before each snippet. probe() never throws: it returns what the
// page could see, or the error the page got (a CORS block is a TypeError whose
// message says nothing useful; the reason comes from the network events).
const PRELUDE = `
const probe = async (url, init = {}, read = []) => {
  try {
    const r = await fetch(url, init);
    const headers = {};
    for (const name of read) headers[name] = r.headers.get(name);
    let body = null;
    try { body = await r.text(); } catch (e) { body = 'BODY ERROR: ' + e; }
    return { ok: true, status: r.status, type: r.type, headers, body };
  } catch (e) {
    return { ok: false, error: e.name + ': ' + e.message };
  }
};
const noCors = async (url) => {
  try {
    const r = await fetch(url, { mode: 'no-cors' });
    return { ok: true, type: r.type, status: r.status };
  } catch (e) {
    return { ok: false, error: e.name + ': ' + e.message };
  }
};
`;

const userDataDir = mkdtempSync(join(tmpdir(), 'corsgate-chromium-'));
const args = [
  // Root in a container needs --no-sandbox; the rest keeps Chromium from phoning
  // home (it stalls on a closed network otherwise) and from using QUIC.
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-dev-shm-usage',
  '--remote-debugging-pipe',
  `--user-data-dir=${userDataDir}`,
  'about:blank',
];
const chrome = spawn(spec.chromium, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
let chromeLog = '';
const keepLog = (d) => {
  chromeLog = (chromeLog + d.toString()).slice(-20000);
};
chrome.stdout.on('data', keepLog);
chrome.stderr.on('data', keepLog);
let exited = false;
chrome.on('exit', (code, signal) => {
  exited = true;
  failAll(new Error(`chromium exited (code ${code}, signal ${signal})`));
});

const toChrome = chrome.stdio[3];
const fromChrome = chrome.stdio[4];

let nextId = 1;
const pending = new Map(); // id -> {resolve, reject, method}
const listeners = new Set(); // (msg) => void, for events

function failAll(err) {
  for (const p of pending.values()) p.reject(err);
  pending.clear();
}

let buf = Buffer.alloc(0);
fromChrome.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  let nul;
  while ((nul = buf.indexOf(0)) !== -1) {
    const text = buf.subarray(0, nul).toString('utf8');
    buf = buf.subarray(nul + 1);
    const msg = JSON.parse(text);
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      if (!p) continue;
      pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${JSON.stringify(msg.error)}`));
      else p.resolve(msg.result);
    } else {
      for (const l of listeners) l(msg);
    }
  }
});

function send(method, params = {}, sessionId) {
  if (exited) return Promise.reject(new Error('chromium is gone'));
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, method });
    toChrome.write(JSON.stringify(msg) + '\0');
  });
}

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

function waitEvent(sessionId, method, ms) {
  return withTimeout(
    new Promise((resolve) => {
      const l = (msg) => {
        if (msg.sessionId === sessionId && msg.method === method) {
          listeners.delete(l);
          resolve(msg.params);
        }
      };
      listeners.add(l);
    }),
    ms,
    method,
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function isGatewayUrl(url) {
  return spec.gateways.some((g) => url.startsWith(g));
}

// Network events of one session, folded into one record per request. Chromium reports
// a CORS preflight as a request of its own: method OPTIONS with initiator.type
// "preflight" (Chromium 156 gives resourceType "Other"; some versions say "Preflight").
// Any of the three marks it as a preflight here. A CORS failure arrives as
// Network.loadingFailed on the *actual* request, with corsErrorStatus.corsError
// (e.g. PreflightMissingAllowOriginHeader when the preflight was refused).
function recorder(sessionId) {
  const byId = new Map();
  const order = [];
  const get = (id) => {
    let r = byId.get(id);
    if (!r) {
      r = { requestId: id };
      byId.set(id, r);
      order.push(r);
    }
    return r;
  };
  const l = (msg) => {
    if (msg.sessionId !== sessionId) return;
    const p = msg.params;
    switch (msg.method) {
      case 'Network.requestWillBeSent': {
        if (!isGatewayUrl(p.request.url)) return;
        // A redirect reuses the requestId; we do not expect any, keep the last.
        const r = get(p.requestId);
        r.url = p.request.url;
        r.method = p.request.method;
        r.resourceType = p.type;
        r.initiator = p.initiator?.type;
        r.requestHeaders = pick(lower(p.request.headers), KEPT_REQUEST_HEADERS);
        r.preflight =
          p.request.method === 'OPTIONS' ||
          p.type === 'Preflight' ||
          p.initiator?.type === 'preflight';
        break;
      }
      case 'Network.responseReceived': {
        const r = byId.get(p.requestId);
        if (!r) return;
        r.status = p.response.status;
        r.headers = lower(p.response.headers);
        r.fromCache = !!(p.response.fromDiskCache || p.response.fromPrefetchCache);
        if (p.type === 'Preflight') r.preflight = true;
        break;
      }
      case 'Network.loadingFinished': {
        const r = byId.get(p.requestId);
        if (r) r.finished = true;
        break;
      }
      case 'Network.loadingFailed': {
        const r = byId.get(p.requestId);
        if (!r) return;
        r.finished = true;
        r.failed = true;
        r.errorText = p.errorText;
        r.corsError = p.corsErrorStatus?.corsError ?? null;
        r.corsErrorParameter = p.corsErrorStatus?.failedParameter ?? null;
        if (p.type === 'Preflight') r.preflight = true;
        break;
      }
    }
  };
  listeners.add(l);
  return {
    stop: () => listeners.delete(l),
    // Requests whose final event has not arrived yet (events can trail the promise).
    unfinished: () => order.filter((r) => r.url && !r.finished).length,
    requests: () =>
      order
        .filter((r) => r.url)
        .map(({ requestId, finished, ...rest }) => ({
          failed: false,
          corsError: null,
          ...rest,
        })),
  };
}

// Request headers worth reporting (the rest is User-Agent noise). Origin itself only
// shows in ...ExtraInfo events, except on preflights.
const KEPT_REQUEST_HEADERS = [
  'origin',
  'access-control-request-method',
  'access-control-request-headers',
  'content-type',
  'range',
];

function pick(obj, names) {
  const out = {};
  for (const n of names) if (n in obj) out[n] = obj[n];
  return out;
}

function lower(headers = {}) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

async function runCase(c) {
  const { browserContextId } = await send('Target.createBrowserContext', {});
  try {
    const { targetId } = await send('Target.createTarget', {
      url: 'about:blank',
      browserContextId,
    });
    const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
    await send('Page.enable', {}, sessionId);
    await send('Network.enable', {}, sessionId);
    const loaded = waitEvent(sessionId, 'Page.loadEventFired', TIMEOUT);
    const nav = await send('Page.navigate', { url: c.page }, sessionId);
    if (nav.errorText) throw new Error(`navigating to ${c.page}: ${nav.errorText}`);
    await loaded;
    const rec = recorder(sessionId);
    try {
      const expression =
        `(async () => { const gw = ${JSON.stringify(c.gateway)};\n${PRELUDE}\n` +
        `${c.script}\n})()`;
      const res = await withTimeout(
        send(
          'Runtime.evaluate',
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        ),
        TIMEOUT,
        `case ${c.name}`,
      );
      if (res.exceptionDetails) {
        const d = res.exceptionDetails;
        throw new Error(`snippet threw: ${d.exception?.description ?? d.text}`);
      }
      // Let trailing network events (loadingFailed often follows the rejection) land.
      for (let i = 0; i < 50 && rec.unfinished() > 0; i++) await sleep(20);
      await sleep(50);
      return { name: c.name, page: res.result.value ?? null, network: rec.requests() };
    } finally {
      rec.stop();
    }
  } finally {
    await send('Target.disposeBrowserContext', { browserContextId }).catch(() => {});
  }
}

async function main() {
  // The browser target answers once Chromium is up.
  await withTimeout(send('Browser.getVersion'), 30000, 'Chromium start');
  for (const c of spec.cases) {
    let out;
    try {
      out = await runCase(c);
    } catch (e) {
      out = { name: c.name, page: null, network: [], error: String(e?.message ?? e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}

let status = 0;
try {
  await main();
} catch (e) {
  process.stderr.write(`cdp.mjs: ${e?.stack ?? e}\n--- chromium output ---\n${chromeLog}\n`);
  status = 1;
} finally {
  if (!exited) {
    await withTimeout(send('Browser.close'), 5000, 'Browser.close').catch(() => {});
    for (let i = 0; i < 50 && !exited; i++) await sleep(20);
    if (!exited) chrome.kill('SIGKILL');
  }
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(status);
