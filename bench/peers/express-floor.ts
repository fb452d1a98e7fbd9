/**
 * The framework floor: a bare Express app that parses the same JSON body and answers a constant
 * decision. A real decision served faster than this is beating Express doing nothing.
 *   node dist/bench/peers/express-floor.js <port>
 */
import express from 'express';

const DECISION = {
  decision: 'allow',
  grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
};
const app = express();
app.use(express.json({ limit: 65536 }));
app.post('/v1/decide', (req, res) => {
  res.json({ ...DECISION, agent: (req.body as { agent_id?: unknown }).agent_id });
});
app.listen(Number(process.argv[2] ?? 8282), '127.0.0.1');
