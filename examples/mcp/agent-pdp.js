// NGINX njs handler (js_content) for MCP servers behind agent-pdp: the request body goes to the
// PDP with the authorization subrequest (auth_request cannot send one), an allow continues to the
// MCP server with the body intact, a denial answers the PDP's status, challenge and JSON-RPC error.

async function authorize(r) {
  let reply;
  try {
    // POST: a subrequest carries a body only with a method that has one. The original method
    // and URI travel in headers (nginx.conf, location /_agent_pdp).
    reply = await r.subrequest('/_agent_pdp', { method: 'POST', body: r.requestText || '' });
  } catch (e) {
    r.error(`agent-pdp subrequest failed: ${e}`);
    r.return(503, '{"error":"authorization unavailable"}');
    return;
  }
  if (reply.status === 200) {
    r.variables.pdp_decision = reply.headersOut['X-PDP-Decision-Id'] || '';
    r.variables.pdp_agent = reply.headersOut['X-Agent-Id'] || '';
    r.variables.pdp_blueprint = reply.headersOut['X-Agent-Blueprint'] || '';
    r.variables.pdp_user = reply.headersOut['X-User-Id'] || '';
    r.internalRedirect('@mcp_server');
    return;
  }
  // Fail closed: only the PDP's own answers pass through; anything else is 503.
  const status = [400, 401, 403, 413].includes(reply.status) ? reply.status : 503;
  const challenge = reply.headersOut['WWW-Authenticate'];
  if (challenge) r.headersOut['WWW-Authenticate'] = challenge;
  r.headersOut['Content-Type'] = 'application/json';
  r.return(status, status === 503 ? '{"error":"authorization unavailable"}' : reply.responseText);
}

export default { authorize };
