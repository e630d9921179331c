// A grpc.health.v1 Health/Check server on node:http2 for the e2e gRPC probe test (no dependency).
// Answers SERVING for the services named in SERVING (comma-separated; '' is the server as a whole)
// and for every other service NOT_SERVING; listens on PORT.
const http2 = require('node:http2');
const serving = new Set((process.env.SERVING ?? '').split(','));
const server = http2.createServer();
server.on('stream', (stream) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => {
    const msg = Buffer.concat(chunks).subarray(5);
    const service = msg.length > 2 ? msg.subarray(2, 2 + msg[1]).toString('utf8') : '';
    const status = serving.has(service) ? 1 : 2;
    const reply = Buffer.from([0, 0, 0, 0, 2, 0x08, status]);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(reply);
  });
});
server.listen(Number(process.env.PORT ?? 9000), '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
