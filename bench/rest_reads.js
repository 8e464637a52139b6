// What an authenticated REST read costs a server (bench/READING.md, "verified tokens kept
// per process"). Node 18+, no packages: copy this file into the copy of ../shared/peers
// (beside open_sockets.js), then, with a Tandem server on PORT:
//   node rest_reads.js PORT N CONCURRENCY SERVER_PID
// One user and one event; N `GET /events/{id}` with one bearer token, CONCURRENCY at a
// time over keep-alive connections, after 200 to warm up. Prints requests/s and the
// server process's CPU per request over the N alone.
'use strict';
const fs = require('fs');
const [port, N, C, pid] = [process.argv[2], +process.argv[3], +process.argv[4], process.argv[5]];
const base = `http://127.0.0.1:${port}/api/v1`;
const ticks = () => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (+f[11]) + (+f[12]); };
async function call(method, path, body, token) {
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body && JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}
(async () => {
  const u = `r${Date.now()}`;
  const tok = (await call('POST', '/auth/register', { username: u, email: `${u}@x.io`, password: 'password-123' })).access_token;
  const ev = await call('POST', '/events', { title: 'x', start_time: '2026-03-02T09:00:00Z', end_time: '2026-03-02T10:00:00Z' }, tok);
  for (let i = 0; i < 200; i++) await call('GET', `/events/${ev.id}`, null, tok);
  let next = 0; const t0 = Date.now(); const c0 = ticks();
  await Promise.all(Array.from({ length: C }, async () => { while (next++ < N) await call('GET', `/events/${ev.id}`, null, tok); }));
  const dt = (Date.now() - t0) / 1000;
  console.log(JSON.stringify({ requests: N, per_s: Math.round(N / dt), cpu_ms_per_request: +(((ticks() - c0) * 10) / N).toFixed(3) }));
})();
