/** PUT /v1/tenants/{tenant}/lifecycle-policies: Entra Agent ID's lifecycle policy kinds, one of each. */
const action = { enum: ['disable', 'delete', 'disableThenDelete'] };
const grace = { type: 'integer', minimum: 0, maximum: 365 };

export const lifecyclePoliciesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['policies'],
  properties: {
    policies: {
      type: 'array',
      maxItems: 3,
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['kind', 'interval_days', 'grace_days', 'action'],
            properties: {
              kind: { const: 'sponsorReconfirmation' },
              interval_days: { type: 'integer', minimum: 30, maximum: 730 },
              grace_days: grace,
              action,
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['kind', 'minimum', 'grace_days', 'action'],
            properties: {
              kind: { const: 'minimumSponsors' },
              minimum: { type: 'integer', minimum: 1, maximum: 10 },
              grace_days: grace,
              action,
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['kind', 'inactive_days', 'grace_days', 'action'],
            properties: {
              kind: { const: 'inactivity' },
              inactive_days: { type: 'integer', minimum: 1, maximum: 3650 },
              grace_days: grace,
              action,
            },
          },
        ],
      },
    },
  },
} as const;
