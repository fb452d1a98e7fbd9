import { DOCUMENT_ID_PATTERN } from '../vocabulary';

/** Scopes of one MCP tool, resource or prompt: any one of them suffices. */
const grant = (withArguments: boolean) =>
  ({
    type: 'object',
    required: ['scopes'],
    additionalProperties: false,
    properties: {
      scopes: {
        type: 'array',
        minItems: 1,
        maxItems: 64,
        uniqueItems: true,
        items: { type: 'string', minLength: 1, maxLength: 256 },
      },
      // A JSON Schema (draft-07, as Ajv reads it) for the message's `params.arguments`; compiled
      // once per load (src/mcp/route-index.ts), which also bounds its size and depth.
      ...(withArguments && { arguments: { type: 'object' } }),
    },
  }) as const;

/** MCP tool and prompt names (the specification allows 1-128 of these characters). */
export const MCP_NAME_PATTERN = '^[A-Za-z0-9_./-]{1,128}$';

/**
 * A route's `mcp` section: which JSON-RPC messages in the body (MCP Streamable HTTP) the route lets
 * through, judged by /v1/authorize before the decide rules (README, "MCP routes").
 */
const mcpSection = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tools: {
      type: 'object',
      maxProperties: 1000,
      propertyNames: { pattern: MCP_NAME_PATTERN },
      additionalProperties: grant(true),
    },
    // Keys are URI globs (`*` one segment, `**` any depth, `/` the separator); first match wins.
    resources: {
      type: 'object',
      maxProperties: 1000,
      propertyNames: { minLength: 1, maxLength: 1024 },
      additionalProperties: grant(false),
    },
    prompts: {
      type: 'object',
      maxProperties: 1000,
      propertyNames: { pattern: MCP_NAME_PATTERN },
      additionalProperties: grant(true),
    },
    // Only deny: a message naming a tool, resource or prompt not listed is refused.
    default: { const: 'deny' },
    // RFC 9728 protected resource metadata URL, sent in the 401 challenge.
    resource_metadata: { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 },
  },
} as const;

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
          mcp: mcpSection,
        },
        // A protected route must name the audience its tokens are for; an MCP route is never public.
        if: { not: { properties: { public: { const: true } }, required: ['public'] } },
        then: { required: ['resource'] },
        else: { not: { required: ['mcp'] } },
      },
    },
  },
} as const;
