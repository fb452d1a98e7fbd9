import { Router } from 'express';
import type { CallerAuth } from '../auth/caller-auth';
import { PdpError } from '../errors';
import { DETECTION_SETTINGS_ID, settingsOf } from '../governance/detections';
import { createAjv, toDetails } from '../schemas/ajv';
import { detectionSettingsSchema } from '../schemas/detections';
import type { SignalStore } from '../store/types';
import { callerOf, pathOf } from './access-packages';

/** A tenant's detection thresholds (role admin); changes go into the governance trail. */
export function detectionSettingsRoutes(store: SignalStore, auth: CallerAuth, clock: () => number): Router {
  const router = Router();
  const admin = auth.require('admin');
  const validate = createAjv().compile(detectionSettingsSchema);
  const path = '/v1/tenants/:tenant/detection-settings';

  router.get(path, admin, async (req, res) => {
    const { tenant } = pathOf(req);
    res.json(settingsOf(await store.get('detection-settings', tenant, DETECTION_SETTINGS_ID)));
  });

  router.put(path, admin, async (req, res) => {
    const { tenant } = pathOf(req);
    const body: unknown = req.body;
    if (!validate(body))
      throw new PdpError('invalid_request', 'The request body is invalid', toDetails(validate.errors));
    const at = clock();
    const record = { ...settingsOf(body), updated_at: new Date(at).toISOString() };
    const old = await store.get('detection-settings', tenant, DETECTION_SETTINGS_ID);
    await store.write(tenant, [{ kind: 'detection-settings', id: DETECTION_SETTINGS_ID, value: record }], {
      actor: callerOf(res).name,
      at,
      changes: [
        {
          target: { type: 'detection-settings', id: DETECTION_SETTINGS_ID },
          action: old === null ? 'create' : 'update',
          agents: [],
          before: old,
          after: record,
        },
      ],
    });
    res.json(record);
  });
  return router;
}
