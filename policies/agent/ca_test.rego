# Conditional Access conditions, one table per condition. Every case uses a
# "block" policy, so applied = failure/notSet, not applied = notApplied/<first
# unmatched condition>.
package agent.ca_test

import data.agent.ca
import data.agent.filter_test
import data.agent.fixtures as fx

auto := fx.input_base

obo := fx.obo({})

filter(mode, dnf) := {"agent_filter": {"mode": mode, "dnf": dnf}, "sign_in_frequency_seconds": null}

atom(attr, op, value) := {"attr": attr, "path": filter_test.path_of(attr), "op": op, "value": value}

no_agent := json.patch(fx.input_base, [{"op": "replace", "path": "/directory/agent", "value": null}])

# (attributes.tier -eq "dev" -or attributes.team -eq "finance") -and displayName -startsWith "Pay"
dnf_paren_or := [
	[atom("attributes.tier", "eq", "dev"), atom("displayName", "startsWith", "Pay")],
	[atom("attributes.team", "eq", "finance"), atom("displayName", "startsWith", "Pay")],
]

dnf_paren_or_no := [
	[atom("attributes.tier", "eq", "dev"), atom("displayName", "startsWith", "Inv")],
	[atom("attributes.team", "eq", "finance"), atom("displayName", "startsWith", "Inv")],
]

applied := {"result": "failure", "reason": "notSet"}

not_applied(reason) := {"result": "notApplied", "reason": reason}

case(name, p, inp, want) := object.union({"name": name, "p": p, "inp": inp}, want)

apps(x) := {"conditions": {"clientApplications": x}}

test_agent_identities if fx.table_ok([
	case("no clientApplications: every agent", {}, auto, applied),
	case("All", apps({"includeAgentIdServicePrincipals": ["All"]}), auto, applied),
	case("by id", apps({"includeAgentIdServicePrincipals": ["agt-1"]}), auto, applied),
	case("other id", apps({"includeAgentIdServicePrincipals": ["agt-2"]}), auto, not_applied("agentIdentities")),
	case("by blueprint", apps({"includeAgentIdBlueprints": ["bp-pay"]}), auto, applied),
	case("other blueprint", apps({"includeAgentIdBlueprints": ["bp-x"]}), auto, not_applied("agentIdentities")),
	case(
		"union: other id or own blueprint",
		apps({"includeAgentIdServicePrincipals": ["agt-2"], "includeAgentIdBlueprints": ["bp-pay"]}),
		auto, applied,
	),
	case(
		"exclusion by id wins over All",
		apps({"includeAgentIdServicePrincipals": ["All"], "excludeAgentIdServicePrincipals": ["agt-1"]}),
		auto, not_applied("agentIdentities"),
	),
	case(
		"exclusion by blueprint filter wins over blueprint include",
		object.union(
			apps({"includeAgentIdBlueprints": ["bp-pay"]}),
			{"compiled": filter("exclude", [[atom("blueprintId", "eq", "bp-pay")]])},
		),
		auto, not_applied("agentIdentities"),
	),
	case(
		"exclude-mode filter not matching keeps the agent",
		object.union(
			apps({"includeAgentIdServicePrincipals": ["All"]}),
			{"compiled": filter("exclude", [[atom("attributes.tier", "eq", "lab")]])},
		),
		auto, applied,
	),
	case(
		"include-mode filter matches",
		object.union(apps({}), {"compiled": filter("include", [[atom("attributes.tier", "eq", "prod")]])}),
		auto, applied,
	),
	case(
		"include-mode filter does not match",
		object.union(apps({}), {"compiled": filter("include", [[atom("attributes.tier", "eq", "dev")]])}),
		auto, not_applied("agentIdentities"),
	),
	case(
		"filter -or with parentheses (DNF), second clause true",
		object.union(apps({}), {"compiled": filter("include", dnf_paren_or)}),
		auto, applied,
	),
	case(
		"filter -or with parentheses (DNF), no clause true",
		object.union(apps({}), {"compiled": filter("include", dnf_paren_or_no)}),
		auto, not_applied("agentIdentities"),
	),
	case("missing agent record matches All", apps({"includeAgentIdServicePrincipals": ["All"]}), no_agent, applied),
	case(
		"missing agent record does not match its id",
		apps({"includeAgentIdServicePrincipals": ["agt-1"]}), no_agent, not_applied("agentIdentities"),
	),
	case(
		"missing agent record never matches a filter (even -ne)",
		object.union(apps({}), {"compiled": filter("include", [[atom("attributes.tier", "ne", "lab")]])}),
		no_agent, not_applied("agentIdentities"),
	),
	case(
		"missing agent record is still excluded by the requested id",
		apps({"includeAgentIdServicePrincipals": ["All"], "excludeAgentIdServicePrincipals": ["agt-1"]}),
		no_agent, not_applied("agentIdentities"),
	),
	case(
		"exclusions only: the union of includes is empty",
		apps({"excludeAgentIdServicePrincipals": ["agt-2"]}), auto, not_applied("agentIdentities"),
	),
	case("exclude All", apps({"includeAgentIdServicePrincipals": ["All"], "excludeAgentIdServicePrincipals": ["All"]}), auto, not_applied("agentIdentities")),
	case("clientApplications null = absent", apps(null), auto, applied),
])

users(x) := {"conditions": {"users": x}}

test_users if fx.table_ok([
	case("All with a user", users({"includeUsers": ["All"]}), obo, applied),
	case("All on an autonomous request (no user)", users({"includeUsers": ["All"]}), auto, not_applied("users")),
	case("by id", users({"includeUsers": ["u-42"]}), obo, applied),
	case("other id", users({"includeUsers": ["u-7"]}), obo, not_applied("users")),
	case("exclusion wins", users({"includeUsers": ["All"], "excludeUsers": ["u-42"]}), obo, not_applied("users")),
	case("All users does not include agent users", users({"includeUsers": ["All"]}), fx.obo({"flow": "agent_user"}), not_applied("users")),
	case("AllAgentIdUsers: an agent user", users({"includeUsers": ["AllAgentIdUsers"]}), fx.obo({"flow": "agent_user"}), applied),
	case("AllAgentIdUsers: not a user on whose behalf", users({"includeUsers": ["AllAgentIdUsers"]}), obo, not_applied("users")),
	case("None: nobody", users({"includeUsers": ["None"]}), obo, not_applied("users")),
	case("None: no agent user", users({"includeUsers": ["None"]}), fx.obo({"flow": "agent_user"}), not_applied("users")),
	case("agent user by id", users({"includeUsers": ["u-42"]}), fx.obo({"flow": "agent_user"}), applied),
	case("by group", users({"includeGroups": ["g-fin"]}), fx.obo({"user": {"groups": ["g-hr", "g-fin"]}}), applied),
	case("other group", users({"includeGroups": ["g-fin"]}), fx.obo({"user": {"groups": ["g-hr"]}}), not_applied("users")),
	case("groups do not apply to agent users", users({"includeGroups": ["g-fin"]}), fx.obo({"flow": "agent_user", "user": {"groups": ["g-fin"]}}), not_applied("users")),
	case("group exclusion wins", users({"includeUsers": ["All"], "excludeGroups": ["g-fin"]}), fx.obo({"user": {"groups": ["g-fin"]}}), not_applied("users")),
	case("by role", users({"includeRoles": ["r-admin"]}), fx.obo({"user": {"roles": ["r-admin"]}}), applied),
	case("role exclusion wins", users({"includeUsers": ["u-42"], "excludeRoles": ["r-admin"]}), fx.obo({"user": {"roles": ["r-admin"]}}), not_applied("users")),
	case("guests sentinel: a guest", users({"includeUsers": ["GuestsOrExternalUsers"]}), fx.obo({"user": {"guest_type": "b2bCollaborationGuest"}}), applied),
	case("guests sentinel: a member", users({"includeUsers": ["GuestsOrExternalUsers"]}), obo, not_applied("users")),
	case(
		"guest types: listed",
		users({"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest,b2bCollaborationGuest"}}),
		fx.obo({"user": {"guest_type": "b2bCollaborationGuest"}}), applied,
	),
	case(
		"guest types: not listed",
		users({"includeGuestsOrExternalUsers": {"guestOrExternalUserTypes": "internalGuest"}}),
		fx.obo({"user": {"guest_type": "b2bCollaborationGuest"}}), not_applied("users"),
	),
	case(
		"guests excluded",
		users({"includeUsers": ["All"], "excludeUsers": ["GuestsOrExternalUsers"]}),
		fx.obo({"user": {"guest_type": "serviceProvider"}}), not_applied("users"),
	),
	case("excluding All closes the policy", users({"includeUsers": ["u-42"], "excludeUsers": ["All"]}), obo, not_applied("users")),
])

applications(x) := {"conditions": {"applications": x}}

test_application if fx.table_ok([
	case("All", applications({"includeApplications": ["All"]}), auto, applied),
	case("by resource", applications({"includeApplications": ["api://payments"]}), auto, applied),
	case("other resource", applications({"includeApplications": ["api://hr"]}), auto, not_applied("application")),
	case(
		"exclusion wins",
		applications({"includeApplications": ["All"], "excludeApplications": ["api://payments"]}),
		auto, not_applied("application"),
	),
	case("None", applications({"includeApplications": ["None"]}), auto, not_applied("application")),
])

flows(x) := {"conditions": {"flows": x}}

test_flows if fx.table_ok([
	case("listed", flows(["autonomous"]), auto, applied),
	case("not listed", flows(["on_behalf_of", "agent_user"]), auto, not_applied("flows")),
	case("obo listed", flows(["on_behalf_of"]), obo, applied),
	case("empty: the subject table decides", flows([]), auto, not_applied("agentIdentities")),
])

risky_agent(level) := fx.with_signals(auto, {"agent_risk": {"level": level, "state": "atRisk", "detections": []}})

test_agent_id_risk if fx.table_ok([
	case("high matches high", {"conditions": {"agentIdRiskLevels": ["high"]}}, risky_agent("high"), applied),
	case("case-insensitive signal", {"conditions": {"agentIdRiskLevels": ["high"]}}, risky_agent("HIGH"), applied),
	case("medium does not match high", {"conditions": {"agentIdRiskLevels": ["high"]}}, risky_agent("medium"), not_applied("agentIdRisk")),
	case("missing signal is none", {"conditions": {"agentIdRiskLevels": ["low", "medium", "high"]}}, auto, not_applied("agentIdRisk")),
	case("missing signal matches none", {"conditions": {"agentIdRiskLevels": ["none"]}}, auto, applied),
	case("unknown level counts as high", {"conditions": {"agentIdRiskLevels": ["high"]}}, risky_agent("severe"), applied),
	case("empty = every level", {"conditions": {"agentIdRiskLevels": []}}, auto, applied),
])

user_risk(request_level, stored) := fx.with_signals(fx.obo({"user": {"risk": request_level}}), {"user_risk": stored})

test_user_risk if fx.table_ok([
	case("stored high beats request low", {"conditions": {"userRiskLevels": ["high"]}}, user_risk("low", {"level": "high"}), applied),
	case("request high beats stored none", {"conditions": {"userRiskLevels": ["high"]}}, user_risk("high", {"level": "none"}), applied),
	case("both low", {"conditions": {"userRiskLevels": ["high"]}}, user_risk("low", {"level": "low"}), not_applied("userRisk")),
	case("max is medium", {"conditions": {"userRiskLevels": ["medium"]}}, user_risk("low", {"level": "medium"}), applied),
	case("no stored signal", {"conditions": {"userRiskLevels": ["low"]}}, user_risk("low", null), applied),
	case("no user at all is none", {"conditions": {"userRiskLevels": ["low", "medium", "high"]}}, auto, not_applied("userRisk")),
])

test_sign_in_risk if fx.table_ok([
	case("medium", {"conditions": {"signInRiskLevels": ["medium", "high"]}}, fx.req({"client": {"sign_in_risk": "medium"}}), applied),
	case("low", {"conditions": {"signInRiskLevels": ["medium", "high"]}}, fx.req({"client": {"sign_in_risk": "low"}}), not_applied("signInRisk")),
	case("missing is none", {"conditions": {"signInRiskLevels": ["medium", "high"]}}, auto, not_applied("signInRisk")),
	case("missing matches none", {"conditions": {"signInRiskLevels": ["none"]}}, auto, applied),
])

locations(x) := {"conditions": {"locations": x}}

ip(addr) := fx.req({"client": {"ip": addr}})

country(c) := fx.req({"client": {"country": c}})

test_location if fx.table_ok([
	case("All without any client info", locations({"includeLocations": ["All"]}), auto, applied),
	case("named location by IPv4 range", locations({"includeLocations": ["loc-hq"]}), ip("10.1.2.3"), applied),
	case("named location by IPv6 range", locations({"includeLocations": ["loc-hq"]}), ip("2001:db8::5"), applied),
	case("IPv6 outside the range", locations({"includeLocations": ["loc-hq"]}), ip("2001:db9::5"), not_applied("location")),
	case("IPv4 outside the range", locations({"includeLocations": ["loc-hq"]}), ip("203.0.113.7"), not_applied("location")),
	case("named location by country, case-insensitive", locations({"includeLocations": ["loc-nl"]}), country("nl"), applied),
	case("other country", locations({"includeLocations": ["loc-nl"]}), country("DE"), not_applied("location")),
	case("specific location never matches missing input", locations({"includeLocations": ["loc-hq", "loc-nl"]}), auto, not_applied("location")),
	case("AllTrusted with a trusted IP", locations({"includeLocations": ["AllTrusted"]}), ip("10.9.9.9"), applied),
	case("AllTrusted with an unknown IP", locations({"includeLocations": ["AllTrusted"]}), auto, not_applied("location")),
	case("AllTrusted with an untrusted location", locations({"includeLocations": ["AllTrusted"]}), country("NL"), not_applied("location")),
	case(
		"All minus AllTrusted: trusted IP excluded",
		locations({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}), ip("10.1.2.3"), not_applied("location"),
	),
	case(
		"All minus AllTrusted: unknown IP is never trusted",
		locations({"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}), auto, applied,
	),
	case(
		"exclusion of the same location wins",
		locations({"includeLocations": ["loc-hq"], "excludeLocations": ["loc-hq"]}), ip("10.1.2.3"), not_applied("location"),
	),
	case(
		"excluded by country, included by IP",
		locations({"includeLocations": ["loc-hq"], "excludeLocations": ["loc-nl"]}),
		fx.req({"client": {"ip": "10.1.2.3", "country": "NL"}}), not_applied("location"),
	),
	case("malformed IP matches no range", locations({"includeLocations": ["loc-hq", "loc-lab"]}), ip("not-an-ip"), not_applied("location")),
])

platforms(x) := {"conditions": {"platforms": x}}

device(platform) := fx.obo({"user": {"device": {"platform": platform}}})

test_device_platform if fx.table_ok([
	case("all without a device", platforms({"includePlatforms": ["all"]}), auto, applied),
	case("listed platform", platforms({"includePlatforms": ["windows"]}), device("windows"), applied),
	case("case-insensitive (policy)", platforms({"includePlatforms": ["Windows"]}), device("windows"), applied),
	case("case-insensitive (request)", platforms({"includePlatforms": ["iOS", "windows"]}), device("IOS"), applied),
	case("other platform", platforms({"includePlatforms": ["iOS"]}), device("windows"), not_applied("devicePlatform")),
	case("specific platform never matches a missing device", platforms({"includePlatforms": ["windows"]}), auto, not_applied("devicePlatform")),
	case("exclusion wins", platforms({"includePlatforms": ["all"], "excludePlatforms": ["WINDOWS"]}), device("windows"), not_applied("devicePlatform")),
])

test_first_unmatched_condition_in_what_if_order if fx.table_ok([
	case(
		"a subject the policy does not list wins over every condition",
		{"conditions": {"flows": ["on_behalf_of"], "applications": {"includeApplications": ["api://hr"]}}},
		auto, not_applied("flows"),
	),
	case(
		"users before location",
		{"conditions": {"locations": {"includeLocations": ["loc-hq"]}, "users": {"includeUsers": ["All"]}}},
		auto, not_applied("users"),
	),
	case(
		"agentIdentities first",
		{"conditions": {
			"clientApplications": {"includeAgentIdServicePrincipals": ["agt-2"]},
			"platforms": {"includePlatforms": ["iOS"]},
		}},
		auto, not_applied("agentIdentities"),
	),
	case(
		"every condition set and matched",
		{"conditions": {
			"clientApplications": {"includeAgentIdServicePrincipals": ["All"]},
			"users": {"includeUsers": ["All"]},
			"applications": {"includeApplications": ["All"]},
			"flows": ["on_behalf_of"],
			"agentIdRiskLevels": ["none"],
			"userRiskLevels": ["none"],
			"signInRiskLevels": ["none"],
			"locations": {"includeLocations": ["All"]},
			"platforms": {"includePlatforms": ["windows"]},
		}},
		obo, applied,
	),
])

test_states_and_results if fx.table_ok([
	case("disabled", {"state": "disabled"}, auto, {"result": "notEnabled", "reason": "policyNotEnabled"}),
	case(
		"disabled even when not matching",
		{"state": "disabled", "conditions": {"flows": ["agent_user"]}}, auto,
		{"result": "notEnabled", "reason": "policyNotEnabled"},
	),
	case("enabled, applied, block", {}, auto, applied),
	case(
		"enabled, applied, satisfied",
		{"grantControls": {"builtInControls": ["mfa"]}}, obo,
		{"result": "success", "reason": "notSet"},
	),
	case("enabled, not applied", {"conditions": {"flows": ["agent_user"]}}, auto, not_applied("flows")),
	case(
		"report-only, applied, block",
		{"state": "enabledForReportingButNotEnforced"}, auto,
		{"result": "reportOnlyFailure", "reason": "notSet"},
	),
	case(
		"report-only, applied, satisfied",
		{"state": "enabledForReportingButNotEnforced", "grantControls": {"builtInControls": ["compliantDevice"]}}, obo,
		{"result": "reportOnlySuccess", "reason": "notSet"},
	),
	case(
		"report-only, not applied",
		{"state": "enabledForReportingButNotEnforced", "conditions": {"flows": ["agent_user"]}}, auto,
		{"result": "reportOnlyNotApplied", "reason": "flows"},
	),
	case("unknown state is enforced (fail closed)", {"state": "enabledSometimes"}, auto, applied),
	case(
		"no grant controls at all: success",
		{"grantControls": null, "agentControls": {"maxTokenTtlSeconds": 60}}, auto,
		{"result": "success", "reason": "notSet"},
	),
])

grant(op, controls) := {"grantControls": {"operator": op, "builtInControls": controls}}

no_mfa := fx.obo({"user": {"amr": ["pwd"]}})

not_compliant := fx.obo({"user": {"device": {"compliant": false}}})

success := {"result": "success", "reason": "notSet"}

test_grant_controls if fx.table_ok([
	case("mfa satisfied", grant("OR", ["mfa"]), obo, success),
	case("mfa missing", grant("OR", ["mfa"]), no_mfa, applied),
	case("mfa on an autonomous request", grant("OR", ["mfa"]), auto, applied),
	case("compliantDevice satisfied", grant("OR", ["compliantDevice"]), obo, success),
	case("compliantDevice false", grant("OR", ["compliantDevice"]), not_compliant, applied),
	case("OR: one of two", grant("OR", ["mfa", "compliantDevice"]), no_mfa, success),
	case("AND: one of two", grant("AND", ["mfa", "compliantDevice"]), no_mfa, applied),
	case("AND: both", grant("AND", ["mfa", "compliantDevice"]), obo, success),
	case("operator absent = OR", {"grantControls": {"builtInControls": ["mfa", "compliantDevice"]}}, not_compliant, success),
	case("operator lower case", grant("and", ["mfa", "compliantDevice"]), not_compliant, applied),
	case("block wins over a satisfied OR", grant("OR", ["block", "mfa"]), obo, applied),
	case("unknown control is never satisfied", grant("AND", ["approvedApplication"]), obo, applied),
	case("empty controls", grant("AND", []), auto, success),
])

# The boolean wrappers never leave a condition undefined.
test_condition_list_is_total if {
	r := fx.report(fx.policy({"conditions": {"users": {"includeUsers": ["All"]}, "flows": ["agent_user"]}}), auto)
	r.conditions == [
		{"name": "users", "matched": false},
		{"name": "flows", "matched": false},
	]
}

test_policy_report_fields if {
	r := fx.decide(auto, [fx.policy({"id": "ca-x", "displayName": "X", "grantControls": {"builtInControls": ["mfa"]}})])
	r.policies == [{
		"id": "ca-x", "name": "X", "state": "enabled", "result": "failure",
		"reason": "notSet", "controls": ["mfa"],
	}]
}

test_policy_name_defaults_to_id if {
	r := fx.decide(auto, [object.remove(fx.policy({"id": "ca-noname"}), ["displayName"])])
	r.policies[0].name == "ca-noname"
}

test_policies_keep_data_order if {
	r := fx.decide(auto, [fx.policy({"id": "ca-a"}), fx.policy({"id": "ca-c"}), fx.policy({"id": "ca-b"})])
	[p.id | some p in r.policies] == ["ca-a", "ca-c", "ca-b"]
}

# --- the compiled index: several policies, several request values ------------------

# (result, reason) by policy id.
outcomes(r) := {p.id: [p.result, p.reason] | some p in r.policies}

every_condition_named := {"conditions": {
	"clientApplications": {"includeAgentIdServicePrincipals": ["agt-1"]},
	"users": {"includeUsers": ["u-42"]},
	"applications": {"includeApplications": ["api://payments"]},
	"flows": ["on_behalf_of"],
	"agentIdRiskLevels": ["none"],
	"userRiskLevels": ["none"],
	"signInRiskLevels": ["none"],
	"locations": {"includeLocations": ["loc-hq"]},
	"platforms": {"includePlatforms": ["windows"]},
}}

obo_at_hq := fx.obo({"client": {"ip": "10.1.2.3"}})

test_every_condition_rescued_by_a_named_value if fx.table_ok([
	case("all nine named and matched", every_condition_named, obo_at_hq, applied),
	case(
		"the last one not",
		object.union(every_condition_named, {"conditions": {"platforms": {"includePlatforms": ["iOS"]}}}),
		obo_at_hq, not_applied("devicePlatform"),
	),
	case(
		"the seventh not",
		object.union(every_condition_named, {"conditions": {"signInRiskLevels": ["high"]}}),
		obo_at_hq, not_applied("signInRisk"),
	),
])

test_exclusions_and_default_failures_in_what_if_order if fx.table_ok([
	case(
		"an exclusion before a default failure",
		{"conditions": {"applications": {"includeApplications": ["All"], "excludeApplications": ["api://payments"]}, "agentIdRiskLevels": ["high"]}},
		auto, not_applied("application"),
	),
	case(
		"a default failure before an exclusion",
		{"conditions": {"flows": ["agent_user"], "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}},
		ip("10.1.2.3"), not_applied("flows"),
	),
	case(
		"an exclusion after a rescue",
		{"conditions": {"flows": ["autonomous"], "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted"]}}},
		ip("10.1.2.3"), not_applied("location"),
	),
	case(
		"excluding All needs no lookup",
		applications({"includeApplications": ["api://payments"], "excludeApplications": ["all"]}),
		auto, not_applied("application"),
	),
	case(
		"a user without an id matches only All",
		users({"includeUsers": ["All"], "excludeUsers": ["u-42"]}),
		fx.obo({"user": {"id": null}}), applied,
	),
])

test_policies_sharing_values if {
	by_id := fx.policy({"id": "ca-id", "conditions": {"clientApplications": {"includeAgentIdServicePrincipals": ["agt-1"]}}})
	by_blueprint := fx.policy({"id": "ca-bp", "conditions": {"clientApplications": {"includeAgentIdBlueprints": ["bp-pay"]}}})
	excluded := fx.policy({"id": "ca-ex", "conditions": {"clientApplications": {
		"includeAgentIdBlueprints": ["bp-pay"],
		"excludeAgentIdServicePrincipals": ["agt-1"],
	}}})
	other := fx.policy({"id": "ca-other", "conditions": {"clientApplications": {"includeAgentIdServicePrincipals": ["agt-2"]}}})
	both := fx.policy({"id": "ca-apps", "conditions": {"applications": {"includeApplications": ["api://payments"], "excludeApplications": ["api://payments"]}}})
	r := fx.decide(auto, [by_id, by_blueprint, excluded, other, both])
	outcomes(r) == {
		"ca-id": ["failure", "notSet"],
		"ca-bp": ["failure", "notSet"],
		"ca-ex": ["notApplied", "agentIdentities"],
		"ca-other": ["notApplied", "agentIdentities"],
		"ca-apps": ["notApplied", "application"],
	}
}

test_locations_from_ip_and_country_together if {
	inp := fx.req({"client": {"ip": "10.1.2.3", "country": "NL"}})
	r := fx.decide(inp, [
		fx.policy({"id": "ca-nl", "conditions": {"locations": {"includeLocations": ["loc-nl"]}}}),
		fx.policy({"id": "ca-nl-untrusted", "conditions": {"locations": {"includeLocations": ["loc-nl"], "excludeLocations": ["AllTrusted"]}}}),
		fx.policy({"id": "ca-lab", "conditions": {"locations": {"includeLocations": ["loc-lab", "loc-hq"]}}}),
	])
	outcomes(r) == {
		"ca-nl": ["failure", "notSet"],
		"ca-nl-untrusted": ["notApplied", "location"],
		"ca-lab": ["failure", "notSet"],
	}
}

test_filters_shared_between_policies if {
	prod := [[atom("attributes.tier", "eq", "prod")]]
	in_pay := [[atom("blueprintId", "in", ["bp-x", "bp-pay"]), atom("attributes.tier", "eq", "prod")]]
	policies := [
		fx.policy({"id": "ca-include", "conditions": {"clientApplications": {}}, "compiled": filter("include", prod)}),
		fx.policy({"id": "ca-exclude", "conditions": {"clientApplications": {"includeAgentIdServicePrincipals": ["All"]}}, "compiled": filter("exclude", prod)}),
		fx.policy({"id": "ca-in", "conditions": {"clientApplications": {}}, "compiled": filter("include", in_pay)}),
		fx.policy({"id": "ca-number", "conditions": {"clientApplications": {}}, "compiled": filter("include", [[atom("attributes.tier", "eq", 5)]])}),
		fx.policy({"id": "ca-labels", "conditions": {"clientApplications": {}}, "compiled": filter("include", [[atom("attributes.labels", "contains", "pci")]])}),
	]
	outcomes(fx.decide(auto, policies)) == {
		"ca-include": ["failure", "notSet"],
		"ca-exclude": ["notApplied", "agentIdentities"],
		"ca-in": ["failure", "notSet"],
		"ca-number": ["notApplied", "agentIdentities"],
		"ca-labels": ["failure", "notSet"],
	}
	outcomes(fx.decide(fx.with_agent({"attributes": {"tier": 5}}), policies)) == {
		"ca-include": ["notApplied", "agentIdentities"],
		"ca-exclude": ["failure", "notSet"],
		"ca-in": ["notApplied", "agentIdentities"],
		"ca-number": ["failure", "notSet"],
		"ca-labels": ["failure", "notSet"],
	}
}

test_agent_without_a_blueprint_id if {
	inp := json.patch(auto, [{"op": "remove", "path": "/directory/agent/blueprint_id"}])
	r := fx.decide(inp, [fx.policy({"conditions": {"clientApplications": {"includeAgentIdBlueprints": ["bp-pay"]}}})])
	r.policies[0].reason == "agentIdentities"
}

test_whatif_conditions_with_exclusions if {
	p := fx.policy({"conditions": {
		"clientApplications": {"includeAgentIdServicePrincipals": ["All"], "excludeAgentIdServicePrincipals": ["agt-1"]},
		"applications": {"includeApplications": ["api://payments"]},
		"users": {"includeUsers": ["All"]},
	}})
	fx.report(p, auto).conditions == [
		{"name": "agentIdentities", "matched": false},
		{"name": "users", "matched": false},
		{"name": "application", "matched": true},
		{"name": "flows", "matched": true},
	]
}

# The outcome table (ca_outcomes/data.json, read by src/engine/ca-outcomes.ts
# too) gives each code from 0 to 28 one meaning, and the lookups of agent.ca
# read it as the service decodes it.
test_outcome_table if {
	count(fx.outcomes) == 29
	every code in numbers.range(0, 28) {
		fx.outcomes[code]
	}
	fx.outcomes[ca.disabled_code] == ["notEnabled", "policyNotEnabled"]
	every i, name in ["agentIdentities", "users", "application", "agentIdRisk", "userRisk", "signInRisk", "location", "devicePlatform", "clientApps", "devices", "flows", "unsupportedCondition"] {
		fx.outcomes[ca.not_applied.enforced.codes[i + 1]] == ["notApplied", name]
		fx.outcomes[ca.not_applied.reportOnly.codes[i + 1]] == ["reportOnlyNotApplied", name]
	}
	fx.outcomes[ca.applied.enforced[ca.satisfaction(true)].code] == ["success", "notSet"]
	fx.outcomes[ca.applied.enforced[ca.satisfaction(false)].code] == ["failure", "notSet"]
	fx.outcomes[ca.applied.reportOnly[ca.satisfaction(true)].code] == ["reportOnlySuccess", "notSet"]
	fx.outcomes[ca.applied.reportOnly[ca.satisfaction(false)].code] == ["reportOnlyFailure", "notSet"]
	ca.enforced_codes == {ca.applied.enforced.satisfied.code, ca.applied.enforced.unsatisfied.code}
	ca.enforced_failure_code == ca.applied.enforced.unsatisfied.code
}
