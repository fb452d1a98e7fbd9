import { DOCUMENT_ID_PATTERN } from '../vocabulary';

/**
 * `<tenant>/gateway-routes.json` (DESIGN §3, Gateway): first match wins; `*` one segment, `**` any
 * depth; matched on the percent-decoded path, non-canonical paths denied unless the route opts in.
 */
export const gatewayRoutesSchema = {
  $id: 'https://agent-pdp.dev/schemas/gateway-routes.json',
  type: 'object',
  required: ['routes'],
  additionalProperties: false,
  properties: {
    default: { enum: ['deny', 'allow'] },
    routes: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['id', 'path'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: DOCUMENT_ID_PATTERN },
          methods: {
            type: 'array',
            minItems: 1,
            uniqueItems: true,
            items: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] },
          },
          path: { type: 'string', pattern: '^/', maxLength: 1024 },
          resource: { type: 'string', minLength: 1 },
          scopes: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1 } },
          public: { type: 'boolean' },
          // Opt-in for upstreams that need ambiguous paths (`;params`, `//`, `%2f`...): the route's glob
          // is then matched against the raw path, and the upstream must read it the same way.
          allow_non_canonical_path: { type: 'boolean' },
        },
        // A protected route must name the audience its tokens are for.
        if: { not: { properties: { public: { const: true } }, required: ['public'] } },
        then: { required: ['resource'] },
      },
    },
  },
} as const;
