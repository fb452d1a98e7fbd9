# Entrypoint `agent/gateway/result`: the verdict on one inline request at the
# gateway (/v1/authorize), as policies/README.md "Gateway" specifies.
#
# Steps, each one final when it answers:
#   0. a path that is not canonical (request.path_problem set by the service,
#      src/http/request-path.ts) → 403 path_not_canonical, unless the first
#      route its raw form matches sets allow_non_canonical_path;
#   1. route: the first of the tenant's gateway_routes whose methods and path
#      glob match; none → the routes' `default` (deny = 403 route_not_found);
#   2. a public route → 200;
#   3. no token → 401 invalid_token (token_required);
#   4. a token issued before the agent's revocation → 401 insufficient_claims
#      (token_revoked);
#   5. 403 reasons, collected: audience_mismatch, insufficient_scope, the MCP
#      denials of an MCP route (input.mcp_checks[route id], judged by the
#      service, src/mcp/check.ts; a route without a verdict is refused) and
#      every deny reason of agent/decide/result evaluated for the route's
#      resource and the route scopes the token holds, once per message of an
#      MCP batch (input.request.mcp_batch), each seeing its own
#      input.request.mcp. An mcp_request_invalid denial answers 400.
#
# The decide rules are reused unchanged: step 5 evaluates agent/decide/result's
# document `with input.request` replaced, so nothing of agent.decision /
# agent.ca / agent.guardrails is duplicated here.
package agent.gateway

import data.agent.facts
import data.agent.util

result := not_canonical_result if {
	not path_canonical
	not non_canonical_allowed
} else := unmatched_result if {
	not matched
} else := public_result if {
	is_public(route)
} else := token_required_result if {
	not has_token
} else := token_revoked_result if {
	token_revoked
} else := checked_result

# --- 1. route ------------------------------------------------------------------

# The tenant's gateway-routes.json; a tenant without one has no routes and
# the default deny.
routes_doc := util.obj(facts.tenant_data, "gateway_routes")

routes := [r | some r in util.arr(routes_doc, "routes"); is_object(r)]

# Only a literal "allow" opens unmatched paths (fail closed).
default default_allow := false

default_allow if routes_doc["default"] == "allow"

method := upper(m) if {
	m := facts.request.method
	is_string(m)
} else := ""

# A canonical path arrives percent-decoded; any other arrives raw, as the
# gateway forwards it, so a route's glob sees exactly what the upstream gets.
path := p if {
	p := facts.request.path
	is_string(p)
} else := ""

# --- 0. canonical paths --------------------------------------------------------

# Canonical only when the service classified the path and found nothing
# ambiguous: an absent path_problem is unclassified, not canonical (fail
# closed).
default path_canonical := false

path_canonical if facts.request.path_problem == null

path_problem := p if {
	p := facts.request.path_problem
	is_string(p)
} else := "unclassified"

# A non-canonical path passes on only when the first route its raw form
# matches opts in (a literal true); with no matching route, or under the
# routes' default allow, it is denied. Public routes get no exemption.
default non_canonical_allowed := false

non_canonical_allowed if route.allow_non_canonical_path == true

matching := [r | some r in routes; route_matches(r)]

matched if count(matching) > 0

# First match wins.
route := matching[0]

# glob.match costs microseconds per call in WASM (it compiles the pattern
# every time), so a route is globbed only when the path starts with the
# pattern's literal prefix. Every path the glob matches starts with that
# prefix, so the outcome is exactly glob.match's.
route_matches(r) if {
	method_matches(r)
	is_string(r.path)
	startswith(path, prefix_of(r))
	glob.match(r.path, ["/"], path)
}

# The engine gives each route its prefix (src/engine/route-prefix.ts: once per
# load, not per request); a route without one is measured here.
prefix_of(r) := p if {
	p := r.literal_prefix
	is_string(p)
} else := literal_prefix(r.path)

# The text before the first glob metacharacter (the whole pattern when it has
# none).
literal_prefix(pattern) := substring(pattern, 0, n) if {
	n := min([i | some c in ["*", "?", "[", "{", "\\"]; i := indexof(pattern, c); i >= 0])
} else := pattern

# Absent (or null) methods = any method.
method_matches(r) if not is_array(object.get(r, "methods", null))

method_matches(r) if {
	some m in r.methods
	is_string(m)
	upper(m) == method
}

route_id := object.get(route, "id", null)

route_resource := util.str(route, "resource")

route_out := {
	"id": route_id,
	"resource": object.get(route, "resource", null),
	"public": is_public(route),
}

is_public(r) if {
	r.public == true
} else := false

# The route's scopes (any one suffices); empty = none required.
route_scopes := [s | some s in util.arr(route, "scopes"); is_string(s)]

# --- 3. and 4. token ------------------------------------------------------------

has_token if is_object(input.token)

token := util.obj(input, "token")

# What the token holds: its scp and its roles (app permissions), in that
# order, first occurrence kept.
token_permissions := util.dedupe([s |
	some s in array.concat(util.arr(token, "scopes"), util.arr(token, "roles"))
	is_string(s)
])

revocation := util.obj(facts.signals, "revocation")

# Revoked unless the token was provably issued at or after the revocation: a
# token without a numeric iat, or a revocation without a numeric epoch, is
# treated as revoked (fail closed).
default token_revoked := false

token_revoked if {
	is_object(facts.signals.revocation)
	not issued_after_revocation
}

issued_after_revocation if {
	is_number(token.iat)
	is_number(revocation.revoked_at_epoch)
	token.iat >= revocation.revoked_at_epoch
}

# --- 5. audience, scope and the decide rules -----------------------------------------

default audience_mismatch := false

audience_mismatch if not route_resource in util.arr(token, "audiences")

# The route scopes the token holds, in route order.
held_route_scopes := [s | some s in route_scopes; s in token_permissions]

default insufficient_scope := false

insufficient_scope if {
	count(route_scopes) > 0
	count(held_route_scopes) == 0
}

# request.scopes for the decide rules: the route scopes the token holds, or
# everything the token holds when the route names none.
decide_scopes := held_route_scopes if {
	count(route_scopes) > 0
} else := token_permissions

decide_request := object.union(facts.request, {"resource": route_resource, "scopes": decide_scopes})

# agent/decide/result's document (data.agent.decide.decision_for_request, not
# the entrypoint itself: see agent.decide) for the rewritten request.
decided := d if {
	not mcp_batch
	d := data.agent.decide.decision_for_request with input.request as decide_request
} else := batch_decided

# --- MCP ---------------------------------------------------------------------------

mcp_route if is_object(route.mcp)

mcp_batch if {
	mcp_route
	is_array(facts.request.mcp_batch)
}

# The service's verdict for the route the policy picked; no verdict (a route
# the service did not judge) is a refusal (fail closed).
mcp_denials := [] if {
	not mcp_route
} else := d if {
	d := util.obj(input, "mcp_checks")[route_id]
	is_array(d)
} else := [reason("mcp_request_invalid", msg_mcp_unchecked)]

# Every message of a batch through the decide rules, each with its own
# request.mcp; the first deny (else the first allow) is the batch's.
batch_decisions := [d |
	some m in facts.request.mcp_batch
	d := data.agent.decide.decision_for_request with input.request as object.union(decide_request, {"mcp": m})
]

batch_denied := [d | some d in batch_decisions; d.decision == "deny"]

batch_decided := batch_denied[0] if {
	count(batch_denied) > 0
} else := batch_decisions[0]

decide_denials := decided.reasons if {
	decided.decision == "deny"
} else := []

gateway_denials := array.concat(
	array.concat(
		[reason("audience_mismatch", msg_audience_mismatch) | audience_mismatch],
		[object.union(reason("insufficient_scope", msg_insufficient_scope), {"scope": concat(" ", route_scopes)}) | insufficient_scope],
	),
	mcp_denials,
)

checked_result := out if {
	denials := array.concat(gateway_denials, decide_denials)
	allow := count(denials) == 0
	out := {
		"decision": decision_text(allow),
		"status": checked_status(allow, denials),
		"challenge": null,
		"route": route_out,
		# On allow, the decide's informational reasons (scope_narrowed).
		"reasons": array.concat(denials, [r | allow; some r in decided.reasons]),
		"policies": decided.policies,
		"signals": decided.signals,
	}
}

decision_text(true) := "allow"

decision_text(false) := "deny"

status(true) := 200

status(false) := 403

checked_status(allow, denials) := 400 if {
	not allow
	some d in denials
	d.code == "mcp_request_invalid"
} else := status(allow)

# --- results of the early steps --------------------------------------------------

# Steps that answer before the decide rules report no policy and the signals
# as the input carries them (the defaults when it carries none).
respond(allow, code, challenge, route_value, reasons) := {
	"decision": decision_text(allow),
	"status": code,
	"challenge": challenge,
	"route": route_value,
	"reasons": reasons,
	"policies": [],
	"signals": facts.signals_out,
}

unmatched_result := respond(true, 200, null, null, []) if {
	default_allow
} else := respond(false, 403, null, null, [reason("route_not_found", msg_route_not_found)])

not_canonical_result := respond(false, 403, null, null, [reason("path_not_canonical", msg_path_not_canonical)])

public_result := respond(true, 200, null, route_out, [])

token_required_result := respond(false, 401, "invalid_token", route_out, [reason("token_required", msg_token_required)])

token_revoked_result := respond(false, 401, "insufficient_claims", route_out, [reason("token_revoked", msg_token_revoked)])

# --- messages ------------------------------------------------------------------

reason(code, message) := {"code": code, "message": message, "policy_id": null}

route_text := concat("", ["Route '", util.to_text(route_id), "'"])

msg_route_not_found := concat("", ["No gateway route matches ", method, " ", path, "."])

msg_path_not_canonical := concat("", [
	"The path ", path, " is not canonical (", path_problem, ") and ", non_canonical_text, ".",
])

non_canonical_text := concat("", ["route '", util.to_text(route_id), "' does not set allow_non_canonical_path"]) if {
	matched
} else := "no route allows non-canonical paths"

msg_token_required := concat("", [route_text, " requires a bearer token."])

msg_token_revoked := concat("", [
	"The token was issued before agent '", facts.agent_id, "' was revoked at ", revoked_at_text, ".",
])

revoked_at_text := t if {
	t := revocation.revoked_at
	is_string(t)
} else := util.to_text(object.get(revocation, "revoked_at_epoch", null))

msg_mcp_unchecked := concat("", [route_text, " is an MCP route and the request was not judged against it."])

msg_audience_mismatch := concat("", ["The token's audience does not include '", route_resource, "'."])

msg_insufficient_scope := concat("", [
	"The token holds none of the scopes ", route_text, " requires (", util.join(route_scopes), ").",
])
