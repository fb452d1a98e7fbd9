# The Rego twin of the engine's index compiler (compileCaIndex in
# src/engine/ca-index.ts), for the tests: `tenant` turns Conditional Access
# policies into the tenant document the engine hands over, `ca_index`
# included (policies/README.md, "Data"). A policy is either the evaluation
# model the engine makes of a Graph document (src/engine/ca-model.ts: a
# `compiled` object with every field) or, for brevity in tests, a Graph
# document whose conditions this file turns into that model (`model`; only
# the fields the tests use, and filters as already-compiled
# `compiled.{agent,application,device}_filter`).
# test/unit/engine/ca-index.test.ts checks that both compilers build the
# same index. A *_test.rego file: never part of the bundle.
package agent.compile

import data.agent.util

flows := ["autonomous", "on_behalf_of", "agent_user"]

rank := {
	"agentIdentities": 1, "users": 2, "application": 3, "agentIdRisk": 4, "userRisk": 5,
	"signInRisk": 6, "location": 7, "devicePlatform": 8, "clientApps": 9, "devices": 10,
	"flows": 11, "unsupportedCondition": 12,
}

tenant(policies, named_locations) := {
	"policies": models,
	"named_locations": named_locations,
	"ca_index": index(models),
} if {
	models := [model(p) | some p in policies; is_object(p)]
}

# --- Graph document → evaluation model ------------------------------------------

model(p) := p if {
	is_object(p.compiled)
	"agents" in object.keys(p.compiled)
} else := {
	"id": p.id,
	"displayName": object.get(p, "displayName", p.id),
	"state": object.get(p, "state", "enabled"),
	"controls": util.arr(util.obj(p, "grantControls"), "builtInControls"),
	"agentControls": object.get(p, "agentControls", null),
	"compiled": {
		"flows": non_empty(util.arr(c, "flows")),
		"agents": agents(c, p),
		"users": users(c),
		"applications": applications(c, p),
		"agent_id_risk_levels": levels(object.get(c, "agentIdRiskLevels", null)),
		"user_risk_levels": levels(object.get(c, "userRiskLevels", null)),
		"sign_in_risk_levels": levels(object.get(c, "signInRiskLevels", null)),
		"locations": include_exclude(c, "locations", "includeLocations", "excludeLocations", false),
		"platforms": include_exclude(c, "platforms", "includePlatforms", "excludePlatforms", true),
		"client_app_types": client_app_types(util.arr(c, "clientAppTypes")),
		"device_filter": object.get(object.get(p, "compiled", {}), "device_filter", null),
		"grant": grant(p),
		"sign_in_frequency_seconds": object.get(object.get(p, "compiled", {}), "sign_in_frequency_seconds", null),
		"unsupported": util.arr(object.get(p, "compiled", {}), "unsupported"),
	},
} if {
	c := util.obj(p, "conditions")
}

non_empty(xs) := xs if count(xs) > 0

else := null

strings(xs) := [x | some x in xs; is_string(x)]

agents(c, p) := null if {
	apps := util.obj(c, "clientApplications")
	count(array.concat(util.arr(apps, "includeAgentIdServicePrincipals"), util.arr(apps, "includeAgentIdBlueprints"))) == 0
	count(util.arr(apps, "excludeAgentIdServicePrincipals")) == 0
	object.get(object.get(p, "compiled", {}), "agent_filter", null) == null
} else := {
	"include": strings(array.concat(util.arr(apps, "includeAgentIdServicePrincipals"), util.arr(apps, "includeAgentIdBlueprints"))),
	"exclude": strings(util.arr(apps, "excludeAgentIdServicePrincipals")),
	"filter": object.get(object.get(p, "compiled", {}), "agent_filter", null),
} if {
	apps := util.obj(c, "clientApplications")
}

users(c) := null if {
	not util.has_obj(c, "users")
} else := {
	"include": strings(util.arr(u, "includeUsers")),
	"exclude": strings(util.arr(u, "excludeUsers")),
	"include_groups": strings(util.arr(u, "includeGroups")),
	"exclude_groups": strings(util.arr(u, "excludeGroups")),
	"include_roles": strings(util.arr(u, "includeRoles")),
	"exclude_roles": strings(util.arr(u, "excludeRoles")),
	"include_guest_types": guest_types(u, "includeGuestsOrExternalUsers"),
	"exclude_guest_types": guest_types(u, "excludeGuestsOrExternalUsers"),
} if {
	u := c.users
}

guest_types(u, field) := split(t, ",") if {
	t := u[field].guestOrExternalUserTypes
	is_string(t)
} else := null

applications(c, p) := null if {
	not util.has_obj(c, "applications")
	object.get(object.get(p, "compiled", {}), "application_filter", null) == null
} else := {
	"include": strings(util.arr(a, "includeApplications")),
	"exclude": strings(util.arr(a, "excludeApplications")),
	"filter": object.get(object.get(p, "compiled", {}), "application_filter", null),
} if {
	a := util.obj(c, "applications")
}

levels(x) := null if {
	x in {null, "", []}
} else := [lower(trim_space(l)) | some l in split(x, ",")] if {
	is_string(x)
} else := [lower(l) | some l in x]

include_exclude(c, field, inc, exc, lowered) := null if {
	not util.has_obj(c, field)
} else := {
	"include": [key(x, lowered) | some x in strings(util.arr(c[field], inc))],
	"exclude": [key(x, lowered) | some x in strings(util.arr(c[field], exc))],
}

key(x, true) := lower(x)

key(x, false) := x

client_app_types(xs) := null if {
	count(xs) == 0
} else := null if {
	"all" in xs
} else := xs

grant(p) := null if {
	not util.has_obj(p, "grantControls")
} else := {
	"operator": object.get(p.grantControls, "operator", "OR"),
	"controls": util.arr(p.grantControls, "builtInControls"),
	"authentication_strength": object.get(object.get(p, "compiled", {}), "authentication_strength", null),
}

# --- evaluation model → index (compileCaIndex) ------------------------------------

# Maps key a policy by its position in data order (a short string: lookups
# hash it), listed in `keys`.
index(models) := object.union(
	{
		"keys": [p.key | some p in policies],
		"modes": [mode(p) | some p in policies],
		"unmatched": [unmatched(p) | some p in policies],
		"conditions": [set_ranks(p) | some p in policies],
	},
	{name: c |
		some name, condition in {
			"gate": gate(policies),
			"agentIdentities": agent_identities(policies),
			"users": users_index(policies),
			"application": application_index(policies),
			"agentIdRisk": values(policies, "agent_id_risk_levels"),
			"userRisk": values(policies, "user_risk_levels"),
			"signInRisk": values(policies, "sign_in_risk_levels"),
			"location": lists(policies, "locations", 7),
			"devicePlatform": lists(policies, "platforms", 8),
			"clientApps": values(policies, "client_app_types"),
			"devices": {"filters": filters(policies, "device", 10)},
		}
		c := {k: v | some k, v in condition; not v in {{}, []}}
		c != {}
	},
) if {
	policies := [object.union(p, {"key": format_int(i, 10)}) | some i, p in models]
}

# Anything but "disabled" and report-only is enforced (fail closed).
mode(p) := "disabled" if {
	p.state == "disabled"
} else := "reportOnly" if {
	p.state == "enabledForReportingButNotEnforced"
} else := "enforced"

m(p) := p.compiled

has_all(xs) := util.has_all(xs)

# The subject gate (subjectGate in ca-index.ts), with later rules winning as
# there: excluding "All" users closes on_behalf_of, excluding AllAgentIdUsers
# closes agent_user.
gate(policies) := {f: g |
	some f in flows
	g := object.union(
		{p.key: r | some p in policies; r := gate_rank(p, f)},
		{p.key: 2 | some p in policies; closes_users(p, f)},
	)
	g != {}
}

gate_rank(p, f) := 11 if {
	is_array(m(p).flows)
	not f in m(p).flows
} else := 1 if {
	m(p).flows == null
	f == "autonomous"
	m(p).agents == null
} else := 2 if {
	m(p).flows == null
	f != "autonomous"
	user_gate(p)
}

user_gate(p) if m(p).agents != null

user_gate(p) if m(p).users == null

closes_users(p, "on_behalf_of") if "All" in users_of(p).exclude

closes_users(p, "agent_user") if "AllAgentIdUsers" in users_of(p).exclude

users_of(p) := u if {
	u := m(p).users
	is_object(u)
	users_evaluated(p)
} else := {"include": [], "exclude": []}

# An agent-identity policy's users assignment ("None") is no condition: only
# the flows extension makes it one.
users_evaluated(p) if {
	m(p).users != null
	m(p).flows != null
}

users_evaluated(p) if {
	m(p).users != null
	m(p).agents == null
}

users_evaluated_bool(p) if {
	users_evaluated(p)
} else := false

# The ranks (What-If order) of the conditions the policy fails unless a
# request value rescues it.
unmatched(p) := sort({r | some r, fails in unmatched_by_rank(p); fails} | {r |
	some r, field in {4: "agent_id_risk_levels", 5: "user_risk_levels", 6: "sign_in_risk_levels", 9: "client_app_types"}
	count_of(m(p)[field]) > 0
})

unmatched_by_rank(p) := {
	1: list_fails(m(p).agents),
	2: users_evaluated_bool(p),
	3: list_fails(m(p).applications),
	7: list_fails(m(p).locations),
	8: list_fails(m(p).platforms),
	10: device_include(p),
	12: count(m(p).unsupported) > 0,
}

count_of(x) := count(x) if is_array(x)

else := 0

default device_include(_) := false

device_include(p) if m(p).device_filter.mode == "include"

# A set include/exclude list fails by default unless its include list holds
# "All" and its exclude list does not.
list_fails(l) := false if {
	l == null
} else if {
	has_all(l.exclude)
} else if {
	not has_all(l.include)
} else := false

# The ranks of the conditions the policy's document sets (What-If lists
# them), ascending.
set_ranks(p) := sort({r |
	some field, r in model_ranks
	v := m(p)[field]
	not v in {null, []}
	not agent_policy_users(p, field)
} | {12 | count(util.arr(m(p), "unsupported")) > 0})

# An agent-identity policy's users assignment ("None") is no condition
# unless the flows extension makes it one.
agent_policy_users(p, "users") if {
	m(p).agents != null
	m(p).flows == null
}

model_ranks := {
	"agents": 1, "users": 2, "applications": 3, "agent_id_risk_levels": 4,
	"user_risk_levels": 5, "sign_in_risk_levels": 6, "locations": 7, "platforms": 8,
	"client_app_types": 9, "device_filter": 10, "flows": 11,
}

# [[value, policy id, v]] → {value: {policy id: v}}
grouped(entries) := {value: {id: v | some [value2, id, v] in entries; value2 == value} |
	some [value, _, _] in entries
}

open(l) if {
	l != null
	not has_all(l.exclude)
}

rescuable(l) if {
	open(l)
	not has_all(l.include)
}

# Include/exclude lists without sentinels (locations, platforms).
lists(policies, field, r) := {
	"match": grouped([[x, p.key, true] | some p in policies; l := m(p)[field]; rescuable(l); some x in l.include]),
	"exclude": grouped([[x, p.key, r] | some p in policies; l := m(p)[field]; open(l); some x in l.exclude; not is_all(x)]),
}

is_all(x) if lower(x) == "all"

values(policies, field) := {"match": grouped([[x, p.key, true] | some p in policies; xs := m(p)[field]; is_array(xs); some x in xs])}

# --- agentIdentities ---------------------------------------------------------------

agent_identities(policies) := {
	"match": grouped([[x, p.key, true] | some p in policies; l := m(p).agents; rescuable(l); some x in l.include]),
	"exclude": grouped([[x, p.key, 1] | some p in policies; l := m(p).agents; open(l); some x in l.exclude; not is_all(x)]),
	"filters": filters(policies, "agent", 1),
}

filter_of("agent", p) := f if {
	l := m(p).agents
	f := l.filter
	is_object(f)
	open(l)
	filter_counts(f, l)
}

# An include-mode filter adds to an include list without "All"; an
# exclude-mode one always counts.
filter_counts(f, _) if f.mode == "exclude"

filter_counts(f, l) if {
	f.mode == "include"
	not has_all(l.include)
}

# --- users ---------------------------------------------------------------------

user_sentinels := {"All", "None", "AllAgentIdUsers", "GuestsOrExternalUsers"}

users_index(policies) := {
	"match": grouped([[x, p.key, true] | some p in policies; some x in users_of(p).include; not x in user_sentinels]),
	"exclude": grouped([[x, p.key, 2] | some p in policies; some x in users_of(p).exclude; not x in user_sentinels]),
	"match_group": grouped([[x, p.key, true] | some p in policies; some x in util.arr(users_of(p), "include_groups")]),
	"exclude_group": grouped([[x, p.key, 2] | some p in policies; some x in util.arr(users_of(p), "exclude_groups")]),
	"match_role": grouped([[x, p.key, true] | some p in policies; some x in util.arr(users_of(p), "include_roles")]),
	"exclude_role": grouped([[x, p.key, 2] | some p in policies; some x in util.arr(users_of(p), "exclude_roles")]),
	"match_guest": grouped(array.concat(
		[["*", p.key, true] | some p in policies; "GuestsOrExternalUsers" in users_of(p).include],
		[[t, p.key, true] | some p in policies; some t in util.arr(users_of(p), "include_guest_types")],
	)),
	"exclude_guest": grouped(array.concat(
		[["*", p.key, 2] | some p in policies; "GuestsOrExternalUsers" in users_of(p).exclude],
		[[t, p.key, 2] | some p in policies; some t in util.arr(users_of(p), "exclude_guest_types")],
	)),
	"all_users": {p.key: true | some p in policies; "All" in users_of(p).include},
	"all_agent_users": {p.key: true | some p in policies; "AllAgentIdUsers" in users_of(p).include},
	"without_user": {p.key: 2 | some p in policies; users_evaluated(p)},
}

# --- application -------------------------------------------------------------------

applications_of(p) := a if {
	a := m(p).applications
	is_object(a)
} else := null

application_index(policies) := {
	"match": grouped([[x, p.key, true] |
		some p in policies
		l := applications_of(p)
		rescuable(l)
		some x in l.include
		x != "AllAgentIdResources"
	]),
	"exclude": grouped([[x, p.key, 3] |
		some p in policies
		l := applications_of(p)
		open(l)
		some x in l.exclude
		not is_all(x)
		x != "AllAgentIdResources"
	]),
	"agent_resources": {p.key: true | some p in policies; l := applications_of(p); rescuable(l); "AllAgentIdResources" in l.include},
	"exclude_agent_resources": {p.key: 3 | some p in policies; l := applications_of(p); open(l); "AllAgentIdResources" in l.exclude},
	"filters": filters(policies, "application", 3),
}

filter_of("application", p) := f if {
	l := applications_of(p)
	f := l.filter
	is_object(f)
	open(l)
	filter_counts(f, l)
}

filter_of("device", p) := f if {
	f := m(p).device_filter
	is_object(f)
}

# --- filters --------------------------------------------------------------------

# Atoms are identified by what they compare ([path, op, value, ci]), first
# occurrence first; clauses by their sorted atom numbers.
atom_key(a) := [a.path, a.op, a.value, object.get(a, "ci", false) == true]

filters(policies, kind, r) := {k: v |
	some k, v in {
		"flows": {f: true |
			some f in flows
			some p in policies
			filter_of(kind, p)
			not gate(policies)[f][p.key]
		},
		"atoms": [atom_out(a) | some a in first_atoms],
		"clauses": clauses,
		"match": some_of([{p.key: true | some p in policies; f := filter_of(kind, p); f.mode == "include"; clause_in(f, keys, ids)} |
			some ids in clauses
		]),
		"exclude": some_of([{p.key: r | some p in policies; f := filter_of(kind, p); f.mode == "exclude"; clause_in(f, keys, ids)} |
			some ids in clauses
		]),
	}
	not v in {{}, []}
} if {
	all_atoms := [a | some p in policies; f := filter_of(kind, p); some clause in f.dnf; some a in clause]
	keys := util.dedupe([atom_key(a) | some a in all_atoms])
	first_atoms := [first_with(all_atoms, key) | some key in keys]
	clauses := util.dedupe([atom_ids(keys, clause) | some p in policies; f := filter_of(kind, p); some clause in f.dnf])
	count(clauses) > 0
} else := {}

first_with(atoms, key) := [a | some a in atoms; atom_key(a) == key][0]

atom_out(a) := object.union({"attr": a.attr, "path": a.path, "op": a.op, "value": a.value}, {"ci": true | a.ci == true})

atom_ids(keys, clause) := sort({j | some a in clause; some j, k in keys; k == atom_key(a)})

clause_in(f, keys, ids) if {
	some clause in f.dnf
	atom_ids(keys, clause) == ids
}

# Per-clause policies, or none at all when no clause has any.
some_of(per_clause) := per_clause if {
	some x in per_clause
	x != {}
} else := []
