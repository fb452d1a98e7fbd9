# agent/decide/result end to end (custom Rego switched off, see fixtures).
package agent.decide_test

import data.agent.compile
import data.agent.fixtures as fx

auto := fx.input_base

obo := fx.obo({})

# --- allow -------------------------------------------------------------------------

test_allow_shape if {
	fx.decide(auto, []) == {
		"decision": "allow",
		"grant": {"audience": "api://payments", "scopes": ["payments.read"], "ttl_seconds": 3600},
		"reasons": [],
		"required_controls": [],
		"policies": [],
		"signals": {"agent_risk": "none", "user_risk": "none", "revoked": false, "degraded": false},
	}
}

# --- guardrails: one table, [name, input, expected reason codes] ----------------

no_agent := json.patch(auto, [{"op": "replace", "path": "/directory/agent", "value": null}])

no_directory := object.remove(auto, ["directory"])

no_blueprint := json.patch(auto, [{"op": "replace", "path": "/directory/blueprint", "value": null}])

no_sponsors := json.patch(auto, [{"op": "remove", "path": "/directory/agent/sponsors"}])

enabled_missing := json.patch(auto, [{"op": "remove", "path": "/directory/agent/enabled"}])

no_now := object.remove(fx.with_agent({"expires_at_epoch": fx.now + 60}), ["now"])

guardrail_cases := [
	["agent not found", no_agent, ["agent_not_found"]],
	["no directory at all", no_directory, ["agent_not_found"]],
	["agent disabled", fx.with_agent({"enabled": false}), ["agent_disabled"]],
	["agent enabled flag missing", enabled_missing, ["agent_disabled"]],
	["agent expired just now", fx.with_agent({"expires_at_epoch": fx.now, "expires_at": "2026-11-27T12:00:00Z"}), ["agent_expired"]],
	["agent expired earlier", fx.with_agent({"expires_at_epoch": fx.now - 1}), ["agent_expired"]],
	["agent not yet expired", fx.with_agent({"expires_at_epoch": fx.now + 1}), []],
	["expiry without now", no_now, ["agent_expired"]],
	["no sponsors (empty)", fx.with_agent({"sponsors": []}), ["agent_no_sponsor"]],
	["no sponsors (missing)", no_sponsors, ["agent_no_sponsor"]],
	["no sponsors (blank)", fx.with_agent({"sponsors": [""]}), ["agent_no_sponsor"]],
	["blueprint not found", no_blueprint, ["blueprint_not_found"]],
	["blueprint disabled", fx.with_blueprint({"enabled": false}), ["blueprint_disabled"]],
	["blueprint mismatch", fx.req({"blueprint_id": "bp-other"}), ["blueprint_mismatch"]],
	["blueprint given and matching", fx.req({"blueprint_id": "bp-pay"}), []],
	["resource not permitted", fx.req({"resource": "api://hr"}), ["resource_not_permitted"]],
	["no permitted scopes", fx.req({"scopes": ["payments.delete"]}), ["no_permitted_scopes"]],
	["no scopes requested", fx.req({"scopes": []}), ["no_permitted_scopes"]],
	[
		"several problems are collected in order",
		object.union(fx.with_agent({"enabled": false, "sponsors": []}), {"request": {"blueprint_id": "bp-x", "resource": "api://hr"}}),
		["agent_disabled", "agent_no_sponsor", "blueprint_mismatch", "resource_not_permitted"],
	],
]

test_guardrails if {
	failed := [c[0] | some c in guardrail_cases; not guardrail_ok(c)]
	fx.show_failures(failed)
	failed == []
}

guardrail_ok([_, inp, []]) if {
	r := fx.decide(inp, [])
	r.decision == "allow"
}

guardrail_ok([_, inp, want]) if {
	count(want) > 0
	r := fx.decide(inp, [])
	r.decision == "deny"
	r.grant == null
	fx.codes(r) == want
	every x in r.reasons {
		x.policy_id == null
	}
}

test_guardrail_messages if {
	r := fx.decide(object.union(fx.with_agent({"enabled": false}), {"request": {"blueprint_id": "bp-x"}}), [])
	[x.message | some x in r.reasons] == [
		"Agent 'agt-1' is disabled.",
		"Agent 'agt-1' belongs to blueprint 'bp-pay', not 'bp-x'.",
	]
	m := fx.decide(no_agent, []).reasons[0].message
	m == "Agent 'agt-1' was not found in tenant 'default'."
	e := fx.decide(fx.with_agent({"expires_at_epoch": fx.now - 5, "expires_at": "2026-11-27T11:59:55Z"}), []).reasons[0].message
	e == "Agent 'agt-1' expired at 2026-11-27T11:59:55Z."
	e2 := fx.decide(fx.with_agent({"expires_at_epoch": fx.now - 5}), []).reasons[0].message
	e2 == "Agent 'agt-1' expired at 1795780795."
	b := fx.decide(no_blueprint, []).reasons[0].message
	b == "Blueprint 'bp-pay' of agent 'agt-1' was not found."
	d := fx.decide(fx.with_blueprint({"enabled": false}), []).reasons[0].message
	d == "Blueprint 'bp-pay' is disabled."
	s := fx.decide(fx.with_agent({"sponsors": []}), []).reasons[0].message
	s == "Agent 'agt-1' has no sponsor; every agent identity needs at least one."
	p := fx.decide(fx.req({"resource": "api://hr"}), []).reasons[0].message
	p == "Agent 'agt-1' has no permission on resource 'api://hr' (from blueprint 'bp-pay', direct grants or active access-package assignments)."
	n := fx.decide(fx.req({"scopes": ["payments.delete", "x"]}), []).reasons[0].message
	n == "None of the requested scopes (payments.delete, x) is permitted for agent 'agt-1' on 'api://payments'."
}

test_missing_agent_is_evaluated_against_policies_too if {
	r := fx.decide(no_agent, [fx.policy({"id": "ca-all"})])
	fx.codes(r) == ["agent_not_found", "ca_block"]
	r.policies[0].result == "failure"
}

# --- signals_unavailable -------------------------------------------------------------

test_signals_unavailable_denies_alone if {
	inp := fx.with_signals(no_agent, {"unavailable": true, "degraded": false})
	r := fx.decide(inp, [fx.policy({})])
	r.decision == "deny"
	r.grant == null
	fx.codes(r) == ["signals_unavailable"]
	r.reasons[0].policy_id == null
	r.required_controls == []
	r.policies == []
}

test_signals_unavailable_in_what_if if {
	r := fx.whatif(fx.with_signals(auto, {"unavailable": true}), [fx.policy({})])
	fx.codes(r) == ["signals_unavailable"]
	r.policies == []
}

# --- scopes ------------------------------------------------------------------------

test_scopes_keep_request_order_and_dedupe if {
	r := fx.decide(fx.req({"scopes": ["payments.write", "payments.read", "payments.write"]}), [])
	r.grant.scopes == ["payments.write", "payments.read"]
	r.reasons == []
}

test_scope_narrowed_by_blueprint if {
	r := fx.decide(fx.req({"scopes": ["payments.read", "payments.delete"]}), [])
	r.decision == "allow"
	r.grant.scopes == ["payments.read"]
	r.reasons == [{
		"code": "scope_narrowed",
		"message": "Scopes for agent 'agt-1' on 'api://payments' narrowed to payments.read; not granted: payments.delete.",
		"policy_id": null,
	}]
}

read_only(id, state) := fx.policy({
	"id": id, "state": state, "grantControls": null,
	"agentControls": {"allowedScopes": ["payments.read", "payments.admin"]},
})

write_read(id) := fx.policy({"id": id, "grantControls": null, "agentControls": {"allowedScopes": ["payments.write", "payments.read"]}})

all_three := fx.req({"scopes": ["payments.admin", "payments.write", "payments.read"]})

test_scope_narrowed_by_enforced_policy if {
	r := fx.decide(all_three, [read_only("ca-ro", "enabled")])
	r.grant.scopes == ["payments.admin", "payments.read"]
	fx.codes(r) == ["scope_narrowed"]
	r.policies[0].result == "success"
}

test_scopes_intersect_every_enforced_policy if {
	r := fx.decide(all_three, [read_only("ca-ro", "enabled"), write_read("ca-wr")])
	r.grant.scopes == ["payments.read"]
}

test_report_only_never_narrows if {
	r := fx.decide(all_three, [read_only("ca-ro", "enabledForReportingButNotEnforced")])
	r.grant.scopes == ["payments.admin", "payments.write", "payments.read"]
	r.reasons == []
	r.policies[0].result == "reportOnlySuccess"
}

test_disabled_and_not_applied_never_narrow if {
	not_applied := object.union(read_only("ca-na", "enabled"), {"conditions": {"flows": ["agent_user"]}})
	r := fx.decide(all_three, [read_only("ca-off", "disabled"), not_applied])
	count(r.grant.scopes) == 3
}

test_policy_narrowing_to_nothing_denies if {
	r := fx.decide(fx.req({"scopes": ["payments.write"]}), [read_only("ca-ro", "enabled")])
	r.decision == "deny"
	fx.codes(r) == ["no_permitted_scopes"]
}

test_resource_not_permitted_does_not_add_no_permitted_scopes if {
	fx.codes(fx.decide(fx.req({"resource": "api://hr"}), [])) == ["resource_not_permitted"]
}

# --- ttl ---------------------------------------------------------------------------

ttl(inp, policies) := fx.decide(inp, policies).grant.ttl_seconds

ttl_policy(id, state, agent_controls, sif) := fx.policy({
	"id": id, "state": state, "grantControls": null, "agentControls": agent_controls,
	"compiled": {"sign_in_frequency_seconds": sif},
})

test_ttl_default_and_requested if {
	ttl(auto, []) == 3600
	ttl(fx.req({"requested_ttl_seconds": 600}), []) == 600
	ttl(fx.req({"requested_ttl_seconds": 7200}), []) == 7200
	ttl(fx.req({"requested_ttl_seconds": 0}), []) == 3600
}

test_ttl_global_cap if {
	ttl(fx.req({"requested_ttl_seconds": 100000}), []) == 86400
}

test_ttl_config_from_data if {
	r := data.agent.decide.result with input as fx.req({"requested_ttl_seconds": 100000})
		with data.tenants as {}
		with data.pdp as {"config": {"default_ttl_seconds": 1200, "max_ttl_seconds": 7200}}
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r.grant.ttl_seconds == 7200
	r2 := data.agent.decide.result with input as auto
		with data.tenants as {}
		with data.pdp as {"config": {"default_ttl_seconds": 1200, "max_ttl_seconds": 7200}}
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r2.grant.ttl_seconds == 1200
}

test_ttl_defaults_without_pdp_config if {
	r := data.agent.decide.result with input as fx.req({"requested_ttl_seconds": 999999})
		with data.tenants as {}
		with data.pdp as {}
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r.grant.ttl_seconds == 86400
	r2 := data.agent.decide.result with input as auto
		with data.tenants as {}
		with data.pdp as {}
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r2.grant.ttl_seconds == 3600
}

test_ttl_blueprint_max if {
	ttl(fx.with_blueprint({"max_ttl_seconds": 1800}), []) == 1800
	ttl(fx.with_blueprint({"max_ttl_seconds": null}), []) == 3600
}

test_ttl_policy_caps if {
	ttl(auto, [ttl_policy("ca-ttl", "enabled", {"maxTokenTtlSeconds": 600}, null)]) == 600
	ttl(auto, [ttl_policy("ca-sif", "enabled", {}, 300)]) == 300
	ttl(auto, [ttl_policy("ca-both", "enabled", {"maxTokenTtlSeconds": 600}, 900)]) == 600
	ttl(auto, [
		ttl_policy("ca-a", "enabled", {"maxTokenTtlSeconds": 1200}, null),
		ttl_policy("ca-b", "enabled", {"maxTokenTtlSeconds": 700}, null),
	]) == 700
}

test_ttl_report_only_and_disabled_never_cap if {
	ttl(auto, [
		ttl_policy("ca-ro", "enabledForReportingButNotEnforced", {"maxTokenTtlSeconds": 60}, 60),
		ttl_policy("ca-off", "disabled", {"maxTokenTtlSeconds": 60}, 60),
	]) == 3600
}

test_ttl_is_the_minimum_of_everything if {
	inp := object.union(fx.with_blueprint({"max_ttl_seconds": 1000}), {"request": {"requested_ttl_seconds": 2000}})
	ttl(inp, []) == 1000
	ttl(inp, [ttl_policy("ca-sif", "enabled", {}, 400)]) == 400
	ttl(fx.req({"requested_ttl_seconds": 100}), [ttl_policy("ca-sif", "enabled", {}, 400)]) == 100
}

# --- CA enforcement and required_controls -----------------------------------------

mfa_policy(id) := fx.policy({"id": id, "displayName": concat(" ", ["Require MFA", id]), "grantControls": {"builtInControls": ["mfa"]}})

device_policy(id) := fx.policy({"id": id, "grantControls": {"builtInControls": ["compliantDevice"]}})

both_policy(id, op) := fx.policy({"id": id, "grantControls": {"operator": op, "builtInControls": ["mfa", "compliantDevice"]}})

block_policy(id) := fx.policy({"id": id, "displayName": "Block everything"})

neither := fx.obo({"user": {"amr": ["pwd"], "device": {"compliant": false}}})

test_ca_block if {
	r := fx.decide(auto, [block_policy("ca-block")])
	r.decision == "deny"
	r.grant == null
	r.reasons == [{
		"code": "ca_block",
		"message": "Conditional Access policy 'Block everything' (ca-block) blocks agent 'agt-1' from 'api://payments'.",
		"policy_id": "ca-block",
	}]
	r.required_controls == []
}

test_ca_grant_unsatisfied_and_required_controls if {
	r := fx.decide(neither, [both_policy("ca-and", "AND")])
	r.decision == "deny"
	r.reasons == [{
		"code": "ca_grant_unsatisfied",
		"message": "Conditional Access policy 'Test policy' (ca-and) requires mfa and compliantDevice for agent 'agt-1' on 'api://payments'.",
		"policy_id": "ca-and",
	}]
	r.required_controls == ["compliantDevice", "mfa"]
	r.policies[0].result == "failure"
}

test_or_message if {
	r := fx.decide(neither, [both_policy("ca-or", "OR")])
	r.reasons[0].message == "Conditional Access policy 'Test policy' (ca-or) requires mfa or compliantDevice for agent 'agt-1' on 'api://payments'."
	r.required_controls == ["compliantDevice", "mfa"]
}

test_and_requires_only_the_missing_control if {
	r := fx.decide(fx.obo({"user": {"device": {"compliant": false}}}), [both_policy("ca-and", "AND")])
	r.required_controls == ["compliantDevice"]
}

test_or_satisfied_by_one if {
	r := fx.decide(fx.obo({"user": {"amr": ["pwd"]}}), [both_policy("ca-or", "OR")])
	r.decision == "allow"
	r.required_controls == []
}

test_required_controls_deduplicated_and_sorted if {
	r := fx.decide(neither, [mfa_policy("ca-m1"), device_policy("ca-d"), mfa_policy("ca-m2")])
	fx.codes(r) == ["ca_grant_unsatisfied", "ca_grant_unsatisfied", "ca_grant_unsatisfied"]
	[x.policy_id | some x in r.reasons] == ["ca-m1", "ca-d", "ca-m2"]
	r.required_controls == ["compliantDevice", "mfa"]
}

test_block_empties_required_controls if {
	r := fx.decide(neither, [mfa_policy("ca-mfa"), block_policy("ca-block")])
	fx.codes(r) == ["ca_block", "ca_grant_unsatisfied"]
	r.required_controls == []
}

test_mfa_on_autonomous_request if {
	r := fx.decide(auto, [mfa_policy("ca-mfa")])
	fx.codes(r) == ["ca_grant_unsatisfied"]
	r.required_controls == ["mfa"]
}

test_unknown_control_denies_without_required_control if {
	r := fx.decide(obo, [fx.policy({"id": "ca-app", "grantControls": {"builtInControls": ["approvedApplication"]}})])
	fx.codes(r) == ["ca_grant_unsatisfied"]
	r.required_controls == []
}

test_required_controls_kept_beside_guardrail_denies if {
	r := fx.decide(object.union(neither, {"directory": {"agent": {"enabled": false}}}), [mfa_policy("ca-mfa")])
	fx.codes(r) == ["agent_disabled", "ca_grant_unsatisfied"]
	r.required_controls == ["mfa"]
}

test_report_only_never_denies if {
	ro := object.union(block_policy("ca-ro"), {"state": "enabledForReportingButNotEnforced"})
	ro_mfa := object.union(mfa_policy("ca-ro-mfa"), {"state": "enabledForReportingButNotEnforced"})
	r := fx.decide(neither, [ro, ro_mfa])
	r.decision == "allow"
	r.required_controls == []
	[p.result | some p in r.policies] == ["reportOnlyFailure", "reportOnlyFailure"]
}

test_disabled_never_denies if {
	r := fx.decide(auto, [object.union(block_policy("ca-off"), {"state": "disabled"})])
	r.decision == "allow"
	r.policies[0].result == "notEnabled"
}

test_not_applied_never_denies if {
	r := fx.decide(auto, [object.union(block_policy("ca-obo"), {"conditions": {"flows": ["on_behalf_of"]}})])
	r.decision == "allow"
	r.policies[0].reason == "flows"
}

test_users_condition_skips_autonomous if {
	p := object.union(mfa_policy("ca-users"), {"conditions": {"users": {"includeUsers": ["All"]}}})
	r := fx.decide(auto, [p])
	r.decision == "allow"
	r.policies[0].result == "notApplied"
	r.policies[0].reason == "users"
	r2 := fx.decide(neither, [p])
	fx.codes(r2) == ["ca_grant_unsatisfied"]
}

test_block_high_risk_agents if {
	p := object.union(block_policy("ca-risky"), {"conditions": {
		"clientApplications": {"includeAgentIdServicePrincipals": ["All"]},
		"agentIdRiskLevels": ["high"],
	}})
	fx.decide(auto, [p]).decision == "allow"
	risky := fx.with_signals(auto, {"agent_risk": {"level": "high", "state": "atRisk", "detections": []}})
	r := fx.decide(risky, [p])
	fx.codes(r) == ["ca_block"]
	r.signals.agent_risk == "high"
}

# --- deny reasons order: guardrails, CA, custom --------------------------------------

test_reason_order if {
	r := data.agent.decide.result with input as fx.with_agent({"sponsors": []})
		with data.tenants as fx.tenants([block_policy("ca-block")])
		with data.pdp as fx.pdp
		with data.agent.custom.deny as {{"code": "c1", "message": "m1"}}
		with data.agent.custom.obligations as set()
	fx.codes(r) == ["agent_no_sponsor", "ca_block", "custom_deny"]
}

# --- custom Rego folding -----------------------------------------------------------------

custom_decide(inp, deny, obligations) := r if {
	r := data.agent.decide.result with input as inp
		with data.tenants as {}
		with data.pdp as fx.pdp
		with data.agent.custom.deny as deny
		with data.agent.custom.obligations as obligations
}

test_custom_deny if {
	r := custom_decide(auto, {{"code": "after_hours", "message": "No payments after hours."}}, set())
	r.decision == "deny"
	r.grant == null
	r.reasons == [{"code": "custom_deny", "custom_code": "after_hours", "message": "No payments after hours.", "policy_id": null}]
}

test_custom_deny_without_code_or_message if {
	r := custom_decide(auto, {{"reason": "x"}}, set())
	r.reasons == [{"code": "custom_deny", "custom_code": "custom", "message": "Denied by a custom policy.", "policy_id": null}]
}

test_custom_obligations if {
	inp := fx.req({"scopes": ["payments.read", "payments.write"], "requested_ttl_seconds": 1800})
	r := custom_decide(inp, set(), {{"allowedScopes": ["payments.read"]}, {"maxTokenTtlSeconds": 120}, {"allowedScopes": "junk"}})
	r.decision == "allow"
	r.grant.scopes == ["payments.read"]
	r.grant.ttl_seconds == 120
	fx.codes(r) == ["scope_narrowed"]
}

test_custom_obligation_narrowing_to_nothing if {
	r := custom_decide(fx.req({"scopes": ["payments.write"]}), set(), {{"allowedScopes": ["payments.read"]}})
	fx.codes(r) == ["no_permitted_scopes"]
}

# --- signals output ----------------------------------------------------------------------

test_signals_output if {
	inp := fx.with_signals(fx.obo({"user": {"risk": "low"}}), {
		"agent_risk": {"level": "Medium", "state": "atRisk", "detections": []},
		"user_risk": {"level": "high"},
		"revocation": {"revoked_at": "2026-11-27T11:00:00Z", "revoked_at_epoch": fx.now - 3600, "reason": "leak"},
		"degraded": true,
	})
	r := fx.decide(inp, [])
	r.signals == {"agent_risk": "medium", "user_risk": "high", "revoked": true, "degraded": true}

	# revocation invalidates older tokens (checked by the gateway), it does not deny issuance
	r.decision == "allow"
}

test_signals_output_defaults if {
	r := fx.decide(object.remove(auto, ["signals"]), [])
	r.signals == {"agent_risk": "none", "user_risk": "none", "revoked": false, "degraded": false}
	r.decision == "allow"
}

test_request_user_risk_only if {
	r := fx.decide(fx.obo({"user": {"risk": "medium"}}), [])
	r.signals.user_risk == "medium"
}

# --- tenants ---------------------------------------------------------------------------------

test_only_the_request_tenant_policies_apply if {
	inp := fx.req({"tenant": "contoso"})
	contoso := [fx.policy({"id": "ca-contoso", "grantControls": null})]
	r := data.agent.decide.result with input as inp
		with data.tenants as {
			"default": compile.tenant([block_policy("ca-default")], []),
			"contoso": compile.tenant(contoso, []),
		}
		with data.pdp as fx.pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r.decision == "allow"
	[p.id | some p in fx.decoded(r, contoso).policies] == ["ca-contoso"]
}

test_unknown_tenant_has_no_policies if {
	r := fx.decide(fx.req({"tenant": "fabrikam"}), [block_policy("ca-default")])
	r.decision == "allow"
	r.policies == []
}

test_tenant_defaults_to_default if {
	inp := object.remove(auto, ["request"])
	r := fx.decide(object.union(inp, {"request": object.remove(auto.request, ["tenant"])}), [block_policy("ca-default")])
	fx.codes(r) == ["ca_block"]
}

test_missing_request_fails_closed if {
	r := fx.decide(object.remove(auto, ["request"]), [])
	r.decision == "deny"
	fx.codes(r) == ["resource_not_permitted"]
}

test_non_object_policies_are_ignored if {
	r := fx.decide(auto, ["junk", block_policy("ca-block")])
	[p.id | some p in r.policies] == ["ca-block"]
}

# --- the compiled index ----------------------------------------------------------------

raw_tenant(policies) := {"default": {"policies": policies, "named_locations": []}}

decide_raw(tenants) := r if {
	r := data.agent.decide.result with input as auto
		with data.tenants as tenants
		with data.pdp as fx.pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
}

test_documents_without_their_index_fail_closed if {
	# No decision at all (the service answers 500) rather than one that skips the policies.
	not decide_raw(raw_tenant([block_policy("ca-block")]))
	not data.agent.whatif.result with input as auto with data.tenants as raw_tenant([block_policy("ca-block")])
	not data.agent.gateway.result with input as object.union(auto, {"request": {"method": "GET", "path": "/p", "path_problem": null}, "token": {"iat": 0, "audiences": ["api://payments"]}})
		with data.tenants as {"default": object.union(raw_tenant([block_policy("ca-block")]).default, {"gateway_routes": {"routes": [{"id": "p", "path": "/p", "resource": "api://payments"}]}})}
}

test_index_that_does_not_describe_the_documents_fails_closed if {
	t := compile.tenant([block_policy("ca-a"), block_policy("ca-b")], [])
	not decide_raw({"default": object.union(t, {"ca_index": {"modes": ["enforced"]}})})
	not decide_raw({"default": object.union(t, {"ca_index": {"modes": ["enforced", "sometimes"]}})})
}

test_tenant_without_documents_or_index if {
	decide_raw({"default": {}}).decision == "allow"
}
