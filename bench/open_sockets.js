// How fast a server opens sockets, and what each costs it (bench/READING.md, "Opening a
// socket"). Node, with the `ws` package of the peers harness: copy this file into the copy of
// ../shared/peers after its `npm ci`, then, with a Tandem server on PORT:
//   node open_sockets.js PORT N CONCURRENCY SERVER_PIDS
// One user, 100 events; N sockets opened (upgrade, `auth`, `join`), CONCURRENCY at a time.
// Prints sockets/s and the server processes' CPU per socket over the opening alone.
'use strict';
const WebSocket = require('ws'); const fs = require('fs');
const [port, N, C, pids] = [process.argv[2], +process.argv[3], +process.argv[4], process.argv[5].split(',')];
const base = `http://127.0.0.1:${port}/api/v1`;
const ticks = () => pids.reduce((t, p) => { try { const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); return t + (+f[11]) + (+f[12]); } catch (_) { return t; } }, 0);
async function call(method, path, body, token) {
  const r = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body && JSON.stringify(body) });
  return r.json();
}
(async () => {
  const u = `o${Date.now()}`;
  const reg = await call('POST', '/auth/register', { username: u, email: `${u}@x.io`, password: 'password-123' });
  const tok = reg.access_token;
  const docs = Array.from({ length: 100 }, (_, i) => ({ title: `e${i}`, start_time: '2026-03-02T09:00:00Z', end_time: '2026-03-02T10:00:00Z', recurrence: ['RRULE:FREQ=WEEKLY;COUNT=10'], metadata: { team: 'x' } }));
  const ids = (await call('POST', '/events/batch', { events: docs }, tok)).items.map((e) => e.id);
  const socks = []; let next = 0; let presence = 0;
  const t0 = Date.now(); const c0 = ticks();
  async function one(i) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws`, ['tandem.v1.json'], { perMessageDeflate: false });
    socks.push(ws);
    let done;
    const p = new Promise((res, rej) => { done = res; ws.on('error', rej); });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: tok })));
    ws.on('message', (d) => {
      const m = JSON.parse(d);
      if (m.type === 'ready') ws.send(JSON.stringify({ type: 'join', event_id: ids[i % ids.length] }));
      else if (m.type === 'joined') done();
      else if (m.type === 'presence') presence++;
      else throw new Error(d.toString());
    });
    await p;
  }
  await Promise.all(Array.from({ length: C }, async () => { while (next < N) await one(next++); }));
  const dt = (Date.now() - t0) / 1000; const cpu = (ticks() - c0) * 10;
  console.log(JSON.stringify({ sockets: N, per_s: Math.round(N / dt), cpu_ms_per_socket: +(cpu / N).toFixed(3), presence }));
  for (const s of socks) s.terminate();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
