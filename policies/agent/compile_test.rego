# The Rego twin of the engine's index compiler (compileCaIndex in
# src/engine/tenant-data.ts), for the tests: `tenant` turns raw Conditional
# Access documents (with the `compiled` object the engine adds to each) into
# the tenant document the engine hands over, `ca_index` included
# (policies/README.md, "Data"). test/unit/engine/ca-index.test.ts checks that
# both build the same index for the example tenant and the benchmark
# fixtures. A *_test.rego file: never part of the bundle.
package agent.compile

import data.agent.util

# The tenant document for `policies` (non-objects dropped, as the engine never
# hands any over) and `named_locations`.
tenant(policies, named_locations) := {
	"policies": objects,
	"named_locations": named_locations,
	"ca_index": index(objects),
} if {
	objects := [p | some p in policies; is_object(p)]
}

index(policies) := object.union(
	{
		"ids": [p.id | some p in policies],
		"modes": [mode(p) | some p in policies],
		"unmatched": [unmatched(p) | some p in policies],
	},
	{name: c |
		some name, condition in {
			"agentIdentities": agent_identities(policies),
			"users": object.union(
				lists(policies, "users", "includeUsers", "excludeUsers", 2, false),
				{"without_user": {p.id: 2 | some p in policies; util.has_obj(conds(p), "users")}},
			),
			"application": lists(policies, "applications", "includeApplications", "excludeApplications", 3, false),
			"flows": values(policies, "flows", false),
			"agentIdRisk": values(policies, "agentIdRiskLevels", true),
			"userRisk": values(policies, "userRiskLevels", true),
			"signInRisk": values(policies, "signInRiskLevels", true),
			"location": lists(policies, "locations", "includeLocations", "excludeLocations", 8, false),
			"devicePlatform": lists(policies, "platforms", "includePlatforms", "excludePlatforms", 9, true),
		}
		c := {k: v | some k, v in condition; not v in {{}, []}}
		c != {}
	},
)

conds(p) := util.obj(p, "conditions")

# Anything but "disabled" and report-only is enforced (fail closed).
mode(p) := "disabled" if {
	p.state == "disabled"
} else := "reportOnly" if {
	p.state == "enabledForReportingButNotEnforced"
} else := "enforced"

# The ranks (What-If order) of the conditions the policy fails when none of its
# lists names the request's values.
unmatched(p) := [r |
	some [r, fails] in [
		[1, list_fails(conds(p), "clientApplications", "includeAgentIdServicePrincipals", "excludeAgentIdServicePrincipals")],
		[2, list_fails(conds(p), "users", "includeUsers", "excludeUsers")],
		[3, list_fails(conds(p), "applications", "includeApplications", "excludeApplications")],
		[4, count(util.arr(conds(p), "flows")) > 0],
		[5, count(util.arr(conds(p), "agentIdRiskLevels")) > 0],
		[6, count(util.arr(conds(p), "userRiskLevels")) > 0],
		[7, count(util.arr(conds(p), "signInRiskLevels")) > 0],
		[8, list_fails(conds(p), "locations", "includeLocations", "excludeLocations")],
		[9, list_fails(conds(p), "platforms", "includePlatforms", "excludePlatforms")],
	]
	fails
]

# A set include/exclude condition fails by default unless its include list
# holds "All" and its exclude list does not.
list_fails(c, field, inc, exc) := false if {
	not util.has_obj(c, field)
} else if {
	util.has_all(util.arr(c[field], exc))
} else if {
	not util.has_all(util.arr(c[field], inc))
} else := false

key(x, true) := lower(x)

key(x, false) := x

strings(xs) := [x | some x in xs; is_string(x)]

is_all(x) if lower(x) == "all"

# --- include/exclude lists with "All" (users, applications, locations, platforms)

# `match`: values named in the include list of policies that fail by default and
# can be rescued (no "All" in either list); `exclude`: values named in the
# exclude list of policies not excluding "All", with the condition's rank.
lists(policies, field, inc, exc, rank, lowered) := {
	"match": grouped([[key(x, lowered), p.id, true] |
		some p in policies
		util.has_obj(conds(p), field)
		o := conds(p)[field]
		not util.has_all(util.arr(o, exc))
		not util.has_all(util.arr(o, inc))
		some x in strings(util.arr(o, inc))
	]),
	"exclude": grouped([[key(x, lowered), p.id, rank] |
		some p in policies
		util.has_obj(conds(p), field)
		o := conds(p)[field]
		not util.has_all(util.arr(o, exc))
		some x in strings(util.arr(o, exc))
		not is_all(x)
	]),
}

# [[value, policy id, v]] → {value: {policy id: v}}
grouped(entries) := {value: {id: v | some [value2, id, v] in entries; value2 == value} |
	some [value, _, _] in entries
}

# --- plain value lists (flows, risk levels) --------------------------------------

values(policies, field, lowered) := {"match": grouped([[key(x, lowered), p.id, true] |
	some p in policies
	some x in strings(util.arr(conds(p), field))
])}

# --- agentIdentities ---------------------------------------------------------------

apps_of(p) := util.obj(conds(p), "clientApplications")

# Not excluding "All" (else nothing can change the outcome).
agent_open(p) if {
	util.has_obj(conds(p), "clientApplications")
	not util.has_all(util.arr(apps_of(p), "excludeAgentIdServicePrincipals"))
}

# Failing by default and rescuable: neither list holds "All".
agent_rescuable(p) if {
	agent_open(p)
	not util.has_all(util.arr(apps_of(p), "includeAgentIdServicePrincipals"))
}

agent_identities(policies) := {
	"match": grouped([[x, p.id, true] |
		some p in policies
		agent_rescuable(p)
		some x in strings(util.arr(apps_of(p), "includeAgentIdServicePrincipals"))
	]),
	"match_blueprint": grouped([[x, p.id, true] |
		some p in policies
		agent_rescuable(p)
		some x in strings(util.arr(apps_of(p), "includeAgentIdBlueprints"))
	]),
	"exclude": grouped([[x, p.id, 1] |
		some p in policies
		agent_open(p)
		some x in strings(util.arr(apps_of(p), "excludeAgentIdServicePrincipals"))
		not is_all(x)
	]),
	"filters": filters(policies),
}

# The filters that can change an outcome, as distinct atoms and distinct clauses
# (sorted atom indexes), both in first-occurrence order.
filter_of(p) := f if {
	f := p.compiled.agent_filter
	f.mode == "include"
	agent_rescuable(p)
} else := f if {
	f := p.compiled.agent_filter
	f.mode == "exclude"
	agent_open(p)
}

policy_clauses(p) := [clause | some clause in util.arr(filter_of(p), "dnf"); is_array(clause)]

filters(policies) := {k: v |
	some k, v in {
		"lookup": {attr: {v: sort([j | some j, atom in atoms; atom.attr == attr; v in equals(atom)]) |
			some j, atom in atoms
			atom.attr == attr
			some v in equals(atom)
		} |
			some atom in atoms
			some _ in equals(atom)
			attr := atom.attr
		},
		"evaluate": [[j, atom] | some j, atom in atoms; not equals(atom)],
		"clauses": clauses,
		"match": some_of([{p.id: true | some p in policies; filter_of(p).mode == "include"; clause_in(p, atoms, k)} |
			some k in clauses
		]),
		"exclude": some_of([{p.id: 1 | some p in policies; filter_of(p).mode == "exclude"; clause_in(p, atoms, k)} |
			some k in clauses
		]),
	}
	not v in {{}, []}
} if {
	atoms := util.dedupe([atom | some p in policies; some clause in policy_clauses(p); some atom in clause])
	clauses := util.dedupe([atom_ids(atoms, clause) | some p in policies; some clause in policy_clauses(p)])
	count(clauses) > 0
} else := {}

# Per-clause policies, or none at all when no clause has any.
some_of(per_clause) := per_clause if {
	some x in per_clause
	x != {}
} else := []

# The strings an -eq or -in atom holds for (undefined for other atoms).
equals(atom) := [atom.value] if {
	atom.op == "eq"
	is_string(atom.value)
} else := atom.value if {
	atom.op == "in"
	is_array(atom.value)
	every v in atom.value {
		is_string(v)
	}
}

atom_ids(atoms, clause) := sort({j | some atom in clause; some j, a in atoms; a == atom})

clause_in(p, atoms, ids) if {
	some clause in policy_clauses(p)
	atom_ids(atoms, clause) == ids
}
