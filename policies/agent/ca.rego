# Conditional Access evaluation: one pass over the request tenant's policies.
#
# `evaluations` holds, per policy and in data order (sorted by id by the
# engine), the public report (id, name, state, result, reason, controls), the
# What-If condition list and what the decision needs to enforce it. The work
# is linear in the tenant's policy count; per-request facts (location
# membership, risk levels) are computed once in agent.facts.
#
# Semantics (DESIGN §4, as Entra): conditions AND together, an absent
# condition matches everything, exclusions win, "All" matches even a missing
# input, a specific value only a present one.
package agent.ca

import data.agent.facts
import data.agent.filter
import data.agent.util

evaluations := [evaluate(p) | some p in facts.policies; is_object(p)]

# Controls a caller can satisfy and retry with (claims challenge / step-up).
satisfiable_controls := {"mfa", "compliantDevice"}

evaluate(p) := ev if {
	conds := util.obj(p, "conditions")

	# In What-If order: agentIdentities, users, application, flows,
	# agentIdRisk, userRisk, signInRisk, location, devicePlatform.
	checks := [
		{"name": "agentIdentities", "set": true, "matched": agent_identities(p, conds)},
		{"name": "users", "set": util.has_obj(conds, "users"), "matched": users(conds)},
		{"name": "application", "set": util.has_obj(conds, "applications"), "matched": application(conds)},
		{"name": "flows", "set": count(util.arr(conds, "flows")) > 0, "matched": flows(conds)},
		{
			"name": "agentIdRisk", "set": count(util.arr(conds, "agentIdRiskLevels")) > 0,
			"matched": levels(util.arr(conds, "agentIdRiskLevels"), facts.agent_risk),
		},
		{
			"name": "userRisk", "set": count(util.arr(conds, "userRiskLevels")) > 0,
			"matched": levels(util.arr(conds, "userRiskLevels"), facts.user_risk),
		},
		{
			"name": "signInRisk", "set": count(util.arr(conds, "signInRiskLevels")) > 0,
			"matched": levels(util.arr(conds, "signInRiskLevels"), facts.sign_in_risk),
		},
		{"name": "location", "set": util.has_obj(conds, "locations"), "matched": location(conds)},
		{"name": "devicePlatform", "set": util.has_obj(conds, "platforms"), "matched": platform(conds)},
	]
	unmatched := [c.name | some c in checks; c.matched == false]
	applied := count(unmatched) == 0

	grant := util.obj(p, "grantControls")
	controls := util.arr(grant, "builtInControls")
	block := "block" in controls
	op := operator(grant)
	satisfied := grant_satisfied(controls, op)
	mode := state_mode(p)

	ev := {
		"report": {
			"id": object.get(p, "id", null),
			"name": policy_name(p),
			"state": object.get(p, "state", null),
			"result": result_of(mode, applied, satisfied),
			"reason": reason_of(mode, unmatched),
			"controls": controls,
		},
		"conditions": [{"name": c.name, "matched": c.matched} | some c in checks; c.set],
		# Only an enabled policy that applies is enforced: it may deny, narrow
		# scopes and cap the lifetime. Report-only policies never are.
		"enforced": enforced(mode, applied),
		"satisfied": satisfied,
		"joiner": joiner(op),
		"block": block,
		"missing_controls": [c | some c in controls; c in satisfiable_controls; not control_ok(c)],
		"allowed_scopes": allowed_scopes(p),
		"ttl_caps": ttl_caps(p),
	}
}

policy_name(p) := n if {
	n := p.displayName
	is_string(n)
} else := object.get(p, "id", null)

# Boolean (never undefined) forms of the condition tests below.
agent_identities(p, conds) if {
	agent_identities_match(p, conds)
} else := false

users(conds) if {
	users_match(conds)
} else := false

application(conds) if {
	application_match(conds)
} else := false

flows(conds) if {
	flows_match(conds)
} else := false

levels(xs, level) if {
	level_match(xs, level)
} else := false

location(conds) if {
	location_match(conds)
} else := false

platform(conds) if {
	platform_match(conds)
} else := false

# --- state and result --------------------------------------------------------

# Anything but "disabled" and report-only is enforced: an unrecognised state
# never switches a policy off (fail closed; the engine validates states).
state_mode(p) := "disabled" if {
	p.state == "disabled"
} else := "reportOnly" if {
	p.state == "enabledForReportingButNotEnforced"
} else := "enforced"

outcome(applied, satisfied) := "notApplied" if {
	applied == false
} else := "success" if {
	satisfied == true
} else := "failure"

enforced("enforced", applied) := applied

enforced("disabled", _) := false

enforced("reportOnly", _) := false

result_of("disabled", _, _) := "notEnabled"

result_of("enforced", applied, satisfied) := outcome(applied, satisfied)

result_of("reportOnly", applied, satisfied) := {
	"notApplied": "reportOnlyNotApplied",
	"success": "reportOnlySuccess",
	"failure": "reportOnlyFailure",
}[outcome(applied, satisfied)]

reason_of("disabled", _) := "policyNotEnabled"

reason_of(mode, unmatched) := unmatched[0] if {
	mode != "disabled"
	count(unmatched) > 0
}

reason_of(mode, unmatched) := "notSet" if {
	mode != "disabled"
	count(unmatched) == 0
}

# --- grant controls ----------------------------------------------------------

# Default operator is OR, as in Graph.
operator(grant) := "AND" if {
	upper(grant.operator) == "AND"
} else := "OR"

joiner("AND") := " and "

joiner("OR") := " or "

# "block" is never satisfied and, as in Entra where Block access excludes
# every grant control, it wins over any other control in the list. No
# controls at all (session or agent controls only) is satisfied.
grant_satisfied(controls, op) if {
	grant_ok(controls, op)
} else := false

grant_ok(controls, _) if {
	count(controls) == 0
}

grant_ok(controls, "AND") if {
	not "block" in controls
	every c in controls {
		control_ok(c)
	}
}

grant_ok(controls, "OR") if {
	not "block" in controls
	some c in controls
	control_ok(c)
}

control_ok("mfa") if "mfa" in facts.amr

control_ok("compliantDevice") if facts.device_compliant

# --- session and agent controls ----------------------------------------------

# agentControls.allowedScopes as a set, or null when the policy sets none.
allowed_scopes(p) := {s | some s in p.agentControls.allowedScopes} if {
	is_array(p.agentControls.allowedScopes)
} else := null

ttl_caps(p) := [n |
	some n in [
		object.get(util.obj(p, "agentControls"), "maxTokenTtlSeconds", null),
		object.get(util.obj(p, "compiled"), "sign_in_frequency_seconds", null),
	]
	is_number(n)
]

# --- conditions --------------------------------------------------------------

# agentIdentities (clientApplications): the union of the included service
# principals ("All" or ids), blueprints and an include-mode filter, minus the
# excluded service principals and an exclude-mode filter. No
# clientApplications at all means every agent. A missing agent record only
# matches "All" (and can still be excluded by the requested id).
agent_identities_match(_, conds) if not util.has_obj(conds, "clientApplications")

agent_identities_match(p, conds) if {
	apps := conds.clientApplications
	is_object(apps)
	agent_included(p, apps)
	not agent_excluded(p, apps)
}

agent_included(_, apps) if util.has_all(util.arr(apps, "includeAgentIdServicePrincipals"))

agent_included(_, apps) if {
	facts.has_agent
	facts.agent_id in util.arr(apps, "includeAgentIdServicePrincipals")
}

agent_included(_, apps) if {
	facts.has_agent
	facts.agent.blueprint_id in util.arr(apps, "includeAgentIdBlueprints")
}

agent_included(p, _) if {
	facts.has_agent
	f := p.compiled.agent_filter
	f.mode == "include"
	filter.matches(util.arr(f, "dnf"), facts.agent)
}

agent_excluded(_, apps) if util.has_all(util.arr(apps, "excludeAgentIdServicePrincipals"))

agent_excluded(_, apps) if facts.agent_id in util.arr(apps, "excludeAgentIdServicePrincipals")

agent_excluded(p, _) if {
	facts.has_agent
	f := p.compiled.agent_filter
	f.mode == "exclude"
	filter.matches(util.arr(f, "dnf"), facts.agent)
}

# users: only requests that carry a user (as in Entra, user-assigned policies
# never touch app-only sign-ins).
users_match(conds) if not util.has_obj(conds, "users")

users_match(conds) if {
	u := conds.users
	is_object(u)
	facts.has_user
	user_listed(util.arr(u, "includeUsers"))
	not user_listed(util.arr(u, "excludeUsers"))
}

user_listed(xs) if util.has_all(xs)

user_listed(xs) if facts.user_id in xs

# application: the requested resource (audience).
application_match(conds) if not util.has_obj(conds, "applications")

application_match(conds) if {
	a := conds.applications
	is_object(a)
	application_listed(util.arr(a, "includeApplications"))
	not application_listed(util.arr(a, "excludeApplications"))
}

application_listed(xs) if util.has_all(xs)

application_listed(xs) if facts.resource in xs

# flows (extension): empty or absent = every flow.
flows_match(conds) if count(util.arr(conds, "flows")) == 0

flows_match(conds) if facts.flow in util.arr(conds, "flows")

# Risk levels: empty or absent = every level; the facts default to "none".
level_match(levels, _) if count(levels) == 0

level_match(levels, level) if {
	some l in levels
	is_string(l)
	lower(l) == level
}

# location: named locations by id, "All", or "AllTrusted".
location_match(conds) if not util.has_obj(conds, "locations")

location_match(conds) if {
	l := conds.locations
	is_object(l)
	location_listed(util.arr(l, "includeLocations"))
	not location_listed(util.arr(l, "excludeLocations"))
}

location_listed(xs) if util.has_all(xs)

location_listed(xs) if {
	"AllTrusted" in xs
	facts.in_trusted_location
}

location_listed(xs) if {
	some id in xs
	id in facts.client_location_ids
}

# devicePlatform: case-insensitive, from request.user.device.platform.
platform_match(conds) if not util.has_obj(conds, "platforms")

platform_match(conds) if {
	pl := conds.platforms
	is_object(pl)
	platform_listed(util.arr(pl, "includePlatforms"))
	not platform_listed(util.arr(pl, "excludePlatforms"))
}

platform_listed(xs) if util.has_all(xs)

platform_listed(xs) if {
	some x in xs
	is_string(x)
	lower(x) == facts.platform
}
