// The approvers' page: lists pending approvals and recent decisions, approves and denies.
// Everything from the API is inserted as text, never as HTML.
'use strict';

const TOKEN_KEY = 'gatekit.token';
const REFRESH_MS = 2000;
let timer = null;
// Approvals whose deny reason is being typed: the refresh keeps their row as it is.
const editing = new Set();

const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: 'Bearer ' + token() } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (res.status === 401) {
    signOut(data.error || 'token refused');
    throw new Error(data.error || 'unauthorized');
  }
  if (!res.ok) {
    throw new Error(data.error || ('HTTP ' + res.status));
  }
  return data;
}

function showStatus(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.className = isError ? 'error' : '';
}

function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(label, cls, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = cls;
  b.addEventListener('click', onClick);
  return b;
}

async function decide(id, verb, reason) {
  try {
    await api('POST', '/v1/approvals/' + encodeURIComponent(id) + '/' + verb,
      reason ? { reason } : {});
    editing.delete(id);
    showStatus((verb === 'approve' ? 'Approved ' : 'Denied ') + id, false);
  } catch (e) {
    showStatus(e.message, true);
  }
  refresh();
}

function askReason(td, id) {
  editing.add(id);
  td.textContent = '';
  const input = document.createElement('input');
  input.className = 'reason';
  input.placeholder = 'reason';
  input.maxLength = 1000;
  td.appendChild(input);
  td.appendChild(button('Deny', 'deny confirm', () => decide(id, 'deny', input.value.trim())));
  td.appendChild(button('Cancel', 'cancel', () => { editing.delete(id); refresh(); }));
  input.focus();
}

function pendingRow(a) {
  const tr = document.createElement('tr');
  tr.dataset.id = a.id;
  cell(tr, a.command, 'command');
  cell(tr, a.requester && a.requester.subject);
  cell(tr, a.target + ' (' + a.protocol + ')');
  cell(tr, (a.classes || []).join(', '));
  cell(tr, a.rule || '(default)');
  cell(tr, when(a.created_at));
  cell(tr, when(a.expires_at));
  const actions = cell(tr, '', 'actions');
  actions.appendChild(button('Approve', 'approve', () => decide(a.id, 'approve')));
  actions.appendChild(button('Deny…', 'deny', () => askReason(actions, a.id)));
  return tr;
}

function decidedRow(a) {
  const tr = document.createElement('tr');
  tr.dataset.id = a.id;
  cell(tr, a.command, 'command');
  cell(tr, a.requester && a.requester.subject);
  cell(tr, a.target);
  cell(tr, a.status, 'status-' + a.status);
  cell(tr, (a.votes || []).map((v) => v.decider).join(', '));
  cell(tr, a.reason);
  cell(tr, when(a.decided_at));
  return tr;
}

function fill(tbody, rows, make) {
  const keep = new Map();
  for (const tr of tbody.querySelectorAll('tr')) {
    if (editing.has(tr.dataset.id)) keep.set(tr.dataset.id, tr);
  }
  tbody.textContent = '';
  for (const a of rows) {
    tbody.appendChild(keep.get(a.id) || make(a));
  }
}

async function refresh() {
  if (!token()) return;
  try {
    const [pending, decided] = await Promise.all([
      api('GET', '/v1/approvals?status=pending&limit=200'),
      api('GET', '/v1/approvals?status=decided&limit=20'),
    ]);
    fill($('pending').tBodies[0], pending.approvals, pendingRow);
    fill($('decided').tBodies[0], decided.approvals, decidedRow);
    const n = pending.approvals.length;
    $('pending-count').textContent = n ? '(' + n + ')' : '';
    $('pending-empty').hidden = n > 0;
    if ($('status').className === 'error') showStatus('', false);
  } catch (e) {
    showStatus(e.message, true);
  }
}

function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch (e) {
    return {};
  }
}

function signedIn() {
  $('signin').hidden = true;
  $('main').hidden = false;
  $('signout').hidden = false;
  const c = claims(token());
  $('who').textContent = c.sub ? 'signed in as ' + c.sub : '';
  refresh();
  if (!timer) timer = setInterval(refresh, REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (timer) clearInterval(timer);
  timer = null;
  $('main').hidden = true;
  $('signout').hidden = true;
  $('signin').hidden = false;
  $('who').textContent = message ? 'signed out: ' + message : '';
}

document.addEventListener('DOMContentLoaded', () => {
  $('signin-button').addEventListener('click', () => {
    const t = $('token').value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    signedIn();
  });
  $('signout').addEventListener('click', () => signOut());
  if (token()) signedIn(); else signOut();
});
