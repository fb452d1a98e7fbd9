import { Router } from 'express';
import { callerName, type CallerAuth } from '../auth/caller-auth';
import { decideResponse, type DecisionService } from '../decision/service';
import type { Validators } from '../decision/validators';

export function decideRoutes(decisions: DecisionService, validators: Validators, auth: CallerAuth): Router {
  const router = Router();

  router.post('/v1/decide', auth.require('decide'), async (req, res) => {
    res.json(
      decideResponse(await decisions.decide(validators.decide(req.body), { caller: callerName(res) })),
    );
  });

  router.post('/v1/decide/batch', auth.require('decide'), async (req, res) => {
    const { requests } = validators.batch(req.body);
    res.json({ results: await decisions.decideBatch(requests, { caller: callerName(res) }) });
  });

  // What-If answers hypotheticals for policy authors; it is not a decision and is not logged as one.
  router.post('/v1/whatif', auth.require('author'), async (req, res) => {
    res.json(
      decideResponse(await decisions.whatif(validators.whatif(req.body), { caller: callerName(res) })),
    );
  });

  return router;
}
