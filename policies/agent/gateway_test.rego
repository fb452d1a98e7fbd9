# agent/gateway/result end to end (custom Rego switched off except where a
# test says otherwise, see fixtures).
package agent.gateway_test

import data.agent.compile
import data.agent.fixtures as fx

# --- fixtures ------------------------------------------------------------------

routes := {"default": "deny", "routes": [
	{"id": "health", "methods": ["GET"], "path": "/healthz", "public": true},
	{
		"id": "payments-write", "methods": ["POST", "put"], "path": "/payments/**",
		"resource": "api://payments", "scopes": ["payments.write"],
	},
	{
		"id": "payments-read", "methods": ["GET"], "path": "/payments/**",
		"resource": "api://payments", "scopes": ["payments.read", "payments.admin"],
	},
	{"id": "invoice", "path": "/invoices/*", "resource": "api://payments"},
	{"id": "hr", "methods": ["GET"], "path": "/hr/**", "resource": "api://hr", "scopes": ["hr.read"]},
]}

token := {
	"issuer": "https://login.example.com/t/v2.0", "agent_id": "agt-1",
	"audiences": ["api://payments"], "scopes": ["payments.read"], "roles": [],
	"user_id": null, "iat": fx.now - 600, "exp": fx.now + 3000, "parent_blueprint": "bp-pay",
}

# GET /payments/123 by agt-1 (autonomous) with a payments.read token.
base := {
	"now": fx.input_base.now,
	"request": {
		"tenant": "default", "method": "GET", "path": "/payments/123", "path_problem": null,
		"flow": "autonomous", "agent_id": "agt-1",
	},
	"token": token,
	"directory": fx.input_base.directory,
	"signals": fx.input_base.signals,
}

# A request without a token, as the service builds it.
anonymous := {
	"now": fx.input_base.now,
	"request": {"tenant": "default", "method": "GET", "path": "/payments/123", "path_problem": null},
	"token": null,
	"directory": {"agent": null, "blueprint": null},
	"signals": {"agent_risk": null, "user_risk": null, "revocation": null, "degraded": false, "unavailable": false},
}

at(inp, method, path) := object.union(inp, {"request": {"method": method, "path": path}})

# A path the service judged not canonical: `raw` as received, and why.
raw_at(inp, method, raw, problem) := object.union(inp, {"request": {"method": method, "path": raw, "path_problem": problem}})

with_token(inp, patch) := object.union(inp, {"token": patch})

revoked_at(inp, epoch) := object.union(inp, {"signals": {"revocation": {
	"revoked_at": "2026-11-27T11:55:00Z", "revoked_at_epoch": epoch, "reason": "leak",
}}})

default_signals := {"agent_risk": "none", "user_risk": "none", "revoked": false, "degraded": false}

tenants(rts, policies) := {"default": object.union(compile.tenant(policies, fx.locations), {"gateway_routes": rts})}

# The gateway's result, policy outcome codes decoded as the service does (fixtures).
gw_with(inp, rts, policies) := fx.decoded(r, policies) if {
	r := data.agent.gateway.result with input as inp
		with data.tenants as tenants(rts, policies)
		with data.pdp as fx.pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
}

gw(inp) := gw_with(inp, routes, [])

route_out(id, resource) := {"id": id, "resource": resource, "public": false}

# --- 1. routes -------------------------------------------------------------------

test_route_not_found if {
	gw(at(base, "GET", "/nowhere")) == {
		"decision": "deny",
		"status": 403,
		"challenge": null,
		"route": null,
		"reasons": [{"code": "route_not_found", "message": "No gateway route matches GET /nowhere.", "policy_id": null}],
		"policies": [],
		"signals": default_signals,
	}
}

test_route_not_found_without_token if {
	r := gw(at(anonymous, "GET", "/nowhere"))
	r.status == 403
	fx.codes(r) == ["route_not_found"]
}

test_default_absent_is_deny if {
	r := gw_with(at(base, "GET", "/nowhere"), {"routes": routes.routes}, [])
	r.status == 403
	fx.codes(r) == ["route_not_found"]
}

test_default_only_literal_allow_opens if {
	r := gw_with(at(base, "GET", "/nowhere"), {"default": "ALLOW", "routes": []}, [])
	r.status == 403
}

test_tenant_without_gateway_routes_denies if {
	r := data.agent.gateway.result with input as base
		with data.tenants as fx.tenants([])
		with data.pdp as fx.pdp
	r.status == 403
	r.route == null
	fx.codes(r) == ["route_not_found"]
}

test_unknown_tenant_denies if {
	r := gw(object.union(base, {"request": {"tenant": "other"}}))
	r.status == 403
	fx.codes(r) == ["route_not_found"]
}

test_default_allow if {
	allow_routes := object.union(routes, {"default": "allow"})
	gw_with(at(anonymous, "GET", "/nowhere"), allow_routes, []) == {
		"decision": "allow",
		"status": 200,
		"challenge": null,
		"route": null,
		"reasons": [],
		"policies": [],
		"signals": default_signals,
	}

	# A matching route is still enforced under default allow.
	r := gw_with(anonymous, allow_routes, [])
	r.status == 401
}

test_method_mismatch_falls_through if {
	# GET skips payments-write (POST, PUT) and lands on payments-read.
	r := gw(base)
	r.route == route_out("payments-read", "api://payments")
	r.status == 200

	# POST lands on payments-write, which needs payments.write.
	w := gw(at(base, "POST", "/payments/123"))
	w.route == route_out("payments-write", "api://payments")
	fx.codes(w) == ["insufficient_scope", "no_permitted_scopes"]

	# A method no route lists (and no method-less route covers) matches nothing.
	d := gw(at(base, "DELETE", "/payments/123"))
	d.route == null
	fx.codes(d) == ["route_not_found"]
	d.reasons[0].message == "No gateway route matches DELETE /payments/123."
}

test_methods_case_insensitive if {
	write := with_token(base, {"scopes": ["payments.write"]})
	gw(at(write, "Put", "/payments/1")).route.id == "payments-write"
	gw(at(write, "post", "/payments/1")).route.id == "payments-write"
	gw(at(base, "get", "/payments/1")).route.id == "payments-read"
}

test_methods_absent_is_any_method if {
	every m in ["GET", "DELETE", "PATCH", "OPTIONS"] {
		gw(at(base, m, "/invoices/7")).route.id == "invoice"
	}
}

test_missing_method_matches_only_method_less_routes if {
	no_method := object.union(base, {"request": {"method": null}})
	gw(object.union(no_method, {"request": {"path": "/invoices/7"}})).route.id == "invoice"
	r := gw(no_method)
	fx.codes(r) == ["route_not_found"]
	r.reasons[0].message == "No gateway route matches  /payments/123."
}

test_missing_path_matches_nothing if {
	r := gw(object.union(base, {"request": {"path": null}}))
	r.route == null
	r.reasons[0].message == "No gateway route matches GET ."
}

test_glob_double_star_any_depth if {
	gw(at(base, "GET", "/payments/1/lines/2")).route.id == "payments-read"
	gw(at(base, "GET", "/payments/")).route.id == "payments-read"

	# `/payments/**` needs the slash after payments.
	gw(at(base, "GET", "/payments")).route == null
	gw(at(base, "GET", "/paymentsx/1")).route == null
}

test_glob_single_star_one_segment if {
	gw(at(base, "GET", "/invoices/7")).route.id == "invoice"
	r := gw(at(base, "GET", "/invoices/7/lines"))
	r.route == null
	fx.codes(r) == ["route_not_found"]
}

# [pattern, path, glob.match's answer]: the literal-prefix pre-check never
# changes the outcome.
glob_cases := [
	["/a/{b,c}/*", "/a/c/x", true],
	["/a/{b,c}/*", "/a/d/x", false],
	["/x?y", "/xzy", true],
	["/x?y", "/x/y", false],
	["/[ab]/z", "/b/z", true],
	["/[ab]/z", "/c/z", false],
	["**", "/any/depth", true],
	["/*/items", "/shop/items", true],
	["/lit\\*/q", "/lit*/q", true],
	["/healthz", "/healthz", true],
	["/healthz", "/healthz/x", false],
]

test_glob_metacharacters if {
	failed := [c | some c in glob_cases; not glob_case_ok(c)]
	fx.show_failures(failed)
	failed == []
}

glob_case_ok([pattern, p, want]) if {
	glob.match(pattern, ["/"], p) == want
	one := {"default": "deny", "routes": [{"id": "r", "path": pattern, "resource": "api://payments"}]}
	got := gw_with(at(base, "GET", p), one, []).route != null
	got == want
}

test_literal_prefix if {
	data.agent.gateway.literal_prefix("/payments/**") == "/payments/"
	data.agent.gateway.literal_prefix("/a/{b,c}/*") == "/a/"
	data.agent.gateway.literal_prefix("/[ab]/z") == "/"
	data.agent.gateway.literal_prefix("**") == ""
	data.agent.gateway.literal_prefix("/healthz") == "/healthz"
}

# A route's prefix as the engine computes it (literal_prefix) is the one
# used: a path that does not start with it is not globbed, so it does not
# match.
test_engine_literal_prefix_is_used if {
	given := {"default": "deny", "routes": [{"id": "r", "path": "/payments/**", "literal_prefix": "/payments/", "resource": "api://payments"}]}
	gw_with(at(base, "GET", "/payments/42"), given, []).route.id == "r"
	wrong := {"default": "deny", "routes": [{"id": "r", "path": "/payments/**", "literal_prefix": "/other/", "resource": "api://payments"}]}
	gw_with(at(base, "GET", "/payments/42"), wrong, []).route == null
}

test_first_match_wins if {
	twice := {"default": "deny", "routes": [
		{"id": "first", "path": "/payments/*", "resource": "api://payments"},
		{"id": "second", "path": "/payments/**", "resource": "api://payments", "scopes": ["payments.read"]},
	]}
	gw_with(base, twice, []).route.id == "first"
	gw_with(at(base, "GET", "/payments/1/2"), twice, []).route.id == "second"
}

test_malformed_routes_are_skipped if {
	odd := {"default": "deny", "routes": [
		"not a route",
		{"id": "no-path", "resource": "api://payments"},
		{"id": "ok", "path": "/payments/**", "resource": "api://payments"},
	]}
	gw_with(base, odd, []).route.id == "ok"
}

test_trailing_slash if {
	# A single trailing slash is an empty last segment, kept and matched as
	# written: `**` and `*` match it, a literal route does not.
	gw(at(base, "GET", "/payments/")).route.id == "payments-read"
	gw(at(base, "GET", "/payments/1/")).route.id == "payments-read"
	gw(at(base, "GET", "/invoices/")).route.id == "invoice"
	gw(at(base, "GET", "/invoices/7/")).route == null
	h := gw(at(anonymous, "GET", "/healthz/"))
	h.route == null
	fx.codes(h) == ["route_not_found"]

	# A route that serves both spells it out.
	every c in [["/healthz{,/}", "/healthz/", true], ["/healthz{,/}", "/healthz", true], ["/healthz{,/}", "/healthz/x", false]] {
		glob_case_ok(c)
	}
}

# --- 0. canonical paths -------------------------------------------------------------

legacy_routes := {"default": "deny", "routes": array.concat(
	[
		{
			"id": "legacy", "methods": ["GET"], "path": "/legacy/**", "resource": "api://payments",
			"scopes": ["payments.read"], "allow_non_canonical_path": true,
		},
		{"id": "status", "path": "/status/**", "public": true},
		{"id": "status-raw", "path": "/status-raw/**", "public": true, "allow_non_canonical_path": true},
		{"id": "quoted", "path": "/quoted/**", "resource": "api://payments", "allow_non_canonical_path": "true"},
	],
	routes.routes,
)}

test_path_not_canonical_without_route if {
	gw(raw_at(base, "GET", "//admin/docs/x", "empty_segment")) == {
		"decision": "deny",
		"status": 403,
		"challenge": null,
		"route": null,
		"reasons": [{
			"code": "path_not_canonical",
			"message": "The path //admin/docs/x is not canonical (empty_segment) and no route allows non-canonical paths.",
			"policy_id": null,
		}],
		"policies": [],
		"signals": default_signals,
	}
}

test_path_not_canonical_matched_raw_without_opt_in if {
	# The raw path matches payments-read, which does not opt in: the decoded
	# or resolved path (/docs/x) is never looked at.
	r := gw(raw_at(base, "GET", "/payments/%2e%2e/docs/x", "dot_segment"))
	r.status == 403
	r.route == null
	r.reasons == [{
		"code": "path_not_canonical",
		"message": "The path /payments/%2e%2e/docs/x is not canonical (dot_segment) and route 'payments-read' does not set allow_non_canonical_path.",
		"policy_id": null,
	}]
}

test_path_not_canonical_before_token if {
	r := gw(raw_at(anonymous, "GET", "/payments/1;x", "path_parameter"))
	r.status == 403
	r.challenge == null
	fx.codes(r) == ["path_not_canonical"]
}

test_default_allow_does_not_open_non_canonical_paths if {
	allow_routes := object.union(routes, {"default": "allow"})
	r := gw_with(raw_at(anonymous, "GET", "/nowhere/%2e%2e/x", "dot_segment"), allow_routes, [])
	r.status == 403
	fx.codes(r) == ["path_not_canonical"]
}

test_opt_in_route_matches_the_raw_path if {
	r := gw_with(raw_at(base, "GET", "/legacy/a;v=1/b", "path_parameter"), legacy_routes, [])
	r.status == 200
	r.route == route_out("legacy", "api://payments")
	r.reasons == []

	# The glob sees the raw path, so a raw form outside the pattern matches
	# nothing: //legacy/x is not under /legacy/.
	n := gw_with(raw_at(base, "GET", "//legacy/x", "empty_segment"), legacy_routes, [])
	fx.codes(n) == ["path_not_canonical"]
	n.reasons[0].message == "The path //legacy/x is not canonical (empty_segment) and no route allows non-canonical paths."
}

test_opt_in_route_still_checks_token_and_scope if {
	legacy := raw_at(base, "GET", "/legacy/%2e%2e/x", "dot_segment")
	gw_with(object.union(legacy, {"token": null}), legacy_routes, []).status == 401
	r := gw_with(with_token(legacy, {"scopes": ["payments.write"]}), legacy_routes, [])
	fx.codes(r) == ["insufficient_scope", "no_permitted_scopes"]

	# Method still matters: no route takes a non-canonical POST /legacy/...
	p := gw_with(raw_at(base, "POST", "/legacy/a;b", "path_parameter"), legacy_routes, [])
	fx.codes(p) == ["path_not_canonical"]
}

test_opt_in_only_on_the_first_match if {
	# payments-read matches the raw path first and does not opt in; a later
	# route that opts in is never reached.
	later := {"default": "deny", "routes": array.concat(routes.routes, [{
		"id": "late", "path": "/payments/**", "resource": "api://payments", "allow_non_canonical_path": true,
	}])}
	r := gw_with(raw_at(base, "GET", "/payments/a//b", "empty_segment"), later, [])
	fx.codes(r) == ["path_not_canonical"]
	r.reasons[0].message == "The path /payments/a//b is not canonical (empty_segment) and route 'payments-read' does not set allow_non_canonical_path."
}

test_opt_in_needs_a_literal_true if {
	r := gw_with(raw_at(base, "GET", "/quoted/a//b", "empty_segment"), legacy_routes, [])
	fx.codes(r) == ["path_not_canonical"]
}

test_public_route_gets_no_exemption if {
	r := gw_with(raw_at(anonymous, "GET", "/status/%2e%2e/admin", "dot_segment"), legacy_routes, [])
	r.status == 403
	fx.codes(r) == ["path_not_canonical"]

	# Unless it opts in itself.
	o := gw_with(raw_at(anonymous, "GET", "/status-raw/%2e%2e/admin", "dot_segment"), legacy_routes, [])
	o.status == 200
	o.route == {"id": "status-raw", "resource": null, "public": true}
}

test_canonical_path_on_opt_in_route if {
	r := gw_with(at(base, "GET", "/legacy/a b"), legacy_routes, [])
	r.status == 200
	r.route.id == "legacy"
}

test_unclassified_path_is_not_canonical if {
	# A request without path_problem was never classified: fail closed.
	r := gw(object.union(object.remove(base, ["request"]), {"request": object.remove(base.request, ["path_problem"])}))
	r.status == 403
	r.reasons[0].message == "The path /payments/123 is not canonical (unclassified) and route 'payments-read' does not set allow_non_canonical_path."

	# Neither is one whose problem is not a string.
	odd := gw(object.union(base, {"request": {"path_problem": 42}}))
	fx.codes(odd) == ["path_not_canonical"]
	odd.reasons[0].message == "The path /payments/123 is not canonical (unclassified) and route 'payments-read' does not set allow_non_canonical_path."
}

# --- 2. public routes ------------------------------------------------------------------

test_public_route if {
	gw(at(anonymous, "GET", "/healthz")) == {
		"decision": "allow",
		"status": 200,
		"challenge": null,
		"route": {"id": "health", "resource": null, "public": true},
		"reasons": [],
		"policies": [],
		"signals": default_signals,
	}
}

test_public_route_evaluates_nothing_else if {
	# A disabled agent with a revoked, wrong-audience token still passes.
	inp := revoked_at(fx.with_agent({"enabled": false}), fx.now)
	bad := object.union(base, {"directory": inp.directory, "signals": inp.signals, "token": {"audiences": []}})
	r := gw(at(bad, "GET", "/healthz"))
	r.status == 200
	r.reasons == []
	r.policies == []
}

test_public_route_method_still_matters if {
	r := gw(at(anonymous, "POST", "/healthz"))
	r.status == 403
	fx.codes(r) == ["route_not_found"]
}

# --- 3. token required -------------------------------------------------------------------

test_token_required if {
	gw(anonymous) == {
		"decision": "deny",
		"status": 401,
		"challenge": "invalid_token",
		"route": route_out("payments-read", "api://payments"),
		"reasons": [{"code": "token_required", "message": "Route 'payments-read' requires a bearer token.", "policy_id": null}],
		"policies": [],
		"signals": default_signals,
	}
}

test_token_required_when_token_absent if {
	r := gw(object.remove(base, ["token"]))
	r.status == 401
	r.challenge == "invalid_token"
	fx.codes(r) == ["token_required"]
}

# --- 4. revocation ----------------------------------------------------------------------

test_token_revoked if {
	# Issued at now - 600, revoked at now - 300.
	r := gw(revoked_at(base, fx.now - 300))
	r == {
		"decision": "deny",
		"status": 401,
		"challenge": "insufficient_claims",
		"route": route_out("payments-read", "api://payments"),
		"reasons": [{
			"code": "token_revoked",
			"message": "The token was issued before agent 'agt-1' was revoked at 2026-11-27T11:55:00Z.",
			"policy_id": null,
		}],
		"policies": [],
		"signals": object.union(default_signals, {"revoked": true}),
	}
}

test_token_issued_at_revocation_passes if {
	r := gw(revoked_at(base, fx.now - 600))
	r.status == 200
	r.decision == "allow"
	r.signals.revoked == true
}

test_token_issued_after_revocation_passes if {
	r := gw(revoked_at(base, fx.now - 3600))
	r.status == 200
	r.reasons == []
}

test_token_revoked_fails_closed if {
	# No iat: the token cannot be shown to postdate the revocation.
	no_iat := object.union(revoked_at(base, fx.now - 3600), {"token": {"iat": null}})
	gw(no_iat).status == 401

	# A revocation without an epoch revokes every token; the message falls back.
	no_epoch := object.union(base, {"signals": {"revocation": {"reason": "leak"}}})
	r := gw(no_epoch)
	r.challenge == "insufficient_claims"
	r.reasons[0].message == "The token was issued before agent 'agt-1' was revoked at null."

	# The epoch is shown when the RFC 3339 time is missing.
	epoch_only := object.union(base, {"signals": {"revocation": {"revoked_at_epoch": fx.now}}})
	gw(epoch_only).reasons[0].message == "The token was issued before agent 'agt-1' was revoked at 1795780800."
}

test_revocation_checked_before_audience_and_scope if {
	bad := with_token(revoked_at(base, fx.now), {"audiences": ["api://other"], "scopes": []})
	fx.codes(gw(bad)) == ["token_revoked"]
}

# --- 5. audience and scope -----------------------------------------------------------------

test_audience_mismatch if {
	r := gw(with_token(base, {"audiences": ["api://other"]}))
	r.decision == "deny"
	r.status == 403
	r.challenge == null
	r.reasons == [{
		"code": "audience_mismatch",
		"message": "The token's audience does not include 'api://payments'.",
		"policy_id": null,
	}]
}

test_audience_missing if {
	inp := object.union(object.remove(base, ["token"]), {"token": object.remove(token, ["audiences"])})
	fx.codes(gw(inp)) == ["audience_mismatch"]
}

test_insufficient_scope if {
	r := gw(with_token(base, {"scopes": ["payments.write"]}))
	r.status == 403

	# The decide rules then see no scopes: their no_permitted_scopes follows.
	fx.codes(r) == ["insufficient_scope", "no_permitted_scopes"]
	r.reasons[0] == {
		"code": "insufficient_scope",
		"message": "The token holds none of the scopes Route 'payments-read' requires (payments.read, payments.admin).",
		"policy_id": null,
		"scope": "payments.read payments.admin",
	}
}

test_scope_via_roles if {
	r := gw(with_token(base, {"scopes": [], "roles": ["payments.read"]}))
	r.status == 200
	r.reasons == []

	insufficient := gw(with_token(base, {"scopes": [], "roles": ["payments.write"]}))
	fx.codes(insufficient) == ["insufficient_scope", "no_permitted_scopes"]
}

test_any_route_scope_suffices if {
	r := gw(with_token(base, {"scopes": ["payments.admin"]}))
	r.status == 200
	r.reasons == []
}

test_route_without_scopes_uses_token_scopes if {
	r := gw(at(with_token(base, {"scopes": ["payments.read"], "roles": ["payments.write"]}), "DELETE", "/invoices/7"))
	r.status == 200
	r.reasons == []

	# A token scope the blueprint does not permit is narrowed away (informational).
	n := gw(at(with_token(base, {"scopes": ["payments.read", "hr.read"]}), "GET", "/invoices/7"))
	n.status == 200
	fx.codes(n) == ["scope_narrowed"]

	# No scopes at all: the decide rules deny no_permitted_scopes.
	e := gw(at(with_token(base, {"scopes": []}), "GET", "/invoices/7"))
	e.status == 403
	fx.codes(e) == ["no_permitted_scopes"]
}

# --- 5. the decide rules -------------------------------------------------------------------

test_agent_disabled if {
	inp := object.union(base, {"directory": fx.with_agent({"enabled": false}).directory})
	r := gw(inp)
	r.decision == "deny"
	r.status == 403
	r.challenge == null
	r.route == route_out("payments-read", "api://payments")
	r.reasons == [{"code": "agent_disabled", "message": "Agent 'agt-1' is disabled.", "policy_id": null}]
}

test_agent_not_found if {
	r := gw(object.union(base, {"directory": {"agent": null}}))
	fx.codes(r) == ["agent_not_found"]
}

test_resource_not_permitted_for_route_resource if {
	# The hr route's resource is what the decide rules check.
	r := gw(at(with_token(base, {"audiences": ["api://hr"], "scopes": ["hr.read"]}), "GET", "/hr/people"))
	r.route == route_out("hr", "api://hr")
	fx.codes(r) == ["resource_not_permitted"]
	r.reasons[0].message == "Agent 'agt-1' has no permission on resource 'api://hr' (from blueprint 'bp-pay', direct grants or active access-package assignments)."
}

block_hr := fx.policy({
	"id": "ca-block-hr", "displayName": "Block HR",
	"conditions": {"applications": {"includeApplications": ["api://hr"]}},
})

block_payments := fx.policy({
	"id": "ca-block-payments", "displayName": "Block payments",
	"conditions": {"applications": {"includeApplications": ["api://payments"]}},
})

test_ca_block if {
	r := gw_with(base, routes, [block_hr, block_payments])
	r.status == 403
	r.reasons == [{
		"code": "ca_block",
		"message": "Conditional Access policy 'Block payments' (ca-block-payments) blocks agent 'agt-1' from 'api://payments'.",
		"policy_id": "ca-block-payments",
	}]
	[[p.id, p.result] | some p in r.policies] == [["ca-block-hr", "notApplied"], ["ca-block-payments", "failure"]]
}

test_ca_applies_to_route_resource_only if {
	r := gw_with(base, routes, [block_hr])
	r.status == 200
	r.policies[0].result == "notApplied"
	r.policies[0].reason == "application"
}

test_ca_grant_unsatisfied_for_user_flow if {
	mfa := fx.policy({"id": "ca-mfa", "displayName": "MFA", "grantControls": {"builtInControls": ["mfa"]}})
	obo := object.union(base, {"request": {"flow": "on_behalf_of", "user": {"id": "u-42", "amr": ["pwd"]}}})
	r := gw_with(obo, routes, [mfa])
	r.status == 403
	fx.codes(r) == ["ca_grant_unsatisfied"]
	r.reasons[0].policy_id == "ca-mfa"

	ok := object.union(obo, {"request": {"user": {"amr": ["pwd", "mfa"]}}})
	gw_with(ok, routes, [mfa]).status == 200
}

test_agent_risk_blocks if {
	risky := fx.policy({"id": "ca-risk", "displayName": "Risky agents", "conditions": {"agentIdRiskLevels": ["high"]}})
	inp := object.union(base, {"signals": {"agent_risk": {"level": "high"}}})
	r := gw_with(inp, routes, [risky])
	fx.codes(r) == ["ca_block"]
	r.signals.agent_risk == "high"
}

test_signals_unavailable if {
	r := gw(object.union(base, {"signals": {"unavailable": true}}))
	r.status == 403
	fx.codes(r) == ["signals_unavailable"]
}

test_reasons_collected_in_order if {
	inp := object.union(
		with_token(base, {"audiences": ["api://other"], "scopes": ["nothing"]}),
		{"directory": fx.with_agent({"enabled": false}).directory},
	)
	r := gw_with(inp, routes, [block_payments])
	fx.codes(r) == ["audience_mismatch", "insufficient_scope", "agent_disabled", "no_permitted_scopes", "ca_block"]
}

test_custom_rego_sees_route_scopes if {
	# The example custom policy denies write scopes to lab agents: the write
	# route's scope reaches it as input.request.scopes.
	lab := object.union(base, {
		"directory": {"agent": {"attributes": {"environment": "lab"}}},
		"token": {"scopes": ["payments.read", "payments.write"]},
	})
	w := gw_custom(at(lab, "POST", "/payments/1"))
	w.status == 403
	[[x.code, x.custom_code] | some x in w.reasons] == [["custom_deny", "lab_agent_write"]]
	gw_custom(lab).status == 200
}

# With the real custom Rego (policies/custom).
gw_custom(inp) := r if {
	r := data.agent.gateway.result with input as inp
		with data.tenants as tenants(routes, [])
		with data.pdp as fx.pdp
}

# --- allow -------------------------------------------------------------------------------

test_clean_allow if {
	report_only := fx.policy({"id": "ca-report", "displayName": "Report", "state": "enabledForReportingButNotEnforced"})
	gw_with(base, routes, [report_only]) == {
		"decision": "allow",
		"status": 200,
		"challenge": null,
		"route": route_out("payments-read", "api://payments"),
		"reasons": [],
		"policies": [{
			"id": "ca-report", "name": "Report", "state": "enabledForReportingButNotEnforced",
			"result": "reportOnlyFailure", "reason": "notSet", "controls": ["block"],
		}],
		"signals": default_signals,
	}
}

test_decide_entrypoint_unaffected if {
	# agent/decide/result still reads the request as sent.
	r := fx.decide(fx.req({"scopes": ["payments.read", "hr.read"]}), [])
	r.grant.scopes == ["payments.read"]
	fx.codes(r) == ["scope_narrowed"]
}

# --- MCP routes ----------------------------------------------------------------------

mcp_routes := {"default": "deny", "routes": [{
	"id": "mcp", "methods": ["POST", "GET", "DELETE"], "path": "/mcp",
	"resource": "api://payments", "mcp": {"tools": {"get_invoice": {"scopes": ["payments.read"]}}},
}]}

mcp_call(checks) := object.union(at(base, "POST", "/mcp"), {
	"request": {"mcp": {"method": "tools/call", "name": "get_invoice", "arguments": {"id": "1"}}},
	"mcp_checks": checks,
})

mcp_reason(code) := {"code": code, "message": "m", "policy_id": null}

test_mcp_route_passes_with_an_empty_verdict if {
	r := gw_with(mcp_call({"mcp": []}), mcp_routes, [])
	r.status == 200
	r.decision == "allow"
}

test_mcp_route_denies_with_the_service_verdict if {
	r := gw_with(mcp_call({"mcp": [mcp_reason("tool_not_permitted")]}), mcp_routes, [])
	r.status == 403
	fx.codes(r) == ["tool_not_permitted"]
}

test_mcp_invalid_body_is_400 if {
	r := gw_with(mcp_call({"mcp": [mcp_reason("mcp_request_invalid")]}), mcp_routes, [])
	r.status == 400
	fx.codes(r) == ["mcp_request_invalid"]
}

# A verdict for another route, or none at all, is no verdict: refused (fail closed).
test_mcp_route_without_verdict_is_refused if {
	r := gw_with(mcp_call({"other": []}), mcp_routes, [])
	r.status == 400
	fx.codes(r) == ["mcp_request_invalid"]
	r2 := gw_with(at(base, "POST", "/mcp"), mcp_routes, [])
	r2.status == 400
}

# Without a token the route still asks for one first.
test_mcp_route_without_token_is_401 if {
	inp := object.union(mcp_call({"mcp": []}), {"token": null})
	r := gw_with(inp, mcp_routes, [])
	r.status == 401
	r.route.id == "mcp"
}

# Each message of a batch goes through the decide rules (here: a disabled agent denies them all).
test_mcp_batch_runs_the_decide_rules if {
	inp := object.union(mcp_call({"mcp": []}), {"request": {"mcp_batch": [
		{"method": "ping", "name": null},
		{"method": "tools/call", "name": "get_invoice", "arguments": {}},
	]}})
	gw_with(inp, mcp_routes, []).status == 200
	disabled := object.union(inp, {"directory": {"agent": {"enabled": false}}})
	r := gw_with(disabled, mcp_routes, [])
	r.status == 403
}
