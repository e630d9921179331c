// The cluster page: lists nodes, workloads, pods and recent events over ferry's own API with the
// token the user pasted, and keeps them current with watches. Rules it keeps:
// - the token lives only in this tab's sessionStorage and leaves only as an Authorization header
//   to this page's own origin (relative URLs; the server's CSP allows no other origin);
// - everything shown is set with textContent, never parsed as HTML: object names, labels and
//   event messages are user input;
// - three watches (nodes, pods, events): a browser opens at most six HTTP/1.1 connections to
//   one origin, and each watch holds one. Workloads are listed again when pods change (their
//   ready counts follow the pods) and every 15 s, which keeps connections free for lists.

const TOKEN_KEY = 'ferry.token';
const WATCHED = { nodes: '/api/v1/nodes', pods: '/api/v1/pods', events: '/api/v1/events' };
const WORKLOADS = [
  ['Deployment', '/apis/apps/v1/deployments'],
  ['StatefulSet', '/apis/apps/v1/statefulsets'],
  ['DaemonSet', '/apis/apps/v1/daemonsets'],
];
const MAX_ROWS = 500;
const MAX_EVENTS = 50;

const $ = (id) => document.getElementById(id);
const state = { nodes: new Map(), pods: new Map(), events: new Map(), workloads: [] };
let session;

class Unauthorized extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, signal) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token()}` }, signal, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the token was refused (expired or revoked?)');
  return res;
}

function keyOf(obj) {
  return obj.metadata.uid ?? `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

function setStatus(text, cls = '') {
  const el = $('status');
  el.textContent = text;
  el.className = cls;
}

function showError(section, message) {
  const el = $(`${section}-error`);
  el.textContent = message ?? '';
  el.hidden = !message;
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** List, then watch from the list's resourceVersion; list again on 410 or a broken stream. */
async function follow(section, path, signal) {
  const objects = state[section];
  while (!signal.aborted) {
    try {
      const res = await api(path, signal);
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        showError(section, `${res.status}: ${body.message ?? res.statusText}`);
        return; // a 403 does not heal by retrying
      }
      const list = await res.json();
      objects.clear();
      for (const o of list.items ?? []) objects.set(keyOf(o), o);
      showError(section, undefined);
      changed(section);
      let rv = list.metadata?.resourceVersion ?? '';
      // Watches end (server timeout, restart): resume from the last version seen.
      for (;;) {
        const next = await watch(
          section,
          `${path}?watch=true&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`,
          signal,
        );
        if (next === undefined) break; // expired: list again
        rv = next;
        if (signal.aborted) return;
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof Unauthorized) return signOut(err.message);
      setStatus(`reconnecting (${err.message})`, 'failed');
      await sleep(2000, signal);
    }
  }
}

/** Reads one watch stream; returns the last resourceVersion, or undefined when the server says it expired. */
async function watch(section, url, signal) {
  const res = await api(url, signal);
  if (!res.ok || !res.body) throw new Error(`watch ${res.status}`);
  setStatus('live', 'live');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let rv;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return rv;
    buffered += decoder.decode(value, { stream: true });
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      if (!line.trim()) continue;
      const ev = JSON.parse(line);
      if (ev.type === 'ERROR') {
        if (ev.object?.code === 410) return undefined;
        throw new Error(ev.object?.message ?? 'watch error');
      }
      rv = ev.object?.metadata?.resourceVersion ?? rv;
      if (ev.type === 'BOOKMARK') continue;
      const objects = state[section];
      if (ev.type === 'DELETED') objects.delete(keyOf(ev.object));
      else objects.set(keyOf(ev.object), ev.object);
      changed(section);
    }
  }
}

let workloadsTimer;
let workloadsSignal;

async function listWorkloads(signal) {
  const all = [];
  const errors = [];
  for (const [kind, path] of WORKLOADS) {
    try {
      const res = await api(path, signal);
      if (!res.ok) {
        errors.push(`${kind}: ${res.status}`);
        continue;
      }
      for (const o of (await res.json()).items ?? []) all.push({ kind, o });
    } catch (err) {
      if (err instanceof Unauthorized) return signOut(err.message);
      if (signal.aborted) return;
      errors.push(`${kind}: ${err.message}`);
    }
  }
  state.workloads = all;
  showError('workloads', errors.length ? `could not list ${errors.join(', ')}` : undefined);
  render('workloads');
}

function workloadsSoon() {
  clearTimeout(workloadsTimer);
  workloadsTimer = setTimeout(() => listWorkloads(workloadsSignal), 500);
}

const dirty = new Set();
let renderTimer;

function changed(section) {
  dirty.add(section);
  if (section === 'pods') {
    dirty.add('nodes'); // pods per node
    workloadsSoon();
  }
  if (renderTimer !== undefined) return;
  renderTimer = setTimeout(() => {
    renderTimer = undefined;
    for (const s of dirty) render(s);
    dirty.clear();
  }, 50);
}

function age(iso) {
  const t = Date.parse(iso ?? '');
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.floor((Date.now() - t) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const STATUS_CLASSES = new Set([
  'True',
  'False',
  'Unknown',
  'Running',
  'Succeeded',
  'Failed',
  'Warning',
  'ok',
  'short',
]);

/** One row; every cell is text. A cell is a string or [text, class] (the class from a fixed set). */
function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    const [text, cls] = Array.isArray(cell) ? cell : [cell];
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (cls && STATUS_CLASSES.has(cls)) td.className = cls;
    tr.append(td);
  }
  return tr;
}

function fill(section, rows, total) {
  const body = $(section).tBodies[0];
  body.replaceChildren(...rows.slice(0, MAX_ROWS));
  $(`${section}-count`).textContent = total > MAX_ROWS ? `(${MAX_ROWS} of ${total})` : `(${total})`;
}

const byName = (a, b) =>
  `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ''}/${b.metadata.name}`);

function condition(obj, type) {
  return (obj.status?.conditions ?? []).find((c) => c.type === type)?.status ?? 'Unknown';
}

const RENDER = {
  nodes() {
    const perNode = new Map();
    for (const p of state.pods.values()) {
      const n = p.spec?.nodeName;
      if (n) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    }
    const nodes = [...state.nodes.values()].sort(byName);
    const pair = (o, r) => `${o.status?.allocatable?.[r] ?? '?'} / ${o.status?.capacity?.[r] ?? '?'}`;
    fill(
      'nodes',
      nodes.map((n) => {
        const ready = condition(n, 'Ready');
        return row([
          n.metadata.name,
          [n.spec?.unschedulable ? `${ready}, cordoned` : ready, ready],
          pair(n, 'cpu'),
          pair(n, 'memory'),
          `${perNode.get(n.metadata.name) ?? 0} / ${n.status?.allocatable?.pods ?? '?'}`,
          age(n.metadata.creationTimestamp),
        ]);
      }),
      nodes.length,
    );
  },
  pods() {
    const pods = [...state.pods.values()].sort(byName);
    fill(
      'pods',
      pods.map((p) => {
        const statuses = p.status?.containerStatuses ?? [];
        const total = p.spec?.containers?.length ?? statuses.length;
        const ready = statuses.filter((c) => c.ready).length;
        const restarts = statuses.reduce((sum, c) => sum + (c.restartCount ?? 0), 0);
        const phase = p.metadata.deletionTimestamp ? 'Terminating' : (p.status?.phase ?? 'Pending');
        return row([
          p.metadata.namespace,
          p.metadata.name,
          [phase, phase],
          [`${ready}/${total}`, ready === total ? 'ok' : 'short'],
          restarts,
          p.spec?.nodeName ?? '',
          age(p.metadata.creationTimestamp),
        ]);
      }),
      pods.length,
    );
  },
  workloads() {
    const items = [...state.workloads].sort((a, b) => a.kind.localeCompare(b.kind) || byName(a.o, b.o));
    fill(
      'workloads',
      items.map(({ kind, o }) => {
        const ready = kind === 'DaemonSet' ? (o.status?.numberReady ?? 0) : (o.status?.readyReplicas ?? 0);
        const desired = kind === 'DaemonSet' ? (o.status?.desiredNumberScheduled ?? 0) : (o.spec?.replicas ?? 1);
        return row([
          kind,
          o.metadata.namespace,
          o.metadata.name,
          [`${ready} / ${desired}`, ready >= desired ? 'ok' : 'short'],
          age(o.metadata.creationTimestamp),
        ]);
      }),
      items.length,
    );
  },
  events() {
    const when = (e) => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
    const events = [...state.events.values()].sort((a, b) => Date.parse(when(b) ?? 0) - Date.parse(when(a) ?? 0));
    fill(
      'events',
      events.slice(0, MAX_EVENTS).map((e) => {
        const obj = e.involvedObject ?? e.regarding ?? {};
        return row([
          age(when(e)),
          [e.type, e.type],
          e.reason,
          `${obj.kind ?? ''} ${obj.namespace ? `${obj.namespace}/` : ''}${obj.name ?? ''}`,
          `${e.message ?? e.note ?? ''}${e.count > 1 ? ` (x${e.count})` : ''}`,
        ]);
      }),
      events.length,
    );
  },
};

function render(section) {
  RENDER[section]?.();
}

function connect() {
  const controller = new AbortController();
  session = controller;
  workloadsSignal = controller.signal;
  $('login').hidden = true;
  $('cluster').hidden = false;
  $('forget').hidden = false;
  setStatus('connecting');
  for (const [section, path] of Object.entries(WATCHED)) follow(section, path, controller.signal);
  listWorkloads(controller.signal);
  // Ages move and workloads change without a pod event (a scale to the same pods): refresh both.
  const every = setInterval(() => {
    if (controller.signal.aborted) return clearInterval(every);
    listWorkloads(controller.signal);
    for (const s of ['nodes', 'pods', 'events']) render(s);
  }, 15_000);
}

function signOut(message) {
  session?.abort();
  session = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const m of [state.nodes, state.pods, state.events]) m.clear();
  state.workloads = [];
  // Nothing of the cluster stays on screen for the next person at this tab.
  for (const section of ['nodes', 'workloads', 'pods', 'events']) {
    $(section).tBodies[0].replaceChildren();
    $(`${section}-count`).textContent = '';
    showError(section, undefined);
  }
  $('cluster').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  setStatus(message ?? 'not connected', message ? 'failed' : '');
}

function start() {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('token');
    const value = input.value.trim();
    input.value = '';
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    connect();
  });
  $('forget').addEventListener('click', () => signOut());
  if (token()) connect();
}

start();
