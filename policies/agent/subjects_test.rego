# The token subject decides which policies apply (DESIGN §4), and the
# conditions Graph has that the PDP evaluates beyond the first release:
# target resources by any name, AllAgentIdResources, applicationFilter,
# clientAppTypes, devices.deviceFilter, the compliant-network location,
# unknown countries, grant controls (domainJoinedDevice, authentication
# strength), effective agent risk and report-only unsupported conditions.
# Policies here are Graph documents without the `flows` extension.
package agent.subjects_test

import data.agent.fixtures as fx

auto := fx.input_base

obo := fx.obo({})

agent_user := fx.obo({"flow": "agent_user", "user": {"id": "au-1"}})

applied := {"result": "failure", "reason": "notSet"}

not_applied(reason) := {"result": "notApplied", "reason": reason}

case(name, p, inp, want) := object.union({"name": name, "p": p, "inp": inp}, want)

# A Graph document (the fixture's `flows` removed): `conditions` replaces the fixture's.
graph(conditions, grant) := object.union(
	object.remove(fx.policy({}), ["conditions", "grantControls"]),
	{"conditions": conditions, "grantControls": {"operator": "OR", "builtInControls": grant}},
)

# Microsoft's agent-identity shape: users None, clientAppTypes all.
agent_policy(apps, extra) := graph(
	object.union(
		{
			"users": {"includeUsers": ["None"]},
			"clientApplications": apps,
			"applications": {"includeApplications": ["All"]},
			"clientAppTypes": ["all"],
		},
		extra,
	),
	["block"],
)

user_policy(users, extra, grant) := graph(object.union({"users": users, "applications": {"includeApplications": ["All"]}}, extra), grant)

all_agents := {"includeAgentIdServicePrincipals": ["All"]}

table_ok(cases) if {
	failed := [c.name | some c in cases; r := fx.report(c.p, c.inp); [r.result, r.reason] != [c.result, c.reason]]
	print("failing cases:", failed)
	failed == []
}

test_subject_table if table_ok([
	case("agent policy: autonomous", agent_policy(all_agents, {}), auto, applied),
	case("agent policy: not on behalf of a user", agent_policy(all_agents, {}), obo, not_applied("users")),
	case("agent policy: not an agent user", agent_policy(all_agents, {}), agent_user, not_applied("users")),
	case("All users: on behalf of a user", user_policy({"includeUsers": ["All"]}, {}, ["mfa"]), fx.obo({"user": {"amr": ["pwd"]}}), applied),
	case("All users: not an agent user", user_policy({"includeUsers": ["All"]}, {}, ["block"]), agent_user, not_applied("users")),
	case("All users: not an autonomous agent", user_policy({"includeUsers": ["All"]}, {}, ["block"]), auto, not_applied("agentIdentities")),
	case("AllAgentIdUsers: an agent user", user_policy({"includeUsers": ["AllAgentIdUsers"]}, {}, ["block"]), agent_user, applied),
	case("AllAgentIdUsers: not on behalf of a user", user_policy({"includeUsers": ["AllAgentIdUsers"]}, {}, ["block"]), obo, not_applied("users")),
	case("AllAgentIdUsers: not autonomous", user_policy({"includeUsers": ["AllAgentIdUsers"]}, {}, ["block"]), auto, not_applied("agentIdentities")),
	case(
		"excluded agent user",
		user_policy({"includeUsers": ["AllAgentIdUsers"], "excludeUsers": ["au-1"]}, {}, ["block"]),
		agent_user, not_applied("users"),
	),
	case(
		"excluding AllAgentIdUsers closes agent users",
		user_policy({"includeUsers": ["au-1"], "excludeUsers": ["AllAgentIdUsers"]}, {}, ["block"]),
		agent_user, not_applied("users"),
	),
])

# Agent identities by id, blueprint or blueprint principal.
with_principal(inp) := object.union(inp, {"directory": {"blueprint": {"principal_id": "bpp-pay"}}})

test_agent_identity_names if table_ok([
	case("by blueprint id", agent_policy({"includeAgentIdServicePrincipals": ["bp-pay"]}, {}), auto, applied),
	case("by blueprint principal", agent_policy({"includeAgentIdServicePrincipals": ["bpp-pay"]}, {}), with_principal(auto), applied),
	case("other principal", agent_policy({"includeAgentIdServicePrincipals": ["bpp-x"]}, {}), with_principal(auto), not_applied("agentIdentities")),
	case(
		"excluded by blueprint principal",
		agent_policy({"includeAgentIdServicePrincipals": ["All"], "excludeAgentIdServicePrincipals": ["bpp-pay"]}, {}),
		with_principal(auto), not_applied("agentIdentities"),
	),
])

risky(inp, signals) := fx.with_signals(inp, signals)

test_agent_risk_sources if table_ok([
	case(
		"medium,high matches medium",
		agent_policy(all_agents, {"agentIdRiskLevels": "medium,high"}),
		risky(auto, {"agent_risk": {"level": "medium", "state": "atRisk"}}), applied,
	),
	case(
		"medium,high does not match low",
		agent_policy(all_agents, {"agentIdRiskLevels": "medium,high"}),
		risky(auto, {"agent_risk": {"level": "low", "state": "atRisk"}}), not_applied("agentIdRisk"),
	),
	case(
		"blueprint risk covers its agents",
		agent_policy(all_agents, {"agentIdRiskLevels": "high"}),
		risky(auto, {"blueprint_risk": {"level": "high", "state": "confirmedCompromised"}}), applied,
	),
	case(
		"dismissed risk is no risk",
		agent_policy(all_agents, {"agentIdRiskLevels": "high"}),
		risky(auto, {"agent_risk": {"level": "high", "state": "dismissed"}}), not_applied("agentIdRisk"),
	),
	case(
		"confirmed safe is no risk",
		agent_policy(all_agents, {"agentIdRiskLevels": "low,medium,high"}),
		risky(auto, {"agent_risk": {"level": "medium", "state": "confirmedSafe"}}), not_applied("agentIdRisk"),
	),
	case(
		"agent user risk counts for its token",
		user_policy({"includeUsers": ["AllAgentIdUsers"]}, {"agentIdRiskLevels": "high"}, ["block"]),
		risky(agent_user, {"agent_user_risk": {"level": "high", "state": "atRisk"}}), applied,
	),
	case(
		"agent identity risk counts for its agent user's token",
		user_policy({"includeUsers": ["AllAgentIdUsers"]}, {"agentIdRiskLevels": "high"}, ["block"]),
		risky(agent_user, {"agent_risk": {"level": "high", "state": "atRisk"}}), applied,
	),
	case(
		"agent user risk does not count for the agent's own token",
		agent_policy(all_agents, {"agentIdRiskLevels": "high"}),
		risky(auto, {"agent_user_risk": {"level": "high", "state": "atRisk"}}), not_applied("agentIdRisk"),
	),
])

registered := {"id": "00000003-pay", "identifier_uris": ["api://payments", "https://pay.example"], "custom_security_attributes": {"Data": {"Class": "Confidential", "Tags": ["pci"]}}}

with_resource(inp, resource) := object.union(inp, {"request": {"resource": resource}, "directory": {"resource": registered}})

as_agent_resource(inp) := object.union(inp, {"request": {"resource": "agt-target"}, "directory": {"resource_agent": {"kind": "agent", "id": "agt-target"}}})

apps(include, exclude) := {"includeApplications": include, "excludeApplications": exclude}

app_filter(mode, atoms) := {"application_filter": {"mode": mode, "dnf": [atoms]}}

csa(set, attr, op, value) := {"attr": concat("", ["CustomSecurityAttribute.", set, "_", attr]), "path": ["custom_security_attributes", set, attr], "op": op, "value": value}

test_target_resources if table_ok([
	case("by appId, requested by URI", agent_policy(all_agents, {"applications": apps(["00000003-pay"], [])}), with_resource(auto, "api://payments"), applied),
	case("by another URI", agent_policy(all_agents, {"applications": apps(["https://pay.example"], [])}), with_resource(auto, "00000003-pay"), applied),
	case("excluded by URI", agent_policy(all_agents, {"applications": apps(["All"], ["api://payments"])}), with_resource(auto, "00000003-pay"), not_applied("application")),
	case("AllAgentIdResources: an agent resource", agent_policy(all_agents, {"applications": apps(["AllAgentIdResources"], [])}), as_agent_resource(auto), applied),
	case("AllAgentIdResources: a registered API", agent_policy(all_agents, {"applications": apps(["AllAgentIdResources"], [])}), with_resource(auto, "api://payments"), not_applied("application")),
	case(
		"AllAgentIdResources: a resource literally named so is no agent",
		agent_policy(all_agents, {"applications": apps(["AllAgentIdResources"], [])}),
		fx.req({"resource": "AllAgentIdResources"}), not_applied("application"),
	),
	case(
		"excluding AllAgentIdResources",
		user_policy({"includeUsers": ["All"]}, {"applications": apps(["All"], ["AllAgentIdResources"])}, ["block"]),
		as_agent_resource(obo), not_applied("application"),
	),
	case(
		"users blocked from agent resources",
		user_policy({"includeUsers": ["All"]}, {"applications": apps(["AllAgentIdResources"], [])}, ["block"]),
		as_agent_resource(obo), applied,
	),
	case(
		"applicationFilter include matches",
		object.union(agent_policy(all_agents, {"applications": apps([], [])}), {"compiled": app_filter("include", [csa("Data", "Class", "eq", "Confidential")])}),
		with_resource(auto, "api://payments"), applied,
	),
	case(
		"applicationFilter include does not match",
		object.union(agent_policy(all_agents, {"applications": apps([], [])}), {"compiled": app_filter("include", [csa("Data", "Class", "eq", "Public")])}),
		with_resource(auto, "api://payments"), not_applied("application"),
	),
	case(
		"applicationFilter exclude wins",
		object.union(agent_policy(all_agents, {"applications": apps(["All"], [])}), {"compiled": app_filter("exclude", [csa("Data", "Tags", "contains", "pci")])}),
		with_resource(auto, "api://payments"), not_applied("application"),
	),
	case(
		"applicationFilter on an unregistered resource: attributes missing",
		object.union(agent_policy(all_agents, {"applications": apps([], [])}), {"compiled": app_filter("include", [csa("Data", "Class", "eq", "Confidential")])}),
		auto, not_applied("application"),
	),
])

client(inp, patch) := object.union(inp, {"request": {"client": patch}})

device(inp, patch) := object.union(inp, {"request": {"user": {"device": patch}}})

device_filter(mode, atoms) := {"device_filter": {"mode": mode, "dnf": [atoms]}}

dev(path, op, value) := {"attr": concat(".", array.concat(["device"], path)), "path": path, "op": op, "value": value}

all_users := {"includeUsers": ["All"]}

test_client_and_device if table_ok([
	case("clientAppTypes: listed", user_policy(all_users, {"clientAppTypes": ["browser"]}, ["block"]), client(obo, {"app_type": "browser"}), applied),
	case(
		"clientAppTypes: not listed",
		user_policy(all_users, {"clientAppTypes": ["browser"]}, ["block"]),
		client(obo, {"app_type": "mobileAppsAndDesktopClients"}), not_applied("clientApps"),
	),
	case("clientAppTypes: not sent", user_policy(all_users, {"clientAppTypes": ["browser"]}, ["block"]), obo, not_applied("clientApps")),
	case("clientAppTypes: all", user_policy(all_users, {"clientAppTypes": ["all"]}, ["block"]), obo, applied),
	case(
		"deviceFilter include",
		object.union(user_policy(all_users, {}, ["block"]), {"compiled": device_filter("include", [dev(["trust_type"], "eq", "ServerAD")])}),
		device(obo, {"trust_type": "ServerAD"}), applied,
	),
	case(
		"deviceFilter include, other device",
		object.union(user_policy(all_users, {}, ["block"]), {"compiled": device_filter("include", [dev(["trust_type"], "eq", "ServerAD")])}),
		device(obo, {"trust_type": "AzureAD"}), not_applied("devices"),
	),
	case(
		"deviceFilter exclude: compliant devices excluded",
		object.union(user_policy(all_users, {}, ["block"]), {"compiled": device_filter("exclude", [dev(["compliant"], "eq", true)])}),
		obo, not_applied("devices"),
	),
	case(
		"deviceFilter exclude with a negative operator on an unregistered device",
		object.union(user_policy(all_users, {}, ["block"]), {"compiled": device_filter("exclude", [dev(["trust_type"], "ne", "ServerAD")])}),
		object.union(obo, {"request": {"user": {"device": null}}}), not_applied("devices"),
	),
	case(
		"deviceFilter on agent users",
		object.union(user_policy({"includeUsers": ["AllAgentIdUsers"]}, {}, ["block"]), {"compiled": device_filter("include", [dev(["operating_system"], "startsWith", "Windows")])}),
		device(agent_user, {"operating_system": "Windows Server"}), applied,
	),
])

compliant_network := "3d46dbda-8382-466a-856d-eb00cbc6b910"

locations(include, exclude) := {"locations": {"includeLocations": include, "excludeLocations": exclude}}

test_locations_graph if table_ok([
	case(
		"compliant network excluded: through it",
		user_policy({"includeUsers": ["AllAgentIdUsers"]}, locations(["All"], [compliant_network]), ["block"]),
		client(agent_user, {"compliant_network": true}), not_applied("location"),
	),
	case(
		"compliant network excluded: elsewhere",
		user_policy({"includeUsers": ["AllAgentIdUsers"]}, locations(["All"], [compliant_network]), ["block"]),
		client(agent_user, {"ip": "203.0.113.9"}), applied,
	),
	case(
		"locations on an agent-identity policy (extension): client IP",
		agent_policy(all_agents, locations(["loc-hq"], [])),
		client(auto, {"ip": "10.1.1.1"}), applied,
	),
])

test_unknown_countries_location if {
	p := user_policy(all_users, locations(["loc-unknown"], []), ["block"])
	inp := client(obo, {"ip": "203.0.113.9"})
	locs := array.concat(fx.locations, [{"id": "loc-unknown", "displayName": "Unknown", "countriesAndRegions": ["KP"], "includeUnknownCountriesAndRegions": true}])
	r := data.agent.whatif.result with input as inp
		with data.tenants as {"default": data.agent.compile.tenant([p], locs)}
		with data.pdp as fx.pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r.decision == "deny"
	r2 := data.agent.whatif.result with input as client(obo, {"country": "DE"})
		with data.tenants as {"default": data.agent.compile.tenant([p], locs)}
		with data.pdp as fx.pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
	r2.decision == "allow"
}

strength(name) := {"compiled": {"authentication_strength": name}}

amr(inp, methods) := object.union(inp, {"request": {"user": {"amr": methods}}})

grant_case(name, grant, patch, inp, result) := case(name, object.union(user_policy(all_users, {}, grant), patch), inp, {"result": result, "reason": "notSet"})

test_grant_controls_graph if table_ok([
	grant_case("domainJoinedDevice: hybrid joined", ["domainJoinedDevice"], {}, device(obo, {"trust_type": "ServerAD"}), "success"),
	grant_case("domainJoinedDevice: Entra joined only", ["domainJoinedDevice"], {}, device(obo, {"trust_type": "AzureAD"}), "failure"),
	grant_case("mfa strength: mfa", [], strength("mfa"), amr(obo, ["pwd", "mfa"]), "success"),
	grant_case("mfa strength: password only", [], strength("mfa"), amr(obo, ["pwd"]), "failure"),
	grant_case("mfa strength: FIDO2", [], strength("mfa"), amr(obo, ["fido"]), "success"),
	grant_case("passwordless: password and mfa", [], strength("passwordlessMfa"), amr(obo, ["pwd", "mfa"]), "failure"),
	grant_case("passwordless: mfa without password", [], strength("passwordlessMfa"), amr(obo, ["mfa", "rsa"]), "success"),
	grant_case("phishing-resistant: FIDO2", [], strength("phishingResistantMfa"), amr(obo, ["fido", "mfa"]), "success"),
	grant_case("phishing-resistant: hardware key", [], strength("phishingResistantMfa"), amr(obo, ["hwk"]), "success"),
	grant_case("phishing-resistant: OTP", [], strength("phishingResistantMfa"), amr(obo, ["pwd", "otp", "mfa"]), "failure"),
	grant_case("strength OR compliant device", ["compliantDevice"], strength("phishingResistantMfa"), amr(obo, ["pwd"]), "success"),
])

test_required_controls_name_the_strength if {
	p := object.union(user_policy(all_users, {}, []), strength("phishingResistantMfa"))
	r := fx.decide(amr(obo, ["pwd", "mfa"]), [p])
	r.decision == "deny"
	r.required_controls == ["authenticationStrength"]
	r.reasons[0].code == "ca_grant_unsatisfied"
}

test_report_only_unsupported_never_applies if {
	p := object.union(user_policy(all_users, {}, ["block"]), {
		"state": "enabledForReportingButNotEnforced",
		"compiled": {"unsupported": ["/conditions/insiderRiskLevels"]},
	})
	r := fx.report(p, obo)
	r.result == "reportOnlyNotApplied"
	r.reason == "unsupportedCondition"
	{"name": "unsupportedCondition", "matched": false} in r.conditions

	# the subject still comes first
	fx.report(p, auto).reason == "agentIdentities"
}

test_whatif_names_the_subject_gate if {
	r := fx.report(agent_policy(all_agents, {}), obo)
	r.reason == "users"
	r.conditions == [
		{"name": "agentIdentities", "matched": true},
		{"name": "users", "matched": false},
		{"name": "application", "matched": true},
	]
}
