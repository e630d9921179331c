// The DNS e2e test's and bench's client pod (ferry.local/dns-client:1): resolves names as real
// applications do, through the C library (dns.lookup is getaddrinfo: nsswitch, the resolv.conf
// search list and ndots), and answers over HTTP on PORT (default 8080):
//   GET /lookup?name=N         -> {"addresses":[...]} or {"error":"ENOTFOUND"}
//   GET /get?url=U             -> {"status":200,"body":"..."}  (the URL's host resolved by getaddrinfo)
//   GET /srv?name=N            -> {"records":[...]}           (SRV, through the resolv.conf nameserver)
//   GET /bench?name=N&n=&c=    -> lookups/s and latency percentiles of n lookups, c at a time
// No dependency. Each request is bounded: lookups by the resolver's own timeout, GETs by 3 s, the
// bench by n <= 100000 and 60 s.
const dns = require('node:dns');
const http = require('node:http');

const lookup = (name) =>
  new Promise((resolve) => {
    dns.lookup(name, { all: true, family: 4 }, (err, addresses) =>
      resolve(err ? { error: err.code } : { addresses: addresses.map((a) => a.address) }),
    );
  });

const get = (url) =>
  new Promise((resolve) => {
    const req = http.get(url, { timeout: 3000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ error: err.code ?? err.message }));
  });

async function bench(name, n, concurrency) {
  const latencies = [];
  let failed = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + 60_000;
  const worker = async () => {
    while (next < n && Date.now() < deadline) {
      next++;
      const t0 = process.hrtime.bigint();
      const r = await lookup(name);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (r.error) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    lookups: latencies.length,
    failed,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://client');
    const q = (k) => url.searchParams.get(k) ?? '';
    let out;
    if (url.pathname === '/lookup') out = await lookup(q('name'));
    else if (url.pathname === '/get') out = await get(q('url'));
    else if (url.pathname === '/srv')
      out = await dns.promises.resolveSrv(q('name')).then(
        (records) => ({ records }),
        (err) => ({ error: err.code }),
      );
    else if (url.pathname === '/bench')
      out = await bench(q('name'), Math.min(100_000, Number(q('n')) || 1000), Math.min(64, Number(q('c')) || 4));
    else out = { ok: true };
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(out));
  })
  .listen(Number(process.env.PORT ?? 8080), '0.0.0.0');
