/** PUT /v1/tenants/{tenant}/detection-settings: each detection's switch and thresholds (all optional: defaults fill in). */
const level = { enum: ['low', 'medium', 'high'] };
const section = (properties: Record<string, object>) => ({
  type: 'object',
  additionalProperties: false,
  properties: { enabled: { type: 'boolean' }, ...properties },
});

export const detectionSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    failedAccessAttempt: section({
      threshold: { type: 'integer', minimum: 1, maximum: 1_000_000 },
      window_seconds: { type: 'integer', minimum: 60, maximum: 86_400 },
      level,
    }),
    unfamiliarResourceAccess: section({
      learning_days: { type: 'integer', minimum: 0, maximum: 365 },
      history_days: { type: 'integer', minimum: 1, maximum: 365 },
      level,
    }),
    signInSpike: section({
      factor: { type: 'number', minimum: 1, maximum: 1000 },
      min_count: { type: 'integer', minimum: 1, maximum: 1_000_000 },
      window_seconds: { type: 'integer', minimum: 60, maximum: 86_400 },
      baseline_windows: { type: 'integer', minimum: 1, maximum: 48 },
      level,
    }),
    riskyUserSignIn: section({}),
  },
} as const;
