package agent.whatif_test

import data.agent.fixtures as fx

auto := fx.input_base

block := fx.policy({"id": "ca-block", "displayName": "Block"})

narrow := fx.policy({"id": "ca-narrow", "grantControls": null, "agentControls": {"allowedScopes": ["payments.read"]}})

mfa_obo := fx.policy({
	"id": "ca-mfa", "grantControls": {"builtInControls": ["mfa"]},
	"conditions": {"users": {"includeUsers": ["All"]}, "flows": ["on_behalf_of"]},
})

policies := [block, mfa_obo, narrow]

test_whatif_without_filter_equals_decide_plus_conditions if {
	w := fx.whatif(auto, policies)
	d := fx.decide(auto, policies)
	object.remove(w, ["policies"]) == object.remove(d, ["policies"])
	[object.remove(p, ["conditions"]) | some p in w.policies] == d.policies
	every p in w.policies {
		is_array(p.conditions)
	}
	every p in d.policies {
		not p.conditions
	}
}

test_whatif_filter_restricts_policies_and_decision if {
	inp := object.union(auto, {"policy_ids": ["ca-narrow", "ca-unknown"], "request": {"scopes": ["payments.read", "payments.write"]}})
	w := fx.whatif(inp, policies)
	[p.id | some p in w.policies] == ["ca-narrow"]

	# ca-block is not evaluated, so the request is allowed (narrowed)
	w.decision == "allow"
	w.grant.scopes == ["payments.read"]
	fx.codes(w) == ["scope_narrowed"]

	# decide ignores policy_ids
	fx.decide(inp, policies).decision == "deny"
}

test_whatif_filter_keeps_data_order if {
	inp := object.union(auto, {"policy_ids": ["ca-narrow", "ca-block"]})
	w := fx.whatif(inp, policies)
	[p.id | some p in w.policies] == ["ca-block", "ca-narrow"]
	fx.codes(w) == ["ca_block"]
}

test_whatif_empty_or_null_filter_means_all if {
	count(fx.whatif(object.union(auto, {"policy_ids": []}), policies).policies) == 3
	count(fx.whatif(object.union(auto, {"policy_ids": null}), policies).policies) == 3
}

test_whatif_filter_matching_nothing if {
	w := fx.whatif(object.union(auto, {"policy_ids": ["ca-nope"]}), policies)
	w.policies == []
	w.decision == "allow"
}

test_whatif_conditions_only_those_set if {
	w := fx.whatif(auto, policies)
	w.policies[0].conditions == [{"name": "flows", "matched": true}]
	w.policies[1].conditions == [
		{"name": "users", "matched": false},
		{"name": "flows", "matched": false},
	]

	# the subject the policy does not list is the reason
	w.policies[1].reason == "flows"
}

test_whatif_empty_lists_are_not_set if {
	p := fx.policy({"conditions": {
		"clientApplications": {"includeAgentIdServicePrincipals": ["All"]},
		"flows": [], "agentIdRiskLevels": [], "userRiskLevels": [], "signInRiskLevels": [], "clientAppTypes": [],
	}})
	fx.report(p, auto).conditions == [{"name": "agentIdentities", "matched": true}]
}

test_whatif_all_conditions_in_order if {
	p := fx.policy({"conditions": {
		"platforms": {"includePlatforms": ["all"]},
		"locations": {"includeLocations": ["AllTrusted"]},
		"signInRiskLevels": ["high"],
		"userRiskLevels": ["high"],
		"agentIdRiskLevels": ["high"],
		"flows": ["autonomous"],
		"clientAppTypes": ["mobileAppsAndDesktopClients"],
		"applications": {"includeApplications": ["All"]},
		"users": {"includeUsers": ["All"]},
		"clientApplications": {"includeAgentIdBlueprints": ["bp-pay"]},
	}})
	r := fx.report(p, auto)
	r.conditions == [
		{"name": "agentIdentities", "matched": true},
		{"name": "users", "matched": false},
		{"name": "application", "matched": true},
		{"name": "agentIdRisk", "matched": false},
		{"name": "userRisk", "matched": false},
		{"name": "signInRisk", "matched": false},
		{"name": "location", "matched": false},
		{"name": "devicePlatform", "matched": true},
		{"name": "clientApps", "matched": false},
		{"name": "flows", "matched": true},
	]
	r.reason == "users"
	r.result == "notApplied"
}

test_whatif_overrides_reach_the_policy_as_signals if {
	# the service applies `overrides` to input.signals before evaluation
	p := fx.policy({"id": "ca-risky", "conditions": {"agentIdRiskLevels": ["high"]}})
	inp := fx.with_signals(auto, {"agent_risk": {"level": "high"}})
	w := fx.whatif(inp, [p])
	w.policies[0].conditions == [
		{"name": "agentIdRisk", "matched": true},
		{"name": "flows", "matched": true},
	]
	w.decision == "deny"
}
