/**
 * The platform limit: node:http reading the same JSON body and answering a constant decision.
 *   node dist/bench/peers/node-http-floor.js <port>
 */
import { createServer } from 'node:http';

const DECISION = {
  decision: 'allow',
  grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
};
createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { agent_id?: unknown };
    const out = JSON.stringify({ ...DECISION, agent: body.agent_id });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
}).listen(Number(process.argv[2] ?? 8283), '127.0.0.1');
