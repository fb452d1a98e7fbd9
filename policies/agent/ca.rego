# Conditional Access evaluation against the tenant's compiled index.
#
# Semantics (DESIGN §4, as Entra): conditions AND together, an absent
# condition matches everything, exclusions win, "All" matches even a missing
# input, a specific value only a present one.
#
# The engine compiles each tenant's documents once per load into
# data.tenants[t].ca_index (policies/README.md, "Data"): per policy the
# conditions it fails by default, that is for a request none of its lists
# names a value of (only "All" counts then), and per condition and value the
# policies a request with that value is rescued for (named in an include
# list) or excluded from (named in an exclude list). Per request, this
# request's rescues and exclusions are looked up once per condition; per
# policy, the first unmatched condition (What-If order) is then the earlier of
# its first exclusion and its first default failure without a rescue, a
# handful of lookups whatever the document says. Grant controls, scopes,
# lifetimes and messages are computed only for the policies that apply.
#
# The output carries one small number per policy, its outcome code (an index
# into `outcomes`: result and reason); the service adds the static fields (id,
# name, state, controls) from the same data. Per-policy work and output that
# small keep a decision's cost nearly flat in the number of documents.
package agent.ca

import data.agent.facts
import data.agent.filter
import data.agent.util

# Every (result, reason) a policy can report; outcome codes index this list
# (src/decision/service.ts has the same). 0 disabled; 1–9 not applied
# (enforced) and 10–18 not applied (report-only), by the first unmatched
# condition in What-If order; then the four applied results.
outcomes := [
	["notEnabled", "policyNotEnabled"],
	["notApplied", "agentIdentities"],
	["notApplied", "users"],
	["notApplied", "application"],
	["notApplied", "flows"],
	["notApplied", "agentIdRisk"],
	["notApplied", "userRisk"],
	["notApplied", "signInRisk"],
	["notApplied", "location"],
	["notApplied", "devicePlatform"],
	["reportOnlyNotApplied", "agentIdentities"],
	["reportOnlyNotApplied", "users"],
	["reportOnlyNotApplied", "application"],
	["reportOnlyNotApplied", "flows"],
	["reportOnlyNotApplied", "agentIdRisk"],
	["reportOnlyNotApplied", "userRisk"],
	["reportOnlyNotApplied", "signInRisk"],
	["reportOnlyNotApplied", "location"],
	["reportOnlyNotApplied", "devicePlatform"],
	["success", "notSet"],
	["failure", "notSet"],
	["reportOnlySuccess", "notSet"],
	["reportOnlyFailure", "notSet"],
]

# The conditions in What-If order, by rank (from 1).
condition_names := [
	null, "agentIdentities", "users", "application", "flows", "agentIdRisk",
	"userRisk", "signInRisk", "location", "devicePlatform",
]

# outcomes index by the policy's mode and the rank of its first unmatched
# condition (not applied), or by whether its grant controls are satisfied
# (applied). Literal tables: Rego arithmetic is slow in WASM.
not_applied_code := {
	"enforced": [null, 1, 2, 3, 4, 5, 6, 7, 8, 9],
	"reportOnly": [null, 10, 11, 12, 13, 14, 15, 16, 17, 18],
}

applied_code := {
	"enforced": {true: 19, false: 20},
	"reportOnly": {true: 21, false: 22},
}

# Whether a code is that of an enforced policy that applies (19 or 20): it may
# deny, narrow scopes and cap the lifetime. Report-only policies never are.
enforced_code := [
	false, false, false, false, false, false, false, false, false, false, false, false,
	false, false, false, false, false, false, false, true, true, false, false,
]

# --- the compiled index -------------------------------------------------------

index := util.obj(facts.tenant_data, "ca_index")

# Policy ids and modes ("enforced" | "reportOnly" | "disabled"), in data order.
ids := util.arr(index, "ids")

modes := util.arr(index, "modes")

# Per policy, the ranks of the conditions it does not match when none of its
# lists names the request's values (only "All" counts then), ascending.
unmatched := util.arr(index, "unmatched")

# One outcome code per policy, in data order. Undefined (so is every result
# built from it: the service fails closed) when the index does not describe
# the tenant's documents.
codes := c if {
	count(ids) == count(facts.policies)
	count(unmatched) == count(ids)
	c := [outcome(modes[i], i, id) | some i, id in ids]
	count(c) == count(ids)
}

# A policy that is not disabled does not apply at the first condition it does
# not match (What-If order): the earlier of the first condition the request's
# values exclude it from and the first it fails by default that none of the
# request's values rescues it from.
outcome(mode, i, id) := 0 if {
	mode == "disabled"
} else := not_applied_code[mode][rank] if {
	no_exclusions
	rank := first_not_rescued(unmatched[i], id)
} else := not_applied_code[mode][rank] if {
	not no_exclusions
	rank := earlier(object.get(excluded, id, 10), not_rescued_or_none(unmatched[i], id))
	rank != 10
} else := applied_code[mode][grant_satisfied(facts.policies[i])]

no_exclusions := count(excluded) == 0

earlier(a, b) := a if {
	a < b
} else := b

not_rescued_or_none(ranks, id) := r if {
	r := first_not_rescued(ranks, id)
} else := 10

# The first of `ranks` whose condition the request does not rescue policy
# `id` from; undefined when it rescues all (a condition has one rank, so
# there are at most nine).
first_not_rescued(ranks, id) := r if {
	r := ranks[0]
	not rescued[r][id]
} else := r if {
	r := ranks[1]
	not rescued[r][id]
} else := r if {
	r := ranks[2]
	not rescued[r][id]
} else := r if {
	r := ranks[3]
	not rescued[r][id]
} else := r if {
	r := ranks[4]
	not rescued[r][id]
} else := r if {
	r := ranks[5]
	not rescued[r][id]
} else := r if {
	r := ranks[6]
	not rescued[r][id]
} else := r if {
	r := ranks[7]
	not rescued[r][id]
} else := r if {
	r := ranks[8]
	not rescued[r][id]
}

# Policy indexes of the enforced policies that apply, in data order.
enforced := [i | some i, c in codes; enforced_code[c]]

# --- per condition: this request's rescues and exclusions ----------------------

# By rank: the policies a request value matches the condition of ({id: true}).
rescued := [
	{},
	agent_rescued,
	user_rescued,
	values_of("application", "match", facts.resource),
	values_of("flows", "match", facts.flow),
	values_of("agentIdRisk", "match", facts.agent_risk),
	values_of("userRisk", "match", facts.user_risk),
	values_of("signInRisk", "match", facts.sign_in_risk),
	location_rescued,
	platform_rescued,
]

# By rank: the policies a request value excludes from the condition ({id: rank}).
exclusions := [
	{},
	agent_excluded,
	user_excluded,
	application_excluded,
	{},
	{},
	{},
	{},
	location_excluded,
	platform_excluded,
]

# Policy id → the earliest rank the request's values exclude it at: the union
# of `exclusions`, earliest winning (object.union keeps the right-hand value).
excluded := merge(
	merge(merge(platform_excluded, location_excluded), application_excluded),
	merge(user_excluded, agent_excluded),
)

application_excluded := values_of("application", "exclude", facts.resource)

# The policies (with their flag or rank) a condition's `map` holds for `value`.
values_of(name, map, value) := v if {
	v := index[name][map][value]
	is_object(v)
} else := {}

# object.union, skipping the copy when one side is empty (the common case).
merge(a, b) := a if {
	count(b) == 0
} else := b if {
	count(a) == 0
} else := object.union(a, b)

# agentIdentities: rescued by the agent's id, blueprint or an include-mode
# filter (only with an agent record), excluded by its id (even without one) or
# an exclude-mode filter.
agent_rescued := merge(
	merge(values_of("agentIdentities", "match", facts.agent_id), values_of("agentIdentities", "match_blueprint", agent_blueprint)),
	filter_matches("match"),
) if {
	facts.has_agent
} else := {}

agent_excluded := merge(values_of("agentIdentities", "exclude", facts.agent_id), filter_matches("exclude"))

agent_blueprint := b if {
	b := facts.agent.blueprint_id
} else := null

# The agent filters of the tenant's policies as distinct atoms and clauses
# (DNF): the -eq/-in atoms that hold are looked up by the agent's attribute
# values, the others evaluated once per request; a clause holds when all its
# atoms do, and a policy's filter matches when any of its clauses holds.
filters := util.obj(util.obj(index, "agentIdentities"), "filters")

true_atoms := {j |
	some attr, value in filter_values
	some j in filters.lookup[attr][value]
} | {j |
	facts.has_agent
	some [j, atom] in util.arr(filters, "evaluate")
	filter.atom_true(atom, facts.agent)
}

filter_values := {attr: value |
	facts.has_agent
	some attr, _ in util.obj(filters, "lookup")
	value := filter.value(attr, facts.agent)
}

true_clauses := [k |
	facts.has_agent
	some k, clause in util.arr(filters, "clauses")
	every j in clause {
		true_atoms[j]
	}
]

# The policies of the clauses that hold, from the filters' `match` or
# `exclude` lists.
filter_matches(list) := {id: v |
	some k in true_clauses
	some id, v in util.arr(filters, list)[k]
}

# users: a request without a user fails every users condition.
user_rescued := values_of("users", "match", facts.user_id) if {
	facts.has_user
} else := {}

user_excluded := util.obj(util.obj(index, "users"), "without_user") if {
	not facts.has_user
} else := v if {
	v := values_of("users", "exclude", facts.user_id)
} else := {}

# location: the client's named locations, and "AllTrusted" when one of them
# is trusted.
location_values := array.concat(
	[id | some id in facts.client_location_ids],
	["AllTrusted" | facts.in_trusted_location],
)

location_rescued := {id: v | some value in location_values; some id, v in values_of("location", "match", value)}

location_excluded := {id: v | some value in location_values; some id, v in values_of("location", "exclude", value)}

# devicePlatform: the lower-cased platform, when the request has one.
platform_rescued := values_of("devicePlatform", "match", facts.platform) if {
	is_string(facts.platform)
} else := {}

platform_excluded := values_of("devicePlatform", "exclude", facts.platform) if {
	is_string(facts.platform)
} else := {}

# --- What-If -------------------------------------------------------------------

# Policy i's What-If conditions: each condition its document sets, in What-If
# order (agentIdentities always), and whether the request matches it.
conditions(i) := [{"name": condition_names[r], "matched": matched(r, i, ids[i])} |
	some r in set_ranks(facts.policies[i])
]

matched(r, i, id) := false if {
	exclusions[r][id]
} else := false if {
	r in unmatched[i]
	not rescued[r][id]
} else := true

# The ranks of the conditions document p sets: agentIdentities always, an
# object condition when present, a list condition when not empty.
set_ranks(p) := sort((({1} | {r |
	some field, value in c
	r := object_conditions[field]
	is_object(value)
}) | {r |
	some field, value in c
	r := list_conditions[field]
	is_array(value)
	count(value) > 0
})) if {
	c := util.obj(p, "conditions")
}

object_conditions := {"users": 2, "applications": 3, "locations": 8, "platforms": 9}

list_conditions := {"flows": 4, "agentIdRiskLevels": 5, "userRiskLevels": 6, "signInRiskLevels": 7}

# --- the policies that apply ------------------------------------------------------

# Enforced policies that apply with this code failed: they block, or the
# request lacks their grant controls.
enforced_failure_code := 20

controls(p) := util.arr(util.obj(p, "grantControls"), "builtInControls")

# " and " / " or ", to list a policy's controls in a message.
controls_joiner(p) := joiner(operator(util.obj(p, "grantControls")))

# The controls of policy p the caller could still satisfy and retry with.
missing_controls(p) := [c | some c in controls(p); c in satisfiable_controls; not control_ok(c)]

policy_name(p) := n if {
	n := p.displayName
	is_string(n)
} else := object.get(p, "id", null)

# Controls a caller can satisfy and retry with (claims challenge / step-up).
satisfiable_controls := {"mfa", "compliantDevice"}

# --- grant controls ----------------------------------------------------------

grant_satisfied(p) := grant_ok_bool(util.arr(grant, "builtInControls"), operator(grant)) if {
	grant := util.obj(p, "grantControls")
}

# Default operator is OR, as in Graph.
operator(grant) := "AND" if {
	upper(grant.operator) == "AND"
} else := "OR"

joiner("AND") := " and "

joiner("OR") := " or "

# "block" is never satisfied and, as in Entra where Block access excludes
# every grant control, it wins over any other control in the list. No
# controls at all (session or agent controls only) is satisfied.
grant_ok_bool(controls, op) if {
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
